"""Read-only SQL for operations: what the warehouse holds, how recent runs went, what is held back.

`aftershock status`, the run artifacts and the backfill planner read the warehouse only through
these functions, so every query an operator depends on lives here, next to the DDL. Nothing in
this module writes.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from warehouse.connection import query_frame

#: Per dataset, the SQL giving each item's venue and last loaded date (its watermark).
#: A new dataset (news, FX, ...) adds one entry with the same four columns.
WATERMARK_SQL: dict[str, str] = {
    "prices": """
        SELECT 'prices' AS dataset, s.exchange_mic, s.ticker AS item,
               max(p.session_date) AS last_session
        FROM core.dim_security s
        LEFT JOIN core.fact_price_daily p USING (ticker)
        GROUP BY ALL
    """,
    # FX is due wherever a listing quotes in the currency: one item per (venue, currency)
    "fx": """
        SELECT 'fx' AS dataset, s.exchange_mic, s.currency AS item,
               max(f.session_date) AS last_session
        FROM (SELECT DISTINCT exchange_mic, currency FROM core.dim_security
              WHERE currency <> 'USD') s
        LEFT JOIN core.fact_fx_daily f USING (currency)
        GROUP BY ALL
    """,
}

#: Per news source: its last fetch attempt, its last successful one (``ok`` or ``empty``:
#: the source answered), the channels of the last attempt and how many failed, and the newest
#: story it has given.
NEWS_FETCHES_SQL = """
WITH fetches AS (
    SELECT f.source, f.channel, f.status, r.started_at
    FROM audit.news_fetch_status f JOIN audit.etl_run r USING (run_id)
), latest AS (
    SELECT source, max(started_at) AS last_attempt FROM fetches GROUP BY source
), newest AS (
    SELECT s.source, max(f.published_at) AS newest_story
    FROM core.news_source s JOIN core.fact_news f USING (news_id) GROUP BY s.source
)
SELECT l.source, l.last_attempt,
       max(f.started_at) FILTER (WHERE f.status <> 'error') AS last_ok,
       count(DISTINCT f.channel) FILTER (WHERE f.started_at = l.last_attempt) AS channels,
       count(DISTINCT f.channel)
           FILTER (WHERE f.started_at = l.last_attempt AND f.status = 'error') AS channels_failed,
       string_agg(DISTINCT f.channel, ', ' ORDER BY f.channel)
           FILTER (WHERE f.started_at = l.last_attempt AND f.status = 'error') AS failed_channels,
       n.newest_story
