"""Every benchmark of Aftershock in one command: a table on the terminal, bench/results.json.

    python bench/run.py                                           # full size (make bench)
    python bench/run.py --securities 60 --years 5 --events 20     # the CI smoke size

Steps, each in its own child process, so each peak memory figure is that process's own
(VmHWM from /proc/<pid>/status, polled while it runs and read by the child at its end; never
``ru_maxrss`` of this parent, which would mix in every child):

1. ``generate``: the synthetic market (bench/market.py): N securities x Y years of daily
   prices as snapshot CSV files, E events, M news items.
2. ``backfill``: the whole history into an empty warehouse, stage by stage without Prefect
   (bench/bench_pipeline.py run_backfill), then publish and report.
3. ``incremental``: the next day's run, one new session per security, end to end through the
   real CLI (``.venv/bin/aftershock run --source snapshot ...``) including Prefect's start.
   Its peak memory is the CLI process's; the Prefect server it starts is another process,
   reported beside it (``incremental.prefect_server_peak_rss_mb``). The CLI reads the
   shipped seeds; a ``sitecustomize`` on PYTHONPATH (written into the work
   folder, active only with AFTERSHOCK_BENCH_SEEDS set) points ``warehouse.seeds.seed_path``
   at the generated universe and catalog, nothing else. Prefect runs on $PREFECT_HOME
   (default data/prefect, migrated by ``make setup``), so its temporary API starts in
   seconds rather than the ~21 s a new home takes.
4. ``marts``: ``transforms.reactions.build_reaction_marts`` alone over the loaded history,
   every event x security x anchor, every CAR window and statistic; its peak memory is read
   right after it. Then, in the same process and on the same inputs, ``baseline``: the
   notebook way (pandas + statsmodels per pair, bench/baseline.py) on a subset of the events,
   compared with the engine's rows for them (speed per pair, largest differences).
5. ``marts_all_models``: the same marts for every normal-return model in one pass, when the
   engine can (asked of its signature; null, and no process started, when it cannot).

Timings are what this machine did; nothing here judges them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results.json"
MARK = "BENCH-RESULT "
#: Keys results.json always has (null when a step could not give the figure).
REQUIRED_KEYS = (
    "backfill.wall_s", "backfill.peak_rss_mb", "backfill.rows_per_s",
    "incremental.wall_s", "incremental.peak_rss_mb",
    "marts.wall_s", "marts.peak_rss_mb", "marts_all_models.wall_s",
    "baseline.ratio", "baseline.max_abs_diff",
)
STAGES = ("extract", "conform", "validate", "load", "news", "marts", "publish", "report")

SITECUSTOMIZE = '''"""Written by bench/run.py for the incremental run: with AFTERSHOCK_BENCH_SEEDS
set, the real CLI reads the universe and the event catalog from that folder (every other
seed as shipped). Nothing else changes."""
import importlib.abc
import importlib.machinery
import os
import sys
from pathlib import Path

_SEEDS = os.environ.get("AFTERSHOCK_BENCH_SEEDS")
_FILES = ("universe.csv", "events.csv")


class _BenchSeeds(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "warehouse.seeds":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            shipped = module.seed_path
            module.seed_path = lambda n: Path(_SEEDS) / n if n in _FILES else shipped(n)

        spec.loader.exec_module = exec_module
        return spec


if _SEEDS:
    sys.meta_path.insert(0, _BenchSeeds())
'''


# --------------------------------------------------------------------------- processes


def vmhwm_mb(pid: int) -> float | None:
    """Peak resident set of a live process (VmHWM), MB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def run_child(cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None,
              timeout: float | None = None) -> dict:
    """Run ``cmd``, polling its VmHWM: returncode, wall_s, peak_rss_mb, stdout, and the
    JSON of its last ``BENCH-RESULT`` line (``result``) if it printed one."""
    err = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True,
                            cwd=ROOT)
    peak = 0.0
    descendants: dict[int, float] = {}  # e.g. the CLI's Prefect server: its own peak
    out_chunks: list[str] = []
    reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, vmhwm_mb(proc.pid) or 0.0)
        for pid in _children(proc.pid):
            descendants[pid] = max(descendants.get(pid, 0.0), vmhwm_mb(pid) or 0.0)
        if timeout and time.perf_counter() - start > timeout:
            proc.kill()
            break
        time.sleep(0.05)
    proc.wait()
    wall = time.perf_counter() - start
    reader.join()
    if log:
        err.close()
    stdout = "".join(out_chunks)
    result = None
    for line in stdout.splitlines():
        if line.startswith(MARK):
            result = json.loads(line[len(MARK):])
    if result and result.get("peak_rss_mb"):
        peak = max(peak, result["peak_rss_mb"])  # the child's own last word is exact
    return {"returncode": proc.returncode, "wall_s": wall, "peak_rss_mb": peak or None,
            "children_peak_rss_mb": max(descendants.values(), default=None),
            "stdout": stdout, "result": result}


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def child_env() -> dict[str, str]:
    """The environment every child gets: no telemetry, Prefect's migrated home."""
    env = dict(os.environ)
    env.setdefault("GX_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_HOME", str(ROOT / "data" / "prefect"))
    return env


