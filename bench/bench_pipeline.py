"""Benchmark the pipeline stage by stage: a full backfill into an empty warehouse, and the
reaction marts alone.

The stages are the functions the flows call (``flows.stages``: sources, transforms,
expectations, warehouse), run here without Prefect so each figure is the work itself, not
orchestration; the warehouse they leave is the one a real run leaves (audit rows, watermarks,
serving copy, report), so the next day's run of the real CLI can follow it
(``bench/run.py``). Prices are read through the snapshot source from the generated market's
CSV files (``bench/market.py``), news through a source over its ``news.parquet``.

    python bench/bench_pipeline.py --securities 60 --years 5 --events 20   # one backfill
    python bench/run.py                                                    # everything

Stages (seconds, rows, rows/s): extract (prices, share counts, FX, hourly bars, news),
conform (``prices.to_core``), validate (the GX price, share, FX and action suites), load
(raw landing, core MERGE, quarantine), news (clean, dedupe, tag, score, validate, load,
detect, news marts), marts (the rest of ``flows.stages.refresh_derived``: dimensions, gap
report, reaction and intraday marts, their checks and their load), publish (serving copy and
Parquet), report (HTML pages). Inside marts, ``marts:engine`` (``build_reaction_marts``) and
``marts:checks`` (the marts' suites) are timed too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from bench.market import (  # noqa: E402
    BenchNewsSource,
    MarketSpec,
    default_news,
    read_meta,
    write_market,
)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB: what the kernel saw, children not
    included (``ru_maxrss`` of a parent would mix in every child it waited for)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Stages:
    """Seconds and rows per named stage, printed as each one ends."""

    def __init__(self, quiet: bool = False) -> None:
        self.figures: dict[str, dict[str, float]] = {}
        self.quiet = quiet

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, float]]:
        """Time the body; it sets ``box['rows']``. A stage entered twice adds up."""
        box: dict[str, float] = {"rows": 0}
        start = time.perf_counter()
        yield box
        took = time.perf_counter() - start
        fig = self.figures.setdefault(name, {"s": 0.0, "rows": 0})
        fig["s"] += took
        fig["rows"] += int(box["rows"])
        fig["rows_per_s"] = fig["rows"] / fig["s"] if fig["s"] else 0.0
        if not self.quiet:
            print(f"  {name:<10} {took:8.2f} s {int(box['rows']):>11,} rows "
                  f"{box['rows'] / took if took else 0:>12,.0f} rows/s "
                  f"peak {peak_rss_mb():7.0f} MB", file=sys.stderr, flush=True)

    def timed(self, name: str, fn: Callable, rows: Callable[[Any], int]) -> Callable:
        """``fn`` wrapped so each call is timed as stage ``name`` (inside another stage)."""

        def wrapper(*args, **kwargs):
            with self.stage(name) as box:
                out = fn(*args, **kwargs)
                box["rows"] = rows(out)
            return out

        return wrapper


def warm_imports() -> None:
    """Import what the backfill uses (Great Expectations alone takes ~5 s), so a backfill
    process started before its market is written spends that time waiting usefully."""
    import flows.news_tasks  # noqa: F401
    import flows.stages  # noqa: F401
    import report.build  # noqa: F401
    import warehouse.publish  # noqa: F401


def wait_for(path: Path, timeout: float = 1800.0) -> None:
    """Block until ``path`` exists (the generator writes market.json last)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout:g} s")
        time.sleep(0.1)


def _reference(market: Path):
    """Seeds, sessions and day 0s of the generated market, as the flows build them."""
    from flows.stages import prepare_reference

    meta = read_meta(market)
    dates = meta["dates"]
    ref = prepare_reference(dates.backfill_end, dates.start,
                            universe_path=market / "seeds" / "universe.csv",
                            events_path=market / "seeds" / "events.csv")
    return meta, ref


