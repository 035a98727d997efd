"""The daily flow: extract -> transform -> validate -> load -> marts, in one warehouse transaction.

The flow only wires the layers together: sources fetch, transforms reshape, expectations judge,
the warehouse stores. A run's writes to raw, core and marts commit together or not at all; its
audit row is written on its own so even a failed run leaves a trace.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from contracts import ContractError
from expectations.docs import build_data_docs
from expectations.events import seed_refusal, validate_events, validate_universe
from expectations.marts import raise_on_rejected, validate_marts
from expectations.prices import gap_report, validate_gaps, validate_prices
from expectations.reference import fx_to_core, shares_to_core, validate_fx, validate_shares
from flows.artifacts import publish_run_artifacts
from flows.faults import checkpoint
from flows.logs import quiet_expected_tracebacks
from flows.news_tasks import NewsOptions, reaction_inputs, read_detected_events, refresh_news
from flows.notify import notify
from flows.sources import make_reference_source, make_source
from report.build import ReportError, build_report, reports_dir_for
from sources.base import ExtractResult, SourceError
from sources.reference import SHARE_KINDS
from transforms import calendar, detection, prices
from transforms.event_study import EventStudyConfig
from transforms.reactions import build_reaction_marts
from warehouse import load, seeds
from warehouse.connection import connect, resolve
from warehouse.publish import PublishError, publish, serving_dir_for

#: First date fetched when a ticker has nothing loaded yet (live and snapshot sources).
HISTORY_START = date(2018, 1, 1)
#: Days re-fetched before each ticker's watermark, so late corrections are picked up.
REFETCH_DAYS = 10
#: Share counts are stepwise and reported quarterly: fetch far enough back to have one in force.
SHARES_LOOKBACK_DAYS = 400
FX_LOOKBACK_DAYS = 10


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
def extract(source, tickers: list[str], start: date, end: date) -> ExtractResult:
    """Fetch raw prices from the configured source."""
    result = source.prices(tickers, start, end)
    get_run_logger().info(
        "extract: %d rows for %d tickers from %s (%d not ok)",
        result.frame.height, len(tickers), source.name,
        result.status.filter(pl.col("status") != "ok").height,
    )
    return result


@task(cache_policy=NONE)
def extract_reference(source, securities: pl.DataFrame, tickers: list[str], start: date,
                      end: date) -> tuple[ExtractResult, ExtractResult]:
    """Shares outstanding (equities and ADRs) and daily FX (non-USD listings) for value moved."""
    wanted = securities.filter(pl.col("ticker").is_in(tickers))
    share_tickers = wanted.filter(pl.col("kind").is_in(SHARE_KINDS))["ticker"].to_list()
    currencies = sorted(set(wanted["currency"]) - {"USD"})
    shares = source.shares(share_tickers, start - timedelta(days=SHARES_LOOKBACK_DAYS), end)
    fx = source.fx(currencies, start - timedelta(days=FX_LOOKBACK_DAYS), end)
    get_run_logger().info(
        "extract: %d share counts for %d tickers, %d FX rates for %d currencies",
        shares.frame.height, len(share_tickers), fx.frame.height, len(currencies),
    )
    return shares, fx


@task(cache_policy=NONE)
def transform(raw: pl.DataFrame, securities: pl.DataFrame, sessions: pl.DataFrame):
    """Raw rows into the core contract."""
    return prices.to_core(raw, securities, sessions)


@task(cache_policy=NONE)
def validate(core: pl.DataFrame, history: pl.DataFrame | None = None):
    """Run the prices suite; rejected rows go to quarantine, the rest load. ``history``:
    loaded prices, the previous session of each ticker's first extracted row."""
    outcome = validate_prices(core, context=history)
    get_run_logger().info(
        "validate: %d rows pass, %d quarantined", outcome.good.height, outcome.rejected.height
    )
    return outcome


@task(cache_policy=NONE)
def build_marts(history: pl.DataFrame, shares: pl.DataFrame, fx: pl.DataFrame, securities,
                sessions, day0, events, model: str, attention: pl.DataFrame | None = None):
    """Returns, the event study and value moved over the whole loaded history (pure)."""
    return build_reaction_marts(
        history, securities, sessions, day0, events, EventStudyConfig(model=model),
        shares=shares, fx=fx, attention=attention,
    )


