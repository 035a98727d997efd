"""The `backfill` flow: history in chunks (ticker batch x date range), resumable, at a polite pace.

How it runs:

1. Plan: split the tickers into batches of ``batch_size`` and [start, end] into windows of
   ``chunk_days``; one chunk is one batch over one window, ordered window by window.
2. Skip what is there: a chunk is already loaded when, for each of its tickers, the warehouse's
   watermarks inside the chunk's window (first and last loaded session) reach the window's
   first and last expected sessions of the ticker's venue, give or take ``EDGE_SESSIONS``
   (so one quarantined bar at an edge does not force a re-fetch). A chunk loads in one
   transaction, so an interrupted backfill leaves whole chunks: run it again and it resumes.
   (Within the window, not the ticker's overall last session: that would skip history behind
   data the daily runs already loaded.)
3. Extract, conform and validate each chunk (prices, share counts, FX) as a task on the
   configured task runner (threads, or a Dask cluster through prefect-dask), at most
   ``max_concurrent`` chunks in flight so the source (Yahoo) is not hammered. Tasks touch no
   warehouse: they return frames. A chunk's first rows are checked against the session before
   it, fetched as a lead-in, so results do not depend on the order chunks finish in.
4. Load each chunk on the flow's own connection, the warehouse's single writer, in plan order
   (so watermarks only ever move forward), one transaction per chunk.
5. Once at the end, as the daily run does: refresh the dimensions, the gap report and every
   mart (with their checks), record counts, publish the Prefect artifacts, refresh the serving
   copy and report, and notify.

The audit row (``audit.etl_run``, flow ``backfill``) covers the whole backfill; every row it
writes carries its run id. While a backfill holds the warehouse, a daily run waits for the lock
(``AFTERSHOCK_LOCK_TIMEOUT``) and then fails naming the holder.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from contracts import ContractError
from expectations.marts import raise_on_rejected, validate_marts
from expectations.prices import gap_report, validate_gaps, validate_prices
from expectations.reference import fx_to_core, shares_to_core, validate_fx, validate_shares
from flows import daily_refresh as daily
from flows.logs import quiet_expected_tracebacks
from flows.news_tasks import reaction_inputs, read_detected_events
from flows.notify import on_flow_failure
from flows.sources import make_reference_source, make_source
from report.build import ReportError
from transforms import calendar, detection, prices
from transforms.event_study import EventStudyConfig
from warehouse import load, seeds
from warehouse import status as wh_status
from warehouse.connection import connect, resolve
from warehouse.publish import PublishError

#: Sessions are built from this date (or the backfill's start, if earlier), as the daily flow does.
SESSIONS_FROM = date(2016, 1, 1)
#: A chunk's edge may miss this many sessions and still count as loaded.
EDGE_SESSIONS = 3
#: Days fetched before a chunk only to give its first rows their previous session (validated
#: against it, like the daily run does with the warehouse's rows), never loaded.
LEAD_IN_DAYS = 10
TASK_RUNNERS = ("threads", "dask")
MODELS = ("market", "market_adjusted", "mean_adjusted")
#: Tag on extraction tasks: `prefect concurrency-limit create aftershock-extract 2` caps them
#: across every flow run on the server, on top of each backfill's own ``max_concurrent``.
EXTRACT_TAG = "aftershock-extract"


@dataclass(frozen=True)
class Chunk:
    """One batch of tickers over one date window."""

    index: int
    tickers: tuple[str, ...]
    start: date
    end: date

    @property
    def label(self) -> str:
        more = f"+{len(self.tickers) - 1}" if len(self.tickers) > 1 else ""
        return f"#{self.index + 1} {self.tickers[0]}{more} {self.start}..{self.end}"


@dataclass(frozen=True)
class SourceSpec:
    """How to build the source inside a task (sources hold sessions and HTTP state, so each
    worker builds its own rather than receiving one)."""

    name: str
    snapshot_dir: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Reference:
    """Reference data every chunk needs, built once per backfill and shipped to the workers."""

    securities: pl.DataFrame
    events: pl.DataFrame
    sessions: pl.DataFrame
    day0: pl.DataFrame

    def source(self, spec: SourceSpec):
        """The price source."""
        return make_source(
            spec.name, securities=self.securities, sessions=self.sessions, day0=self.day0,
            events=self.events, snapshot_dir=Path(spec.snapshot_dir) if spec.snapshot_dir else None,
            seed=spec.seed,
        )

    def reference_source(self, spec: SourceSpec):
        """The shares-outstanding and FX source (value moved)."""
        return make_reference_source(
            spec.name, securities=self.securities,
            snapshot_dir=Path(spec.snapshot_dir) if spec.snapshot_dir else None, seed=spec.seed,
        )


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk's task returns: raw prices, per-ticker status, the validation outcome, and
    the chunk's reference data (share counts, FX) split into good and rejected rows."""

    raw: pl.DataFrame
    status: pl.DataFrame
    good: pl.DataFrame
    rejected: pl.DataFrame
    results: pl.DataFrame  # every suite's results (prices, shares, fx)
    shares: tuple[pl.DataFrame, pl.DataFrame]
    fx: tuple[pl.DataFrame, pl.DataFrame]
    reference_status: pl.DataFrame

    def failed_tickers(self) -> list[str]:
        """As in the daily run: a price that did not arrive, or reference data in error."""
        return (self.status.filter(pl.col("status") != "ok")["ticker"].to_list()
                + self.reference_status.filter(pl.col("status") == "error")["ticker"].to_list())


