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
3. Extract, conform and validate each chunk (prices, share counts, FX: ``stages.stage_batch``,
   the daily run's own step) as a task on the
   configured task runner (threads, or a Dask cluster through prefect-dask), at most
   ``max_concurrent`` chunks in flight so the source (Yahoo) is not hammered. Tasks touch no
   warehouse: they return frames. A chunk's first rows are checked against the session before
   it, fetched as a lead-in, so results do not depend on the order chunks finish in.
4. Load each chunk (``stages.load_batch``) on the flow's own connection, the warehouse's single
   writer, in plan order (so watermarks only ever move forward), one transaction per chunk.
5. Once at the end, with the daily run's ``stages.refresh_derived``: the dimensions, the gap
   report and every mart (with their checks); then record counts, publish the Prefect
   artifacts, refresh the serving copy and report, and notify.

The audit row (``audit.etl_run``, flow ``backfill``) covers the whole backfill; every row it
writes carries its run id. While a backfill holds the warehouse, a daily run waits for the lock
(``AFTERSHOCK_LOCK_TIMEOUT``) and then fails naming the holder.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from contracts import ContractError
from flows import daily_refresh as daily
from flows.logs import quiet_expected_tracebacks
from flows.notify import on_flow_failure
from flows.stages import (
    Batch,
    MapParts,
    MartInputs,
    Reference,
    SourceSpec,
    check_model,
    load_batch,
    new_run_id,
    prepare_reference,
    record_counts,
    refresh_derived,
    select_tickers,
    stage_batch,
)
from report.build import ReportError
from warehouse import load
from warehouse import status as wh_status
from warehouse.connection import connect, resolve
from warehouse.publish import PublishError

#: A chunk's edge may miss this many sessions and still count as loaded.
EDGE_SESSIONS = 3
#: Days fetched before a chunk only to give its first rows their previous session (validated
#: against it, like the daily run does with the warehouse's rows), never loaded.
LEAD_IN_DAYS = 10
TASK_RUNNERS = ("threads", "dask")
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


@task(name="extract-chunk", cache_policy=NONE, tags=[EXTRACT_TAG],
      task_run_name="extract {chunk.label}")
def extract_chunk(chunk: Chunk, spec: SourceSpec, ref: Reference) -> Batch:
    """Fetch, conform and validate one chunk (flows.stages.stage_batch, as the daily run).
    Pure with respect to the warehouse: it runs on any worker (a thread or a Dask process) and
    returns frames for the single writer. The few days before the chunk are fetched too, only
    as the previous session of its first rows, so the result never depends on which chunks
    were loaded first."""
    batch = stage_batch(ref.source(spec), ref.reference_source(spec), ref,
                        dict.fromkeys(chunk.tickers, chunk.start), chunk.end,
                        lead_in_days=LEAD_IN_DAYS, intraday_source=ref.intraday_source(spec))
    get_run_logger().info(
        "extract %s: %d price rows (%d tickers not ok); validate: %d pass, %d quarantined",
        chunk.label, batch.raw.height, len(batch.failed_tickers()), batch.prices.good.height,
        batch.prices.rejected.height,
    )
    return batch.portable()


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
              max_concurrent: int) -> Iterator[tuple[Chunk, Batch]]:
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


@task(name="build-marts", cache_policy=NONE, task_run_name="marts of {label}")
def build_marts(inputs: MartInputs, events: list[str], label: str) -> dict[str, pl.DataFrame]:
    """The reaction marts of a batch of events: pure, so it runs on any worker."""
    return inputs.build(events)


def _marts_on(runner) -> MapParts:
    """Build each batch of events' marts as a task on ``runner`` (threads or Dask workers),
    gathered in batch order."""
    def map_parts(inputs: MartInputs, batches: list[list[str]]) -> list[dict]:
        futures = [runner.submit(build_marts, parameters={
            "inputs": inputs, "events": batch,
            "label": f"{batch[0]}..{batch[-1]}" if batch else "no events"})
            for batch in batches]
        return [future.result() for future in futures]
    return map_parts


def _check(model: str, task_runner: str, max_concurrent: int) -> None:
    check_model(model)
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
    run_id = new_run_id()
    summary = BackfillSummary(run_id=run_id, status="running", warehouse=resolve(warehouse))
    params = {"start": start, "end": end, "tickers": tickers, "source": source,
              "snapshot_dir": snapshot_dir, "seed": seed, "model": model,
              "batch_size": batch_size, "chunk_days": chunk_days,
              "max_concurrent": max_concurrent, "task_runner": task_runner}
    con = None
    try:
        _check(model, task_runner, max_concurrent)
        ref = prepare_reference(end, start)
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
                    _in_order(runner, todo, spec, ref.portable(), max_concurrent), start=1
                ):
                    with load.transaction(con):
                        counts = load_batch(con, run_id, result)
                    for key, value in counts.items():
                        totals[key] = totals.get(key, 0) + value
                    not_ok = result.failed_tickers()
                    failed.update(not_ok)
                    summary.loaded += 1
                    log.info("load %s (%d/%d): %s%s", chunk.label, n, len(todo),
                             ", ".join(f"{k} {v:,}" for k, v in counts.items() if v),
                             f"; not fetched: {', '.join(not_ok)}" if not_ok else "")
                    _emit(event="chunk", chunk=chunk.label, counts=counts, not_ok=not_ok)
            with load.transaction(con), _api_for_workers(), make_task_runner(
                    task_runner, dask_address, max_concurrent) as runner:
                built, _ = refresh_derived(con, run_id, ref, model, chosen,
                                           map_parts=_marts_on(runner), parts=2 * max_concurrent)
                totals |= built
                record_counts(con, run_id, totals)
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