def python_child(step: str, work: Path, extra: list[str], log_dir: Path) -> dict:
    """One step of this script in a child process (``--child STEP``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--work", str(work),
           *extra]
    out = run_child(cmd, env=child_env(), log=log_dir / f"{step}.log")
    if out["returncode"] != 0 or out["result"] is None:
        tail = (log_dir / f"{step}.log").read_text().strip().splitlines()[-15:]
        raise RuntimeError(f"{step} failed (exit {out['returncode']}):\n" + "\n".join(tail))
    return out


def child_main(step: str, work: Path, args: argparse.Namespace) -> None:
    """What a child process runs: one step, then its figures as one ``BENCH-RESULT`` line."""
    from bench import bench_pipeline, market

    market_dir = work / "market"
    warehouse = args.warehouse or work / "warehouse" / "aftershock.duckdb"
    if step == "generate":
        start = time.perf_counter()
        meta = market.write_market(market_dir, market.MarketSpec(
            args.securities, args.years, args.events, args.news))
        result = {"wall_s": time.perf_counter() - start,
                  "peak_rss_mb": bench_pipeline.peak_rss_mb(), **meta}
    elif step == "backfill":
        bench_pipeline.warm_imports()  # before the market exists, when overlapping
        bench_pipeline.wait_for(market_dir / "market.json")
        result = bench_pipeline.run_backfill(market_dir, warehouse)
    elif step == "marts":
        result = bench_pipeline.run_marts(warehouse, market_dir,
                                          baseline_events=args.baseline_events)
    elif step == "marts_all_models":
        result = bench_pipeline.run_marts(warehouse, market_dir, all_models=True)
    else:
        raise SystemExit(f"unknown step {step}")
    print(MARK + json.dumps(result, default=str), flush=True)


def incremental(work: Path, log_dir: Path) -> dict:
    """The next day's run through the real CLI, timed from spawn to exit."""
    from bench.market import read_meta

    market_dir, warehouse = work / "market", work / "warehouse" / "aftershock.duckdb"
    day = read_meta(market_dir)["dates"].incremental_day
    hook = work / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    env["AFTERSHOCK_BENCH_SEEDS"] = str(market_dir / "seeds")
    env["PREFECT_LOGGING_LEVEL"] = "INFO"  # its flow's first log line times the start-up
    cli = Path(sys.executable).parent / "aftershock"
    cmd = [str(cli), "run", "--source", "snapshot", "--snapshot-dir", str(market_dir / "prices"),
           "--end", str(day), "--warehouse", str(warehouse), "--top", "0"]
    spawned = datetime.now()
    out = run_child(cmd, env=env, log=log_dir / "incremental.log")
    if out["returncode"] != 0:
        tail = (log_dir / "incremental.log").read_text().strip().splitlines()[-15:]
        raise RuntimeError(f"incremental run failed (exit {out['returncode']}):\n"
                           + "\n".join(tail))
    status = next((line.split(":")[1].split()[0] for line in out["stdout"].splitlines()
                   if line.startswith("run ")), None)
    new, securities, listed = _new_sessions(warehouse, day)
    return {"wall_s": out["wall_s"], "peak_rss_mb": out["peak_rss_mb"],
            "prefect_server_peak_rss_mb": out["children_peak_rss_mb"], "status": status,
            "startup_s": _until_flow_start(spawned, log_dir / "incremental.log"),
            "day": str(day), "new_sessions": new, "securities": securities,
            "dim_security_rows": listed,
            "command": " ".join(["aftershock", *cmd[1:]])}


def _until_flow_start(spawned: datetime, log: Path) -> float | None:
    """Seconds from spawning the CLI to its flow's first log line (imports, Prefect's
    temporary API, the flow run's creation), from Prefect's HH:MM:SS.fff log stamps; None
    when the log has no such line."""
    for line in log.read_text(errors="replace").splitlines():
        if "Beginning flow run" in line:
            try:
                stamp = datetime.strptime(line.split(" | ")[0].strip(), "%H:%M:%S.%f").time()
            except ValueError:
                return None
            began = datetime.combine(spawned.date(), stamp)
            if began < spawned:  # past midnight
                began += timedelta(days=1)
            return (began - spawned).total_seconds()
    return None