def run_backfill(market: Path, warehouse: Path, quiet: bool = False) -> dict:
    """A full backfill of the generated market into the empty ``warehouse``, stage by stage,
    in one transaction like the daily flow; then publish and report beside it."""
    import flows.stages as fstages
    from contracts import RAW_ACTIONS, empty
    from expectations.prices import validate_prices
    from expectations.reference import (
        actions_to_core,
        fx_to_core,
        shares_to_core,
        validate_actions,
        validate_fx,
        validate_shares,
    )
    from flows.news_tasks import NewsOptions, fetch_news
    from report.build import build_report, reports_dir_for
    from sources.intraday import SnapshotIntradaySource
    from sources.reference import SHARE_KINDS
    from sources.snapshot import SnapshotSource
    from sources.snapshot_reference import SnapshotReferenceSource
    from transforms import prices
    from warehouse import load
    from warehouse.connection import connect
    from warehouse.publish import publish, serving_dir_for

    t = Stages(quiet)
    wall = time.perf_counter()
    if (fstages.SESSIONS_FROM, fstages.SESSIONS_AHEAD) != (SESSIONS_FROM, SESSIONS_AHEAD):
        raise RuntimeError("bench_pipeline.SESSIONS_FROM/AHEAD differ from flows.stages")
    with t.stage("reference") as box:
        meta, ref = _reference(market)
        box["rows"] = ref.sessions.height
    dates = meta["dates"]
    start, end = dates.start, dates.backfill_end
    folder = market / "prices"
    tickers = ref.securities["ticker"].to_list()
    starts = dict.fromkeys(tickers, start)
    now = datetime.now(UTC)
    with t.stage("extract") as box:
        extracted = SnapshotSource(folder).prices(tickers, start, end)
        ref_source = SnapshotReferenceSource(folder)
        share_tickers = ref.securities.filter(pl.col("kind").is_in(SHARE_KINDS))["ticker"]
        currencies = sorted(set(ref.securities["currency"]) - {"USD"})
        shares = ref_source.shares(share_tickers.to_list(), start, end)
        fx = ref_source.fx(currencies, start, end)
        hourly = fstages.stage_intraday(SnapshotIntradaySource(folder), ref, starts, end)
        news = fetch_news(
            NewsOptions(source="bench", start=datetime.combine(start, datetime.min.time(), UTC),
                        end=now, now=now),
            securities=ref.securities, events=ref.events,
            sources=[BenchNewsSource(market / "news.parquet")])
        box["rows"] = extracted.frame.height + news.result.frame.height
    with t.stage("conform") as box:
        core = prices.to_core(extracted.frame, ref.securities, ref.sessions)
        box["rows"] = core.height
    with t.stage("validate") as box:
        checked = validate_prices(core)
        shares_check, fx_check = validate_shares(shares.frame), validate_fx(fx.frame)
        actions_check = validate_actions(empty(RAW_ACTIONS))
        box["rows"] = core.height
    batch = fstages.Batch(
        raw=extracted.frame, status=extracted.status, prices=checked,
        shares_check=shares_check, fx_check=fx_check, shares=shares_to_core(shares_check.good),
        fx=fx_to_core(fx_check.good), reference_status=pl.concat([shares.status, fx.status]),
        actions_check=actions_check, actions=actions_to_core(actions_check.good),
        intraday_check=hourly[0], intraday_status=hourly[1],
    )
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = connect(warehouse)
    run_id = fstages.new_run_id()
    load.start_run(con, run_id, "backfill", "snapshot",
                   {"start": str(start), "end": str(end), "bench": True})
    # refresh_derived's steps, timed where it calls them: the news (taken out of the marts
    # stage), and inside the marts stage the reaction engine and the marts' GX checks
    wrapped = {
        "load_news": ("news", lambda c: c.get("news.extracted", 0)),
        "build_reaction_marts": ("marts:engine", lambda m: sum(f.height for f in m.values())),
        "validate_marts": ("marts:checks", lambda checks: len(checks)),
    }
    real = {name: getattr(fstages, name) for name in wrapped if hasattr(fstages, name)}
    for name, fn in real.items():
        stage_name, rows = wrapped[name]
        setattr(fstages, name, t.timed(stage_name, fn, rows))
    try:
        with load.transaction(con):
            with t.stage("load") as box:
                counts = fstages.load_batch(con, run_id, batch)
                fstages.record_outcomes(con, run_id, ref.checks)
                box["rows"] = counts["prices.inserted"]
            with t.stage("marts") as box:
                derived, _ = fstages.refresh_derived(con, run_id, ref, "market", tickers, news)
                box["rows"] = sum(v for k, v in derived.items() if k.startswith("marts."))
            fstages.record_counts(con, run_id, counts | derived)
    finally:
        for name, fn in real.items():
            setattr(fstages, name, fn)
    t.figures["marts"]["s"] -= t.figures["news"]["s"]  # the news ran inside refresh_derived
    t.figures["marts"]["rows_per_s"] = t.figures["marts"]["rows"] / t.figures["marts"]["s"]
    load.finish_run(con, run_id, "partial" if batch.failed_tickers() else "success")
    with t.stage("publish") as box:
        published = publish(con, serving_dir_for(str(warehouse)), run_id)
        box["rows"] = sum(published["tables"].values())
    con.close()
    with t.stage("report") as box:
        built = build_report(published["path"], reports_dir_for(published["path"]))
        box["rows"] = len(built["pages"])  # rows here: HTML pages written
    wall = time.perf_counter() - wall
    return {
        "wall_s": wall,
        "peak_rss_mb": peak_rss_mb(),
        "rows": counts["prices.inserted"],
        "rows_per_s": counts["prices.inserted"] / wall,
        "quarantined": counts["prices.quarantined"],
        "news_stories": derived.get("news.stories"),
        "stages": t.figures,
        "counts": {k: v for k, v in (counts | derived).items() if isinstance(v, int)},
    }