@dataclass
class BackfillSummary:
    """What a backfill did (shape-compatible with RunSummary for notify and artifacts)."""

    run_id: str
    status: str
    warehouse: str
    flow: str = "backfill"
    counts: dict[str, int] = field(default_factory=dict)
    failed_tickers: list[str] = field(default_factory=list)
    chunks: int = 0
    skipped: int = 0
    loaded: int = 0
    error: str | None = None
    published: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- progress hooks

#: In-process listeners (the CLI's progress bar): called with one dict per event —
#: {"event": "plan", "chunks": n, "skipped": k} then {"event": "chunk", "chunk": label,
#: "counts": {...}} per loaded chunk and {"event": "done", "status": ...}.
PROGRESS_LISTENERS: list[Callable[[dict], None]] = []


def _emit(**event: Any) -> None:
    for listener in list(PROGRESS_LISTENERS):
        try:
            listener(event)
        except Exception:  # a broken progress bar must not break a backfill
            pass


# --------------------------------------------------------------------------- planning (pure)


def plan_chunks(tickers: list[str], start: date, end: date, batch_size: int,
                chunk_days: int) -> list[Chunk]:
    """Batches of ``batch_size`` tickers x windows of ``chunk_days`` days, window by window."""
    if start > end:
        raise ContractError(f"--start {start} is after --end {end}")
    if batch_size < 1 or chunk_days < 1:
        raise ContractError("--batch-size and --chunk-days must be at least 1")
    batches = [tuple(tickers[i:i + batch_size]) for i in range(0, len(tickers), batch_size)]
    windows = []
    lo = start
    while lo <= end:
        hi = min(lo + timedelta(days=chunk_days - 1), end)
        windows.append((lo, hi))
        lo = hi + timedelta(days=1)
    chunks = []
    for lo, hi in windows:
        for batch in batches:
            chunks.append(Chunk(len(chunks), batch, lo, hi))
    return chunks


def window_bounds(sessions: pl.DataFrame, start: date, end: date,
                  edge: int = EDGE_SESSIONS) -> pl.DataFrame:
    """(exchange_mic, first_needed, last_needed) for a window: the venue's first and last
    sessions in [start, end], moved ``edge`` sessions inwards."""
    ranked = (
        sessions.filter(pl.col("session_date").is_between(start, end))
        .sort("exchange_mic", "session_date")
        .with_columns(
            _i=pl.int_range(pl.len()).over("exchange_mic"),
            _n=pl.len().over("exchange_mic"),
        )
    )
    first = pl.min_horizontal(pl.lit(edge), pl.col("_n") - 1)
    last = pl.max_horizontal(pl.col("_n") - 1 - edge, pl.lit(0))
    return ranked.group_by("exchange_mic").agg(
        pl.col("session_date").filter(pl.col("_i") == first).first().alias("first_needed"),
        pl.col("session_date").filter(pl.col("_i") == last).first().alias("last_needed"),
    )