FROM latest l
JOIN fetches f USING (source)
LEFT JOIN newest n USING (source)
GROUP BY ALL
ORDER BY l.source
"""


def watermarks(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(dataset, exchange_mic, item, last_session) for every item of every dataset.

    ``last_session`` is null for an item that has nothing loaded yet.
    """
    frames = [query_frame(con, sql) for sql in WATERMARK_SQL.values()]
    schema = {"dataset": pl.String, "exchange_mic": pl.String, "item": pl.String,
              "last_session": pl.Date}
    frames = [f.cast(schema) for f in frames if f.height]  # type: ignore[arg-type]
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def news_fetches(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per news source that was ever fetched (see :data:`NEWS_FETCHES_SQL`)."""
    return query_frame(con, NEWS_FETCHES_SQL)


TOP_REACTIONS_SQL = """
WITH recent AS (
    SELECT event_id FROM marts.event_reaction
    WHERE ar_day0 IS NOT NULL AND anchor = 'announcement' AND default_model
    GROUP BY event_id ORDER BY max(announced_at) DESC LIMIT 3
)
SELECT r.event_id AS event, r.day0, r.ticker, r.segment,
       round(100 * r.ret_day0, 2) AS ret_day0_pct, round(100 * r.ar_day0, 2) AS ar_day0_pct,
       round(100 * r.car_0_p5, 2) AS car_0_p5_pct, round(r.car_0_0_t, 2) AS t_day0
FROM marts.event_reaction r JOIN recent USING (event_id)
WHERE r.ar_day0 IS NOT NULL AND r.segment <> 'benchmark' AND r.anchor = 'announcement'
  AND r.default_model
ORDER BY abs(r.ar_day0) DESC LIMIT ?
"""


def top_reactions(con: duckdb.DuckDBPyConnection, top: int) -> pl.DataFrame:
    """The ``top`` largest day-0 abnormal returns (announcement anchor, benchmarks left out)
    of the three most recent events: what a run prints when it ends."""
    return query_frame(con, TOP_REACTIONS_SQL, [top])


def last_load(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The newest run that committed data (success, partial or publish_failed): its run_id,
    flow, status, finished_at and error; None before the first."""
    frame = query_frame(
        con,
        "SELECT run_id, flow, status, finished_at, error FROM audit.etl_run "
        "WHERE status IN ('success', 'partial', 'publish_failed') "
        "ORDER BY started_at DESC LIMIT 1",
    )
    return frame.row(0, named=True) if frame.height else None


def last_model(con: duckdb.DuckDBPyConnection, default: str = "market") -> str:
    """The event-study model of the newest run that built the marts (daily run or backfill)."""
    rows = con.execute(
        "SELECT params->>'model' FROM audit.etl_run "
        "WHERE flow IN ('daily-refresh', 'backfill') AND status IN ('success', 'partial') "
        "ORDER BY started_at DESC LIMIT 1"
    ).fetchall()
    return rows[0][0] if rows and rows[0][0] else default


def price_coverage(con: duckdb.DuckDBPyConnection, start: date, end: date) -> pl.DataFrame:
    """First and last loaded session of each ticker within [start, end] (the watermarks of a
    backfill chunk's date range)."""
    return query_frame(
        con,
        "SELECT ticker, min(session_date) AS first_session, max(session_date) AS last_session "
        "FROM core.fact_price_daily WHERE session_date BETWEEN ? AND ? GROUP BY ticker",
        [start, end],
    )


LAST_RUNS_SQL = """
SELECT r.run_id, r.flow, r.source, r.status, r.started_at, r.finished_at,
       round(date_diff('millisecond', r.started_at, r.finished_at) / 1000.0, 1) AS duration_s,
       sum(c.rows) FILTER (WHERE c.stage = 'extracted')::BIGINT AS rows_extracted,
       sum(c.rows) FILTER (WHERE c.stage IN ('inserted', 'updated'))::BIGINT AS rows_loaded,
       sum(c.rows) FILTER (WHERE c.stage = 'quarantined')::BIGINT AS rows_quarantined,
       r.error
FROM audit.etl_run r
LEFT JOIN audit.etl_run_count c USING (run_id)
GROUP BY ALL
ORDER BY r.started_at DESC
LIMIT ?
"""


def last_runs(con: duckdb.DuckDBPyConnection, limit: int = 5) -> pl.DataFrame:
    """The most recent runs, newest first: status, duration and row counts."""
    return query_frame(con, LAST_RUNS_SQL, [limit])


# Which quarantined rows are still open. With the replay columns (migration 0004,
# `aftershock quarantine replay`) a row is open until a replay resolves it. Before that
# migration, a row counts as open while no accepted version of its key was loaded after it:
# core has no row for the key, or core's row comes from a run that started before the
# quarantine. Rows of datasets without a core table to compare with stay open.
_OPEN_BY_RESOLUTION = "q.resolved_run_id IS NULL"
_OPEN_BY_CORE = "q.dataset <> 'prices' OR p.ticker IS NULL OR r.started_at < q.quarantined_at"

OPEN_QUARANTINE_SQL = """
WITH judged AS (
    SELECT q.dataset, q.row_key, q.reasons, q.quarantined_at, ({is_open}) AS is_open
    FROM audit.quarantine q
    LEFT JOIN core.fact_price_daily p
      ON q.dataset = 'prices'
     AND p.ticker = split_part(q.row_key, '|', 1)
     AND p.session_date = TRY_CAST(split_part(q.row_key, '|', 2) AS DATE)
    LEFT JOIN audit.etl_run r ON r.run_id = p.run_id
),
reasons AS (
    SELECT dataset, reason, count(*) AS n
    FROM (SELECT dataset, unnest(reasons) AS reason FROM judged WHERE is_open)
    GROUP BY ALL
)
SELECT j.dataset,
       count(*) FILTER (WHERE j.is_open) AS open_rows,
       count(DISTINCT j.row_key) FILTER (WHERE j.is_open) AS open_keys,
       count(*) AS all_rows,
       max(j.quarantined_at) AS last_quarantined_at,
       (SELECT string_agg(reason || ' ' || n, ', ' ORDER BY n DESC, reason)
        FROM reasons x WHERE x.dataset = j.dataset) AS open_reasons
FROM judged j
GROUP BY j.dataset
ORDER BY j.dataset
"""


def open_quarantine(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per dataset: open quarantined rows and keys, all rows, the newest, and why (open)."""
    replayable = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'audit' "
        "AND table_name = 'quarantine' AND column_name = 'resolved_run_id'"
    ).fetchall()[0][0]
    is_open = _OPEN_BY_RESOLUTION if replayable else _OPEN_BY_CORE
    return query_frame(con, OPEN_QUARANTINE_SQL.format(is_open=is_open))


# --------------------------------------------------------------------------- one run's report

RUN_COUNTS_SQL = """
SELECT dataset, stage, rows FROM audit.etl_run_count WHERE run_id = ? ORDER BY dataset, stage
"""


def run_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """(dataset, stage, rows) a run recorded."""
    return query_frame(con, RUN_COUNTS_SQL, [run_id])


VALIDATION_SQL = """
SELECT suite, expectation, severity, success,
       coalesce(element_count, 0) AS element_count, coalesce(unexpected_count, 0) AS unexpected
FROM audit.validation_result WHERE run_id = ?
"""


def run_validation(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Every expectation result a run recorded (several per expectation for a chunked run)."""
    return query_frame(con, VALIDATION_SQL, [run_id])


# An event is "new" in a run when the run wrote (inserted or corrected) the day-0 price of at
# least one security for it: its day-0 reaction exists or changed because of this run.
NEW_REACTIONS_SQL = """
SELECT r.event_id, r.event_name, r.day0, r.ticker, r.segment, r.exchange_mic,
       r.ret_day0, r.ar_day0, r.car_0_p5, r.car_0_0_t, r.thin_estimation
FROM marts.event_reaction r
WHERE r.anchor = 'announcement' AND r.default_model  -- one row per (event, security)
  AND r.event_id IN (
    SELECT DISTINCT e.event_id
    FROM marts.event_reaction e
    JOIN core.fact_price_daily p ON p.ticker = e.ticker AND p.session_date = e.day0
    WHERE p.run_id = ?
)
ORDER BY abs(r.ar_day0) DESC NULLS LAST, r.event_id, r.ticker
"""


def new_reactions(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Reactions of the events whose day-0 prices this run loaded, largest |AR| first."""
    return query_frame(con, NEW_REACTIONS_SQL, [run_id])