def _tickers(options: RunOptions, securities: pl.DataFrame, source) -> list[str]:
    universe = securities["ticker"].to_list()
    if options.tickers:
        unknown = sorted(set(options.tickers) - set(universe))
        if unknown:
            raise ContractError(
                f"unknown ticker(s) {', '.join(unknown)}: not in warehouse/seeds/universe.csv"
            )
        return list(options.tickers)
    if hasattr(source, "available"):  # a recording holds only some of the universe
        have = set(source.available())
        return [t for t in universe if t in have]
    return universe


def _window_starts(options: RunOptions, con, tickers: list[str],
                   source_name: str) -> dict[str, date]:
    """Each ticker's first session to fetch: its own watermark for this source (last loaded
    session) minus REFETCH_DAYS, or the history start when it has none; --start wins."""
    if options.start:
        return dict.fromkeys(tickers, options.start)
    default = HISTORY_START
    if source_name == "demo":
        from sources.demo import EPOCH

        default = EPOCH
    marks = dict(
        load.price_watermarks(con, source_name)
        .filter(pl.col("ticker").is_in(tickers))
        .iter_rows()
    )
    return {
        t: max(default, marks[t] - timedelta(days=REFETCH_DAYS)) if t in marks else default
        for t in tickers
    }


def _extract_by_start(source, starts: dict[str, date], end: date) -> ExtractResult:
    """One extract per distinct start: tickers that share a start are fetched together."""
    groups: dict[date, list[str]] = {}
    for ticker, start in starts.items():
        groups.setdefault(start, []).append(ticker)
    results = [extract(source, group, start, end) for start, group in sorted(groups.items())]
    if not results:
        return extract(source, [], end, end)
    return ExtractResult(
        frame=pl.concat([r.frame for r in results]),
        status=pl.concat([r.status for r in results]),
    )