#: As ``flows.stages`` builds sessions (SESSIONS_FROM, SESSIONS_AHEAD). Repeated here because
#: importing flows.stages loads Great Expectations (~5 s); the backfill checks they agree.
SESSIONS_FROM = date(2016, 1, 1)
SESSIONS_AHEAD = timedelta(days=45)


def marts_inputs(warehouse: Path, market: Path) -> dict:
    """What ``build_reaction_marts`` takes, as the daily run builds it
    (``flows.stages.prepare_reference`` and ``refresh_derived``): the generated catalog's
    events and day 0s (without any the news detection added), the loaded prices, share
    counts, FX and attention days. The seeds are not re-validated (the backfill did)."""
    from transforms import calendar
    from warehouse import load, seeds
    from warehouse.connection import connect_read_only
    from warehouse.news_load import read_attention

    dates = read_meta(market)["dates"]
    securities = seeds.read_universe(market / "seeds" / "universe.csv")
    events = calendar.events_to_core(seeds.read_events(market / "seeds" / "events.csv"))
    sessions = calendar.exchange_sessions(
        securities["exchange_mic"].unique().to_list(), min(dates.start, SESSIONS_FROM),
        dates.backfill_end + SESSIONS_AHEAD)
    con = connect_read_only(str(warehouse))
    try:
        attention = read_attention(con)
        return {
            "prices": load.read_prices(con), "securities": securities, "sessions": sessions,
            "day0": calendar.event_day0(events, sessions), "events": events,
            "shares": load.read_shares(con), "fx": load.read_fx(con),
            "attention": None if attention is None else attention.filter(
                pl.col("event_id").is_in(events["event_id"].implode())),
        }
    finally:
        con.close()


NO_ALL_MODELS = "the engine takes one model per pass (no `models` argument)"


def all_models_kwargs(models: tuple[str, ...]) -> tuple[dict, dict] | None:
    """How the engine is asked for every normal-return model at once, if it can be:
    (build_reaction_marts keyword arguments, EventStudyConfig keyword arguments), or None
    when neither takes a ``models`` argument (then only one model per pass)."""
    import dataclasses
    import inspect

    from transforms.event_study import EventStudyConfig
    from transforms.reactions import build_reaction_marts

    if "models" in inspect.signature(build_reaction_marts).parameters:
        return {"models": models}, {}
    if "models" in {f.name for f in dataclasses.fields(EventStudyConfig)}:
        return {}, {"models": models}
    return None


def run_marts(warehouse: Path, market: Path, all_models: bool = False,
              baseline_events: int = 0) -> dict:
    """The reaction marts alone over the backfilled warehouse: every event x security x
    anchor, every CAR window and statistic (``transforms.reactions.build_reaction_marts``).
    With ``baseline_events``, the notebook baseline then runs in the same process on that
    many of the events (``bench/baseline.py``), under ``baseline``; ``peak_rss_mb`` is read
    before it."""
    import inspect

    from transforms.event_study import MODELS, EventStudyConfig
    from transforms.reactions import build_reaction_marts

    kwargs: dict = {}
    cfg_kwargs: dict = {}
    if all_models:
        how = all_models_kwargs(MODELS)
        if how is None:
            return {"wall_s": None, "peak_rss_mb": None, "note": NO_ALL_MODELS}
        kwargs, cfg_kwargs = how
    inputs = marts_inputs(warehouse, market)
    start = time.perf_counter()
    marts = build_reaction_marts(
        inputs["prices"], inputs["securities"], inputs["sessions"], inputs["day0"],
        inputs["events"], EventStudyConfig(**cfg_kwargs), shares=inputs["shares"],
        fx=inputs["fx"], attention=inputs["attention"], **kwargs)
    took = time.perf_counter() - start
    reaction = marts["marts.event_reaction"]
    engine = inspect.signature(build_reaction_marts).parameters.get("engine")
    result = {
        "wall_s": took,
        "peak_rss_mb": peak_rss_mb(),
        "engine": None if engine is None else engine.default,
        "models": len(kwargs.get("models") or cfg_kwargs.get("models") or (1,)),
        "events": inputs["events"].height,
        "studies": reaction.select("event_id", "anchor").n_unique(),
        "units": reaction.height,
        "rows": sum(f.height for f in marts.values()),
        "price_rows": inputs["prices"].height,
    }
    if baseline_events:
        from bench.baseline import compare

        result["baseline"] = compare(marts, took, inputs, baseline_events)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--market", type=Path, help="a generated market (default: generate)")
    parser.add_argument("--securities", type=int, default=60)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--news", type=int, help="default: 200,000 scaled to the size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        market = args.market
        if market is None:
            market = Path(tmp) / "market"
            news = args.news or default_news(args.securities, args.years)
            write_market(market, MarketSpec(args.securities, args.years, args.events, news))
        result = run_backfill(market, Path(tmp) / "wh" / "bench.duckdb")
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