def loaded_chunks(chunks: list[Chunk], coverage: dict[tuple[date, date], pl.DataFrame],
                  securities: pl.DataFrame, sessions: pl.DataFrame,
                  edge: int = EDGE_SESSIONS) -> set[int]:
    """Indexes of the chunks already in the warehouse (see the module docstring).

    ``coverage[(start, end)]`` is :func:`warehouse.status.price_coverage` for that window.
    A ticker whose venue has no session in the window needs nothing.
    """
    venue = securities.select("ticker", "exchange_mic")
    done = set()
    bounds_by_window = {
        w: window_bounds(sessions, w[0], w[1], edge) for w in {(c.start, c.end) for c in chunks}
    }
    for chunk in chunks:
        window = (chunk.start, chunk.end)
        need = (
            pl.DataFrame({"ticker": list(chunk.tickers)})
            .join(venue, on="ticker", how="left")
            .join(bounds_by_window[window], on="exchange_mic", how="inner")
        )
        have = need.join(coverage[window], on="ticker", how="left")
        ok = (pl.col("first_session") <= pl.col("first_needed")) & (
            pl.col("last_session") >= pl.col("last_needed")
        )
        if have.select(ok.fill_null(False).all()).item():
            done.add(chunk.index)
    return done


# --------------------------------------------------------------------------- stages


def prepare_reference(start: date, end: date) -> Reference:
    """Seeds, sessions of every venue and each event's day 0 (as the daily flow builds them)."""
    securities = seeds.read_universe()
    events = calendar.events_to_core(seeds.read_events())
    sessions = calendar.exchange_sessions(
        securities["exchange_mic"].unique().to_list(), min(start, SESSIONS_FROM),
        end + timedelta(days=45),
    )
    return Reference(securities, events, sessions, calendar.event_day0(events, sessions))


def select_tickers(requested: list[str] | None, securities: pl.DataFrame, source) -> list[str]:
    """The universe (or the requested subset of it), limited to what a recording holds."""
    universe = securities["ticker"].to_list()
    if requested:
        unknown = sorted(set(requested) - set(universe))
        if unknown:
            raise ContractError(
                f"unknown ticker(s) {', '.join(unknown)}: not in warehouse/seeds/universe.csv"
            )
        return [t for t in universe if t in set(requested)]
    if hasattr(source, "available"):
        have = set(source.available())
        return [t for t in universe if t in have]
    return universe


@task(name="extract-chunk", cache_policy=NONE, tags=[EXTRACT_TAG],
      task_run_name="extract {chunk.label}")
def extract_chunk(chunk: Chunk, spec: SourceSpec, ref: Reference) -> ChunkResult:
    """Fetch, conform and validate one chunk as the daily run does. Pure with respect to the
    warehouse: it runs on any worker (a thread or a Dask process) and returns frames for the
    single writer. The few days before the chunk are fetched too, only as the previous session
    of its first rows, so the result never depends on which chunks were loaded first."""
    tickers = list(chunk.tickers)
    lead_in = chunk.start - timedelta(days=LEAD_IN_DAYS)
    extracted = ref.source(spec).prices(tickers, lead_in, chunk.end)
    in_chunk = pl.col("session_date") >= chunk.start
    core = prices.to_core(extracted.frame, ref.securities, ref.sessions)
    outcome = validate_prices(core.filter(in_chunk), context=core.filter(~in_chunk))
    shares_raw, fx_raw = daily.extract_reference.fn(
        ref.reference_source(spec), ref.securities, tickers, chunk.start, chunk.end
    )
    shares_check, fx_check = validate_shares(shares_raw.frame), validate_fx(fx_raw.frame)
    result = ChunkResult(  # extract status counts the lead-in rows too: they were fetched
        extracted.frame.filter(in_chunk), extracted.status, outcome.good, outcome.rejected,
        pl.concat([outcome.results, shares_check.results, fx_check.results]),
        shares=(shares_to_core(shares_check.good), shares_check.rejected),
        fx=(fx_to_core(fx_check.good), fx_check.rejected),
        reference_status=pl.concat([shares_raw.status, fx_raw.status]),
    )
    get_run_logger().info(
        "extract %s: %d price rows (%d tickers not ok); validate: %d pass, %d quarantined",
        chunk.label, result.raw.height, len(result.failed_tickers()), outcome.good.height,
        outcome.rejected.height,
    )
    return result