@flow(name="daily-refresh", log_prints=True)
def daily_refresh(options: RunOptions | None = None) -> RunSummary:
    """One daily run of Aftershock (see the module docstring)."""
    options = options or RunOptions()
    quiet_expected_tracebacks()
    log = get_run_logger()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    end = options.end or datetime.now(UTC).date()
    securities = seeds.read_universe()
    events = calendar.events_to_core(seeds.read_events())
    sessions = calendar.exchange_sessions(
        securities["exchange_mic"].unique().to_list(), date(2016, 1, 1), end + timedelta(days=45)
    )
    day0 = calendar.event_day0(events, sessions)
    seed_checks = [validate_universe(securities), validate_events(seeds.read_events())]
    for check, name in zip(seed_checks, ("universe.csv", "events.csv"), strict=True):
        refusal = seed_refusal(check, str(seeds.seed_path(name)))
        if refusal:
            raise ContractError(refusal)
    source = make_source(
        options.source,
        securities=securities,
        sessions=sessions,
        day0=day0,
        events=events,
        snapshot_dir=Path(options.snapshot_dir) if options.snapshot_dir else None,
        seed=options.seed,
    )
    reference_source = make_reference_source(
        options.source,
        securities=securities,
        snapshot_dir=Path(options.snapshot_dir) if options.snapshot_dir else None,
        seed=options.seed,
    )
    con = connect(options.warehouse)
    summary = RunSummary(run_id=run_id, status="running", warehouse=resolve(options.warehouse))
    try:
        tickers = _tickers(options, securities, source)
        starts = _window_starts(options, con, tickers, options.source)
        start = min(starts.values(), default=end)  # reference data and the run's params
        load.start_run(con, run_id, "daily-refresh", options.source,
                       {**asdict(options), "start": start, "end": end})
        extracted = _extract_by_start(source, starts, end)
        core_rows = transform(extracted.frame, securities, sessions)
        outcome = validate(core_rows, load.read_prices(con))
        shares_raw, fx_raw = extract_reference(reference_source, securities, tickers, start, end)
        shares_check, fx_check = validate_shares(shares_raw.frame), validate_fx(fx_raw.frame)
        shares_good, shares_rejected = shares_to_core(shares_check.good), shares_check.rejected
        fx_good, fx_rejected = fx_to_core(fx_check.good), fx_check.rejected
        outcomes = [*seed_checks, outcome, shares_check, fx_check]
        checkpoint("after_extract")
        with load.transaction(con):
            counts = {
                "prices.extracted": extracted.frame.height,
                "prices.raw_landed": load.land_raw_prices(con, extracted.frame, run_id),
            }
            checkpoint("after_raw")
            merged = load.upsert_prices(con, outcome.good.drop("is_exchange_session"), run_id)
            counts |= {"prices.inserted": merged["inserted"], "prices.updated": merged["updated"]}
            counts["prices.quarantined"] = load.quarantine(
                con, outcome.rejected, "prices", ["ticker", "session_date"], run_id
            )
            for name, good, rejected, key, upsert in (
                ("shares", shares_good, shares_rejected, ["ticker", "as_of_date"],
                 load.upsert_shares),
                ("fx", fx_good, fx_rejected, ["currency", "session_date"], load.upsert_fx),
            ):
                merged = upsert(con, good, run_id)
                counts |= {f"{name}.inserted": merged["inserted"],
                           f"{name}.updated": merged["updated"]}
                counts[f"{name}.quarantined"] = load.quarantine(con, rejected, name, key, run_id)
            statuses = pl.concat([extracted.status, shares_raw.status, fx_raw.status])
            load.append(con, "audit.extract_status", statuses.with_columns(run_id=pl.lit(run_id)))
            checkpoint("after_core")
            load.replace_table(con, "core.dim_security", securities)
            load.replace_table(con, "core.dim_event", detection.dim_event_rows(
                events, read_detected_events(con)))
            load.replace_table(con, "core.dim_session", sessions)
            if options.news:  # before the marts: news gives the attention anchor
                counts |= refresh_news(
                    con, run_id,
                    NewsOptions(source=options.source, feeds=options.feeds, seed=options.seed,
                                history=options.news_history),
                    securities=securities, events=events, sessions=sessions, day0=day0,
                )
            study = reaction_inputs(con, events, sessions, day0)
            load.replace_table(con, "core.fact_event_day0", study.day0.drop("day0_idx"))
            history = load.read_prices(con)
            gaps = gap_report(history.filter(pl.col("ticker").is_in(tickers)), sessions,
                              securities)
            load.append(con, "audit.gap_report", gaps.with_columns(run_id=pl.lit(run_id)))
            outcomes.append(validate_gaps(gaps))
            marts = build_marts(history, load.read_shares(con), load.read_fx(con), securities,
                                sessions, study.day0, study.events, options.model,
                                study.attention)
            mart_checks = validate_marts(marts, EventStudyConfig(model=options.model).window)
            outcomes += mart_checks
            raise_on_rejected(mart_checks)  # a mart failure is a bug: roll the run back
            for table, frame in marts.items():
                counts[table] = load.replace_table(con, table, frame)
                checkpoint("during_marts")
            for checked in outcomes:
                load.append(con, "audit.validation_result",
                            checked.results.with_columns(run_id=pl.lit(run_id)))
            load.append(con, "audit.etl_run_count", _count_rows(run_id, counts))
            checkpoint("before_commit")
        # a price that did not arrive makes a run partial; for reference data only errors do
        # (a recording may simply hold no share counts)
        failed = (
            extracted.status.filter(pl.col("status") != "ok")["ticker"].to_list()
            + shares_raw.status.filter(pl.col("status") == "error")["ticker"].to_list()
            + fx_raw.status.filter(pl.col("status") == "error")["ticker"].to_list()
        )
        summary.status = "partial" if failed else "success"
        summary.counts, summary.failed_tickers = counts, failed
        load.finish_run(con, run_id, summary.status)
        summary.docs = _data_docs(outcomes, run_id, options)
        publish_run_artifacts(summary, con)  # Prefect artifacts; never raises
        log.info("run %s %s: %s", run_id, summary.status, counts)
    except BaseException as exc:
        load.finish_run(con, run_id, "failed", f"{type(exc).__name__}: {exc}")
        con.close()
        summary.status = "failed"
        notify(options.notify, summary, error=f"{type(exc).__name__}: {exc}")
        raise
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


def _count_rows(run_id: str, counts: dict[str, int]) -> pl.DataFrame:
    """'prices.inserted' -> (prices, inserted); a table name -> (table, built)."""
    rows = []
    for name, n in counts.items():
        if name.startswith(("marts.", "core.")):
            dataset, stage = name, "built"
        else:
            dataset, _, stage = name.rpartition(".")
        rows.append({"run_id": run_id, "dataset": dataset, "stage": stage, "rows": n})
    return pl.DataFrame(rows, schema={"run_id": pl.String, "dataset": pl.String,
                                      "stage": pl.String, "rows": pl.Int64})


__all__ = ["RunError", "RunOptions", "RunSummary", "SourceError", "daily_refresh"]
