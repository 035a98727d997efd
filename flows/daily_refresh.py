"""The daily flow: extract -> transform -> validate -> load -> marts, in one warehouse transaction.

The flow only wires the layers together: sources fetch, transforms reshape, expectations judge,
the warehouse stores. A run's writes to raw, core and marts commit together or not at all; its
audit row is written on its own so even a failed run leaves a trace.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from contracts import ContractError
from expectations.prices import validate_prices
from flows.faults import checkpoint
from flows.logs import quiet_expected_tracebacks
from flows.news_tasks import NewsOptions, refresh_news
from flows.sources import make_reference_source, make_source
from report.build import ReportError, build_report, reports_dir_for
from sources.base import ExtractResult, SourceError
from sources.reference import SHARE_KINDS
from transforms import calendar, prices
from transforms.event_study import EventStudyConfig
from transforms.reactions import build_reaction_marts
from transforms.value_moved import fx_to_core, shares_to_core
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


@dataclass
class RunSummary:
    """What a run did, for the CLI, logs and audit."""

    run_id: str
    status: str
    warehouse: str
    counts: dict[str, int] = field(default_factory=dict)
    failed_tickers: list[str] = field(default_factory=list)
    published: dict = field(default_factory=dict)
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
def validate(core: pl.DataFrame):
    """Run the prices suite; rejected rows go to quarantine, the rest load."""
    outcome = validate_prices(core)
    get_run_logger().info(
        "validate: %d rows pass, %d quarantined", outcome.good.height, outcome.rejected.height
    )
    return outcome


@task(cache_policy=NONE)
def build_marts(history: pl.DataFrame, shares: pl.DataFrame, fx: pl.DataFrame, securities,
                sessions, day0, events, model: str):
    """Returns, the event study and value moved over the whole loaded history (pure)."""
    return build_reaction_marts(
        history, securities, sessions, day0, events, EventStudyConfig(model=model),
        shares=shares, fx=fx,
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


def _window_start(options: RunOptions, con, tickers: list[str], source_name: str) -> date:
    if options.start:
        return options.start
    marks = load.price_watermarks(con).filter(pl.col("ticker").is_in(tickers))
    default = HISTORY_START
    if source_name == "demo":
        from sources.demo import EPOCH

        default = EPOCH
    if marks.height < len(tickers):
        return default
    return max(default, marks["last_session"].min() - timedelta(days=REFETCH_DAYS))


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
        start = _window_start(options, con, tickers, options.source)
        load.start_run(con, run_id, "daily-refresh", options.source,
                       {**asdict(options), "start": start, "end": end})
        extracted = extract(source, tickers, start, end)
        core_rows = transform(extracted.frame, securities, sessions)
        outcome = validate(core_rows)
        shares_raw, fx_raw = extract_reference(reference_source, securities, tickers, start, end)
        shares_good, shares_rejected = shares_to_core(shares_raw.frame)
        fx_good, fx_rejected = fx_to_core(fx_raw.frame)
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
            load.append(con, "audit.validation_result",
                        outcome.results.with_columns(run_id=pl.lit(run_id)))
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
            load.replace_table(con, "core.dim_event", events.with_columns(origin=pl.lit("catalog")))
            load.replace_table(con, "core.dim_session", sessions)
            load.replace_table(con, "core.fact_event_day0", day0.drop("day0_idx"))
            marts = build_marts(load.read_prices(con), load.read_shares(con),
                                load.read_fx(con), securities, sessions, day0, events,
                                options.model)
            for table, frame in marts.items():
                counts[table] = load.replace_table(con, table, frame)
                checkpoint("during_marts")
            if options.news:
                counts |= refresh_news(
                    con, run_id,
                    NewsOptions(source=options.source, feeds=options.feeds, seed=options.seed,
                                history=options.news_history),
                    securities=securities, events=events, sessions=sessions, day0=day0,
                )
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
        log.info("run %s %s: %s", run_id, summary.status, counts)
    except BaseException as exc:
        load.finish_run(con, run_id, "failed", f"{type(exc).__name__}: {exc}")
        con.close()
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