def load_chunk(con, run_id: str, result: ChunkResult) -> dict[str, int]:
    """Land raw rows, MERGE good rows into core, quarantine the rest, upsert share counts and
    FX, append audit rows — one transaction, as the daily run does. Returns the chunk's
    counts (``<dataset>.<stage>``)."""
    with load.transaction(con):
        counts = {
            "prices.extracted": result.raw.height,
            "prices.raw_landed": load.land_raw_prices(con, result.raw, run_id),
        }
        merged = load.upsert_prices(con, result.good.drop("is_exchange_session"), run_id)
        counts |= {"prices.inserted": merged["inserted"], "prices.updated": merged["updated"]}
        counts["prices.quarantined"] = load.quarantine(
            con, result.rejected, "prices", ["ticker", "session_date"], run_id
        )
        load.append(con, "audit.validation_result",
                    result.results.with_columns(run_id=pl.lit(run_id)))
        for name, (good, rejected), key, upsert in (
            ("shares", result.shares, ["ticker", "as_of_date"], load.upsert_shares),
            ("fx", result.fx, ["currency", "session_date"], load.upsert_fx),
        ):
            merged = upsert(con, good, run_id)
            counts |= {f"{name}.inserted": merged["inserted"],
                       f"{name}.updated": merged["updated"]}
            counts[f"{name}.quarantined"] = load.quarantine(con, rejected, name, key, run_id)
        statuses = pl.concat([result.status, result.reference_status])
        load.append(con, "audit.extract_status", statuses.with_columns(run_id=pl.lit(run_id)))
    return counts


def rebuild_marts(con, run_id: str, ref: Reference, spec: SourceSpec, model: str,
                  tickers: list[str]) -> dict[str, int]:
    """Refresh the dimensions, the gap report and every mart from the whole core history, as
    the daily run does (call inside a transaction); record their validation results. Returns
    rows per table.

    Uses the daily flow's own step when it has one (``refresh_derived``, the refactor proposed
    in docs/operations.md), so the two flows cannot build different marts; until then, the
    same steps spelled out in :func:`_refresh_derived`.
    """
    derived = getattr(daily, "refresh_derived", None)
    if derived is not None:
        options = daily.RunOptions(source=spec.name, snapshot_dir=spec.snapshot_dir,
                                   seed=spec.seed, model=model)
        if hasattr(options, "news"):
            options.news = False  # a backfill loads history; news is the daily run's business
        counts, outcomes = derived(con, run_id, options, securities=ref.securities,
                                   events=ref.events, sessions=ref.sessions, day0=ref.day0,
                                   tickers=tickers)
    else:
        counts, outcomes = _refresh_derived(con, run_id, ref, model, tickers)
    for checked in outcomes:
        load.append(con, "audit.validation_result",
                    checked.results.with_columns(run_id=pl.lit(run_id)))
    return counts


def _refresh_derived(con, run_id: str, ref: Reference, model: str, tickers: list[str]):
    """The daily run's derived steps (flows/daily_refresh.py, news left out)."""
    load.replace_table(con, "core.dim_security", ref.securities)
    load.replace_table(con, "core.dim_event",
                       detection.dim_event_rows(ref.events, read_detected_events(con)))
    load.replace_table(con, "core.dim_session", ref.sessions)
    study = reaction_inputs(con, ref.events, ref.sessions, ref.day0)
    load.replace_table(con, "core.fact_event_day0", study.day0.drop("day0_idx"))
    history = load.read_prices(con)
    gaps = gap_report(history.filter(pl.col("ticker").is_in(tickers)), ref.sessions,
                      ref.securities)
    load.append(con, "audit.gap_report", gaps.with_columns(run_id=pl.lit(run_id)))
    marts = daily.build_marts(history, load.read_shares(con), load.read_fx(con), ref.securities,
                              ref.sessions, study.day0, study.events, model, study.attention)
    mart_checks = validate_marts(marts, EventStudyConfig(model=model).window)
    raise_on_rejected(mart_checks)  # a mart failure is a bug: roll the backfill's marts back
    counts = {table: load.replace_table(con, table, frame) for table, frame in marts.items()}
    return counts, [validate_gaps(gaps), *mart_checks]


