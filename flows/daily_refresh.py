"""The daily flow: extract -> transform -> validate -> load -> marts, in one warehouse transaction.

The flow only wires the layers together through the stages every loading flow shares
(``flows/stages.py``): sources fetch, transforms reshape, expectations judge, the warehouse
stores. Everything that waits on the network (prices, share counts, FX, news) is fetched
before the transaction opens; a run's writes to raw, core and marts then commit together or
not at all. Its audit row is written on its own, so even a failed run leaves a trace.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from expectations.docs import build_data_docs
from flows.artifacts import publish_run_artifacts
from flows.faults import checkpoint
from flows.logs import quiet_expected_tracebacks
from flows.news_tasks import FetchedNews, NewsOptions, fetch_news
from flows.notify import notify, on_flow_failure
from flows.stages import (
    Batch,
    Reference,
    SourceSpec,
    check_model,
    check_window,
    load_batch,
    new_run_id,
    prepare_reference,
    record_counts,
    record_outcomes,
    refresh_derived,
    select_tickers,
    stage_batch,
    unlisted_files,
)
from report.build import ReportError, build_report, reports_dir_for
from sources.base import SourceError
from warehouse import load
from warehouse.connection import connect, resolve
from warehouse.publish import PublishError, publish, serving_dir_for

#: First date fetched when a ticker has nothing loaded yet (live and snapshot sources).
HISTORY_START = date(2018, 1, 1)
#: Days re-fetched before each ticker's watermark, so late corrections are picked up.
REFETCH_DAYS = 10


@dataclass
class RunOptions:
    """Everything a run can be told (CLI flags, deployment parameters)."""

    source: str = "yahoo"
    warehouse: str | None = None
    snapshot_dir: str | None = None
    start: date | None = None
    end: date | None = None
    tickers: list[str] | None = None
    model: str = "market"
    seed: int | None = None
    feeds: str | None = None
    news: bool = True
    news_history: bool = False
    publish: bool = True
    docs_dir: str | None = None  # GX Data Docs folder (default: docs/ next to the warehouse)
    notify: str | None = None  # webhook for failed/partial runs (else $AFTERSHOCK_NOTIFY_URL)
    rebuild_marts: bool = False  # rebuild every study, not only those whose inputs changed


@dataclass
class RunSummary:
    """What a run did, for the CLI, logs and audit."""

    run_id: str
    status: str
    warehouse: str
    counts: dict[str, int] = field(default_factory=dict)
    failed_tickers: list[str] = field(default_factory=list)
    published: dict = field(default_factory=dict)
    docs: str | None = None  # the run's GX Data Docs index.html, when built
    report: dict = field(default_factory=dict)


class RunError(RuntimeError):
    """A run could not complete; the warehouse is as it was before the run."""


@task(cache_policy=NONE)
def stage(spec: SourceSpec, ref: Reference, starts: dict[str, date], end: date,
          context: pl.DataFrame) -> Batch:
    """Extract, conform and validate prices, share counts and FX (flows.stages.stage_batch)."""
    batch = stage_batch(ref.source(spec), ref.reference_source(spec), ref, starts, end,
                        context=context, intraday_source=ref.intraday_source(spec))
    get_run_logger().info(
        "extract: %d price rows for %d tickers from %s (%d not ok), %d share counts, %d FX "
        "rates; validate: %d rows pass, %d quarantined",
        batch.raw.height, len(starts), spec.name, len(batch.failed_tickers()),
        batch.shares.height, batch.fx.height, batch.prices.good.height,
        batch.prices.rejected.height,
    )
    return batch


@task(cache_policy=NONE)
def extract_news(options: RunOptions, ref: Reference) -> FetchedNews:
    """Every news source of the run, fetched before the transaction opens."""
    fetched = fetch_news(
        NewsOptions(source=options.source, feeds=options.feeds, seed=options.seed,
                    history=options.news_history),
        securities=ref.securities, events=ref.events,
    )
    get_run_logger().info("extract: %d news items", fetched.result.frame.height)
    return fetched


def window_starts(options: RunOptions, con, tickers: list[str]) -> dict[str, date]:
    """Each ticker's first session to fetch: its own watermark for this source (last loaded
    session) minus REFETCH_DAYS, or the history start when it has none; --start wins."""
    if options.start:
        return dict.fromkeys(tickers, options.start)
    default = HISTORY_START
    if options.source == "demo":
        from sources.demo import EPOCH

        default = EPOCH
    marks = dict(
        load.price_watermarks(con, options.source)
        .filter(pl.col("ticker").is_in(tickers))
        .iter_rows()
    )
    return {
        t: max(default, marks[t] - timedelta(days=REFETCH_DAYS)) if t in marks else default
        for t in tickers
    }


@flow(name="daily-refresh", log_prints=True, on_failure=[on_flow_failure],
      on_crashed=[on_flow_failure])
def daily_refresh(options: RunOptions | None = None) -> RunSummary:
    """One daily run of Aftershock (see the module docstring). A run that fails anywhere --
    even before the warehouse opens -- is reported by the flow's failure hook (``notify``)."""
    options = options or RunOptions()
    quiet_expected_tracebacks()
    log = get_run_logger()
    run_id = new_run_id()
    end = options.end or datetime.now(UTC).date()
    check_model(options.model)
    check_window(options.start, options.end, datetime.now(UTC).date())
    ref = prepare_reference(end)
    spec = SourceSpec(options.source, options.snapshot_dir, options.seed)
    source = ref.source(spec)
    tickers = select_tickers(options.tickers, ref.securities, source)
    unlisted = unlisted_files(ref.securities, source)
    if unlisted:
        log.warning("extract: %d file(s) in the recording for tickers not in "
                    "warehouse/seeds/universe.csv, not loaded: %s", len(unlisted),
                    ", ".join(unlisted))
    ref.reference_source(spec)  # a missing snapshot folder fails here, before the warehouse
    con = connect(options.warehouse)
    summary = RunSummary(run_id=run_id, status="running", warehouse=resolve(options.warehouse))
    try:
        starts = window_starts(options, con, tickers)
        start = min(starts.values(), default=end)
        load.start_run(con, run_id, "daily-refresh", options.source,
                       {**asdict(options), "start": start, "end": end})
        batch = stage(spec, ref, starts, end, load.read_prices(con))
        news = extract_news(options, ref) if options.news else None
        checkpoint("after_extract")
        with load.transaction(con):
            counts = load_batch(con, run_id, batch)
            log.info("load: %s", _said(counts))
            checkpoint("after_core")
            record_outcomes(con, run_id, ref.checks)
            derived, checks = refresh_derived(con, run_id, ref, options.model, tickers, news,
                                              rebuild=options.rebuild_marts)
            log.info("news and marts: %s", _said(derived))
            counts |= derived
            if unlisted:
                counts["prices.unlisted_files"] = len(unlisted)
            record_counts(con, run_id, counts)
            checkpoint("before_commit")
        failed = batch.failed_tickers()
        summary.status = "partial" if failed else "success"
        summary.counts, summary.failed_tickers = counts, failed
        load.finish_run(con, run_id, summary.status)
        summary.docs = _data_docs([*ref.checks, *batch.outcomes, *checks], run_id, options)
        publish_run_artifacts(summary, con)  # Prefect artifacts; never raises
        log.info("run %s %s: %s", run_id, summary.status, counts)
    except BaseException as exc:
        load.finish_run(con, run_id, "failed", f"{type(exc).__name__}: {exc}")
        con.close()
        summary.status = "failed"
        raise  # the flow's failure hook notifies
    # the run's data is committed; publishing can only fail the serving copy, never the data
    try:
        if options.publish:
            summary.published = publish_serving(con, summary)
            summary.report = build_html_report(summary.published)
    except (PublishError, ReportError, OSError) as exc:
        load.finish_run(con, run_id, "publish_failed", f"{type(exc).__name__}: {exc}")
        summary.status = "publish_failed"
        raise RunError(f"run {run_id} loaded its data but could not publish: {exc}") from None
    finally:
        con.close()
    notify(options.notify, summary)  # only failed or partial runs are sent
    return summary