def _new_sessions(warehouse: Path, day) -> tuple[int, int, int]:
    """(price rows on ``day``, securities with any price, rows of core.dim_security: the
    generated universe's size when the CLI read its seeds) in the warehouse after the run."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        new = con.execute("select count(*) from core.fact_price_daily where session_date = ?",
                          [day]).fetchone()[0]
        tickers = con.execute("select count(distinct ticker) from core.fact_price_daily"
                              ).fetchone()[0]
        listed = con.execute("select count(*) from core.dim_security").fetchone()[0]
    finally:
        con.close()
    return int(new), int(tickers), int(listed)


# --------------------------------------------------------------------------- results


def engine_does_all_models() -> bool:
    """Whether build_reaction_marts can run every model in one pass (asked of its signature,
    so the step costs no child process when it cannot)."""
    from bench.bench_pipeline import all_models_kwargs
    from transforms.event_study import MODELS

    return all_models_kwargs(MODELS) is not None


def flatten(results: dict) -> dict:
    """results.json: one key per figure (``backfill.wall_s``, ``backfill.stage.load.s``)."""
    flat: dict = {}
    for step, figures in results.items():
        for key, value in figures.items():
            if key == "stages":
                for stage, fig in value.items():
                    for k, v in fig.items():
                        flat[f"{step}.stage.{stage}.{k}"] = v
            elif key == "counts":
                continue
            elif isinstance(value, dict):
                for k, v in value.items():
                    flat[f"{step}.{key}.{k}"] = v
            else:
                flat[f"{step}.{key}"] = value
    for key in REQUIRED_KEYS:
        flat.setdefault(key, None)
    return flat


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:,.3g}" if abs(value) < 1e-3 and value else (
            f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}")
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return text + unit


def table(flat: dict) -> str:
    """The figures in a table under 100 columns."""
    lines = [f"{'measurement':<34}{'seconds':>12}{'rows':>14}{'rows/s':>14}{'peak MB':>12}",
             "-" * 86]

    def row(name: str, s, rows=None, rate=None, peak=None) -> None:
        lines.append(f"{name:<34}{_fmt(s):>12}{_fmt(rows):>14}{_fmt(rate):>14}{_fmt(peak):>12}")

    row("generate market", flat.get("generate.wall_s"), flat.get("generate.price_rows"),
        None, flat.get("generate.peak_rss_mb"))
    row("backfill (empty warehouse)", flat.get("backfill.wall_s"), flat.get("backfill.rows"),
        flat.get("backfill.rows_per_s"), flat.get("backfill.peak_rss_mb"))
    for stage in ("reference", *STAGES[:6], "marts:engine", "marts:checks", *STAGES[6:]):
        if f"backfill.stage.{stage}.s" in flat:
            label = f"    {stage.split(':')[1]}" if ":" in stage else stage
            row(f"  {label}", flat[f"backfill.stage.{stage}.s"],
                flat[f"backfill.stage.{stage}.rows"], flat[f"backfill.stage.{stage}.rows_per_s"])
    row("incremental (CLI, next day)", flat.get("incremental.wall_s"),
        flat.get("incremental.new_sessions"), None, flat.get("incremental.peak_rss_mb"))
    row("marts (all events x anchors)", flat.get("marts.wall_s"), flat.get("marts.units"),
        None, flat.get("marts.peak_rss_mb"))
    row("marts, all models", flat.get("marts_all_models.wall_s"),
        flat.get("marts_all_models.units"), None, flat.get("marts_all_models.peak_rss_mb"))
    row("baseline: notebook on subset", flat.get("baseline.baseline_s"),
        flat.get("baseline.pairs"), None, flat.get("baseline.peak_rss_mb"))
    lines += [
        "-" * 86,
        f"size: {_fmt(flat.get('generate.securities'))} securities, "
        f"{_fmt(flat.get('generate.spec.years'))} years "
        f"({_fmt(flat.get('generate.backfill_rows'))} backfill rows), "
        f"{_fmt(flat.get('generate.events'))} events, "
        f"{_fmt(flat.get('generate.news_rows'))} news items",
        f"incremental: status {flat.get('incremental.status')}, day "
        f"{flat.get('incremental.day')}, {_fmt(flat.get('incremental.new_sessions'))} new "
        f"sessions for {_fmt(flat.get('incremental.securities'))} securities",
        f"  {_fmt(flat.get('incremental.startup_s'))} s from the command to its flow's start "
        f"(imports, Prefect's temporary API)",
        f"marts: {_fmt(flat.get('marts.studies'))} studies (event x anchor), "
        f"{_fmt(flat.get('marts.units'))} (study, security) units, "
        f"{_fmt(flat.get('marts.rows'))} mart rows",
        f"  engine {flat.get('marts.engine')}; all models: "
        f"{_fmt(flat.get('marts_all_models.models'))} models in one pass",
        f"baseline on {_fmt(flat.get('baseline.events'))} events: time per pair, notebook / "
        f"engine = {_fmt(flat.get('baseline.ratio'))}x "
        f"({_fmt(flat.get('baseline.baseline_ms_per_pair'))} ms vs "
        f"{_fmt(flat.get('baseline.engine_ms_per_pair'))} ms)",
        f"  max |diff| {_fmt(flat.get('baseline.max_abs_diff'))} "
        f"(AR/CAR {_fmt(flat.get('baseline.max_abs_diff_ar'))}, "
        f"t {_fmt(flat.get('baseline.max_abs_diff_t'))}), "
        f"{_fmt(flat.get('baseline.null_mismatches'))} null mismatches",
    ]
    if flat.get("overlap"):
        lines.append("overlap: steps ran side by side (shared CPU): timings not comparable")
    if flat.get("marts_all_models.note"):
        lines.append(f"marts, all models: {flat['marts_all_models.note']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--securities", type=int, default=600)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--news", type=int, default=None,
                        help="news items (default: 200,000 scaled by securities x years "
                             "against 600 x 20)")
    parser.add_argument("--baseline-events", type=int, default=10,
                        help="events the notebook baseline runs on (both anchors)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    parser.add_argument("--overlap", action="store_true",
                        help="start the backfill process while the market is generated, and "
                             "run the marts step beside the incremental run on a copy of the "
                             "backfilled warehouse (the CI smoke test: quicker, but timings "
                             "then share the CPU and are not to be compared)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.news is None:
        from bench.market import default_news

        args.news = default_news(args.securities, args.years)
    if args.child:
        child_main(args.child, args.work, args)
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="aftershock-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    size = ["--securities", str(args.securities), "--years", str(args.years),
            "--events", str(args.events), "--news", str(args.news),
            "--baseline-events", str(args.baseline_events)]
    results: dict[str, dict] = {}
    can_all_models: list[bool] = []  # asked once, while a child runs when overlapping

    def step(name: str, extra: list[str] = ()) -> None:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        if name == "incremental":
            results[name] = incremental(work, logs)
            return
        if name == "marts_all_models" and not (can_all_models or [engine_does_all_models()])[0]:
            from bench.bench_pipeline import NO_ALL_MODELS

            results[name] = {"wall_s": None, "peak_rss_mb": None, "note": NO_ALL_MODELS}
            return
        out = python_child(name, work, [*size, *extra], logs)
        results[name] = {**out["result"], "process_wall_s": out["wall_s"]}
        if name == "marts":  # the baseline ran in the same process, after the marts
            results["baseline"] = results[name].pop("baseline")
        else:
            results[name]["peak_rss_mb"] = out["peak_rss_mb"]

    def together(*steps: tuple[str, list[str]]) -> None:
        """Run steps side by side (each in its own thread and process); re-raise a failure."""
        errors: list[BaseException] = []

        def guarded(name: str, extra: list[str]) -> None:
            try:
                step(name, extra)
            except BaseException as exc:  # re-raised below, in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=guarded, args=s) for s in steps]
        for thread in threads:
            thread.start()
        if not can_all_models:
            can_all_models.append(engine_does_all_models())
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    try:
        if args.overlap:  # the backfill process imports while the market is generated
            together(("generate", []), ("backfill", []))
            copy = work / "marts-copy" / "aftershock.duckdb"
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(work / "warehouse" / "aftershock.duckdb", copy)
            together(("incremental", []), ("marts", ["--warehouse", str(copy)]))
        else:
            step("generate")
            step("backfill")
            step("incremental")
            step("marts")
        step("marts_all_models")
    finally:
        if not (args.keep or args.work):
            shutil.rmtree(work, ignore_errors=True)
        elif results:
            print(f"[bench] work folder kept: {work}", file=sys.stderr)
    flat = flatten(results)
    flat["overlap"] = args.overlap
    args.out.write_text(json.dumps(flat, indent=1, sort_keys=True, default=str) + "\n")
    print(table(flat))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