def count_rows(run_id: str, counts: dict[str, int]) -> pl.DataFrame:
    """Counts as audit.etl_run_count rows: 'prices.inserted' -> (prices, inserted), a table
    name -> (table, built)."""
    rows = []
    for name, n in counts.items():
        if name.startswith(("marts.", "core.")):
            dataset, stage = name, "built"
        else:
            dataset, _, stage = name.rpartition(".")
        rows.append({"run_id": run_id, "dataset": dataset, "stage": stage, "rows": n})
    return pl.DataFrame(rows, schema={"run_id": pl.String, "dataset": pl.String,
                                      "stage": pl.String, "rows": pl.Int64})


def make_task_runner(kind: str, dask_address: str | None = None, workers: int = 2):
    """The task runner for extraction: a thread pool, or Dask (an existing cluster at
    ``dask_address``, else a local cluster of ``workers`` processes)."""
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise ContractError(
                "--task-runner dask needs prefect-dask: pip install 'aftershock[dask]'"
            ) from None
        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    raise ContractError(f"unknown task runner {kind!r}: choose one of {', '.join(TASK_RUNNERS)}")


@contextmanager
def _api_for_workers() -> Iterator[None]:
    """Make the API this flow run talks to explicit in the settings Dask ships to its workers.

    Without a configured server (PREFECT_API_URL), Prefect runs a temporary one inside this
    process tree; Dask workers are other processes and would each start their own, recording
    task runs nobody sees. Naming the temporary server's URL makes them report to it (a local
    cluster can reach it; a remote cluster needs a real server, see docs/operations.md).
    """
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    ctx = FlowRunContext.get()
    if get_current_settings().api.url or ctx is None or ctx.client is None:
        yield
        return
    with temporary_settings(updates={PREFECT_API_URL: str(ctx.client.api_url).rstrip("/")}):
        yield


def _in_order(runner, todo: list[Chunk], spec: SourceSpec, ref: Reference,
              max_concurrent: int) -> Iterator[tuple[Chunk, ChunkResult]]:
    """Submit extractions with at most ``max_concurrent`` in flight; yield results in plan
    order (the order that keeps watermarks moving forward)."""
    pending: deque = deque()
    queue = iter(todo)

    def submit_next() -> None:
        chunk = next(queue, None)
        if chunk is not None:
            pending.append((chunk, runner.submit(
                extract_chunk, parameters={"chunk": chunk, "spec": spec, "ref": ref})))

    for _ in range(max_concurrent):
        submit_next()
    while pending:
        chunk, future = pending.popleft()
        result = future.result()  # raises the task's exception
        submit_next()
        yield chunk, result


def _check(model: str, task_runner: str, max_concurrent: int) -> None:
    if model not in MODELS:
        raise ContractError(f"unknown model {model!r}: {', '.join(MODELS)}")
    if task_runner not in TASK_RUNNERS:
        raise ContractError(
            f"unknown task runner {task_runner!r}: choose one of {', '.join(TASK_RUNNERS)}"
        )
    if max_concurrent < 1:
        raise ContractError("--max-concurrent must be at least 1")


# --------------------------------------------------------------------------- the flow


@flow(name="backfill", log_prints=True, on_failure=[on_flow_failure],
      on_crashed=[on_flow_failure])