@task(cache_policy=NONE)
def publish_serving(con, summary: RunSummary) -> dict:
    """The read-only serving copy (DuckDB readable by DuckDB 1.4 BI tools) and Parquet files."""
    published = publish(con, serving_dir_for(summary.warehouse), summary.run_id,
                        on_step=lambda step: checkpoint("during_publish"))
    get_run_logger().info("publish: %s", published["path"])
    return published


@task(cache_policy=NONE)
def build_html_report(published: dict) -> dict:
    """The self-contained HTML report, rebuilt from the serving copy."""
    built = build_report(published["path"], reports_dir_for(published["path"]))
    get_run_logger().info("report: %s", built.get("index"))
    return built


def _said(counts: dict[str, int]) -> str:
    """Counts as a log line: 'prices.inserted 1,180, prices.quarantined 3'."""
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "nothing"


def _data_docs(outcomes, run_id: str, options: RunOptions) -> str | None:
    """Build the run's GX Data Docs; a failure to render is logged, never fails the run."""
    target = resolve(options.warehouse)
    root = options.docs_dir or os.environ.get("AFTERSHOCK_DOCS_DIR")
    if root is None:
        if ":" in target.split("/")[0]:  # not a file warehouse: no folder next to it
            return None
        root = str(Path(target).parent / "docs")
    try:
        return build_data_docs(outcomes, run_id, root).resolve().as_uri()
    except Exception as exc:  # docs are a report, not part of the run
        get_run_logger().warning("data docs not built: %s: %s", type(exc).__name__, exc)
        return None


__all__ = ["RunError", "RunOptions", "RunSummary", "SourceError", "daily_refresh"]