def backfill(
    start: date,
    end: date,
    tickers: list[str] | None = None,
    source: str = "yahoo",
    warehouse: str | None = None,
    snapshot_dir: str | None = None,
    seed: int | None = None,
    model: str = "market",
    batch_size: int = 20,
    chunk_days: int = 365,
    max_concurrent: int = 2,
    task_runner: str = "threads",
    dask_address: str | None = None,
    notify: str | None = None,
    publish: bool = True,
) -> BackfillSummary:
    """Load [start, end] for the universe (or ``tickers``) chunk by chunk; resumable."""
    from flows.artifacts import publish_run_artifacts
    from flows.notify import notify as send_notification

    quiet_expected_tracebacks()
    log = get_run_logger()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    summary = BackfillSummary(run_id=run_id, status="running", warehouse=resolve(warehouse))
    params = {"start": start, "end": end, "tickers": tickers, "source": source,
              "snapshot_dir": snapshot_dir, "seed": seed, "model": model,
              "batch_size": batch_size, "chunk_days": chunk_days,
              "max_concurrent": max_concurrent, "task_runner": task_runner}
    con = None
    try:
        _check(model, task_runner, max_concurrent)
        ref = prepare_reference(start, end)
        spec = SourceSpec(source, snapshot_dir, seed)
        chosen = select_tickers(tickers, ref.securities, ref.source(spec))  # checks the source
        chunks = plan_chunks(chosen, start, end, batch_size, chunk_days)
        summary.chunks = len(chunks)
        con = connect(warehouse)
        load.start_run(con, run_id, "backfill", source, params)
        windows = sorted({(c.start, c.end) for c in chunks})
        coverage = {w: wh_status.price_coverage(con, *w) for w in windows}
        done = loaded_chunks(chunks, coverage, ref.securities, ref.sessions)
        todo = [c for c in chunks if c.index not in done]
        summary.skipped = len(done)
        log.info("plan: %d tickers, %s..%s, %d chunks of <=%d tickers x <=%d days; %d already "
                 "loaded (skipped), %d to load with %s (at most %d extracting at once)",
                 len(chosen), start, end, len(chunks), batch_size, chunk_days, len(done),
                 len(todo), task_runner, max_concurrent)
        _emit(event="plan", chunks=len(chunks), skipped=len(done), todo=len(todo))
        totals: dict[str, int] = {}
        failed: set[str] = set()
        if todo:
            with _api_for_workers(), make_task_runner(task_runner, dask_address,
                                                      max_concurrent) as runner:
                for n, (chunk, result) in enumerate(
                    _in_order(runner, todo, spec, ref, max_concurrent), start=1
                ):
                    counts = load_chunk(con, run_id, result)
                    for key, value in counts.items():
                        totals[key] = totals.get(key, 0) + value
                    not_ok = result.failed_tickers()
                    failed.update(not_ok)
                    summary.loaded += 1
                    log.info("load %s (%d/%d): %s%s", chunk.label, n, len(todo),
                             ", ".join(f"{k} {v:,}" for k, v in counts.items() if v),
                             f"; not fetched: {', '.join(not_ok)}" if not_ok else "")
                    _emit(event="chunk", chunk=chunk.label, counts=counts, not_ok=not_ok)
            with load.transaction(con):
                built = rebuild_marts(con, run_id, ref, spec, model, chosen)
                totals |= built
                load.append(con, "audit.etl_run_count", count_rows(run_id, totals))
            log.info("marts: rebuilt %s", ", ".join(f"{t} {n:,}" for t, n in built.items()))
        summary.counts = totals
        summary.failed_tickers = sorted(failed)
        summary.status = "partial" if failed else "success"
        load.finish_run(con, run_id, summary.status)
        log.info("backfill %s %s: %d chunks loaded, %d skipped; %s", run_id, summary.status,
                 summary.loaded, summary.skipped,
                 ", ".join(f"{k} {v:,}" for k, v in totals.items()) or "nothing to load")
        if todo:
            publish_run_artifacts(summary, con, flow="backfill")
    except BaseException as exc:
        summary.status = "failed"
        summary.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if con is not None:
            load.finish_run(con, run_id, "failed", summary.error)
            con.close()
        _emit(event="done", status="failed")
        raise  # the flow's on_failure hook notifies (it also sees failures outside this body)
    # the data is committed; as in the daily run, publishing can only fail the serving copy
    try:
        if publish and todo:
            summary.published = daily.publish_serving(con, summary)
            summary.report = daily.build_html_report(summary.published)
    except (PublishError, ReportError, OSError) as exc:
        load.finish_run(con, run_id, "publish_failed", f"{type(exc).__name__}: {exc}")
        summary.status = "publish_failed"
        _emit(event="done", status=summary.status)
        raise daily.RunError(
            f"backfill {run_id} loaded its data but could not publish: {exc}") from None
    finally:
        con.close()
    _emit(event="done", status=summary.status)
    send_notification(notify, summary, flow="backfill")
    return summary


__all__ = ["BackfillSummary", "Chunk", "backfill", "loaded_chunks", "plan_chunks"]
