"""Idempotent, transactional loads: natural keys, MERGE, and one transaction per run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import duckdb
import polars as pl

from warehouse.connection import query_frame

PRICE_VALUES = ("open", "high", "low", "close", "adj_close", "volume", "currency", "source",
                "quality_flags")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Everything inside commits together or not at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _stage(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    con.register(name, frame.to_arrow())


def land_raw_prices(con: duckdb.DuckDBPyConnection, raw: pl.DataFrame, run_id: str) -> int:
    """Append fetched rows to raw.price_daily; a version already landed is not landed again."""
    _stage(con, "staged_raw", raw)
    return con.execute(
        """
        INSERT INTO raw.price_daily BY NAME
        SELECT s.*, ? AS run_id,
               hash(ticker, session_date, open, high, low, close, adj_close, volume, source)
                   AS row_hash
        FROM staged_raw s
        WHERE hash(ticker, session_date, open, high, low, close, adj_close, volume, source)
              NOT IN (SELECT row_hash FROM raw.price_daily)
        """,
        [run_id],
    ).fetchall()[0][0]


def upsert_prices(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, run_id: str) -> dict:
    """MERGE validated rows into core.fact_price_daily; unchanged rows are left untouched."""
    _stage(con, "staged_prices", good.with_columns(run_id=pl.lit(run_id)))
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in PRICE_VALUES)
    assign = ", ".join(f"{c} = s.{c}" for c in (*PRICE_VALUES, "run_id"))
    rows = con.execute(
        f"""
        MERGE INTO core.fact_price_daily AS t
        USING (SELECT ticker, session_date, {", ".join(PRICE_VALUES)}, run_id
               FROM staged_prices) AS s
        ON t.ticker = s.ticker AND t.session_date = s.session_date
        WHEN MATCHED AND ({changed}) THEN UPDATE SET {assign}
        WHEN NOT MATCHED THEN INSERT BY NAME
        RETURNING merge_action
        """
    ).fetchall()
    actions = [r[0] for r in rows]
    return {"inserted": actions.count("INSERT"), "updated": actions.count("UPDATE")}


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Replace a derived table's rows (dims from seeds, sessions, marts) keeping its DDL.

    Only the table's own columns are taken from ``frame``; a missing one is an error.
    """
    schema, name = table.split(".")
    columns = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    ]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: frame lacks column(s) {', '.join(missing)}")
    _stage(con, "staged_replace", frame.select(columns))
    con.execute(f"DELETE FROM {table}")
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM staged_replace")
    return frame.height


def quarantine(
    con: duckdb.DuckDBPyConnection,
    rejected: pl.DataFrame,
    dataset: str,
    key: list[str],
    run_id: str,
) -> int:
    """Write rejected rows to audit.quarantine as JSON with every reason they failed."""
    if rejected.height == 0:
        return 0
    body = rejected.drop("reasons")
    staged = pl.DataFrame(
        {
            "run_id": run_id,
            "dataset": dataset,
            "row_key": body.select(
                pl.concat_str([pl.col(k).cast(pl.String).fill_null("∅") for k in key],
                              separator="|")
            ).to_series(),
            "row_json": body.select(pl.struct(pl.all()).struct.json_encode()).to_series(),
            "reasons": rejected["reasons"],
            "quarantined_at": datetime.now(UTC),
        }
    )
    _stage(con, "staged_quarantine", staged)
    con.execute("INSERT INTO audit.quarantine BY NAME SELECT * FROM staged_quarantine")
    return staged.height


def append(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Append audit rows (validation results, extract status, counts)."""
    if frame.height == 0:
        return 0
    _stage(con, "staged_append", frame)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM staged_append")
    return frame.height


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, flow: str, source: str,
              params: dict) -> None:
    """Record a run as started (committed on its own, so a crash still leaves a trace)."""
    con.execute(
        "INSERT INTO audit.etl_run (run_id, flow, source, started_at, status, params) "
        "VALUES (?, ?, ?, now(), 'running', ?)",
        [run_id, flow, source, json.dumps(params, default=str)],
    )


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str,
               error: str | None = None) -> None:
    """Close a run's audit row with its final status."""
    con.execute(
        "UPDATE audit.etl_run SET finished_at = now(), status = ?, error = ? WHERE run_id = ?",
        [status, error, run_id],
    )


def price_watermarks(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Last loaded session per ticker (drives the next run's extract window)."""
    return query_frame(
        con,
        "SELECT ticker, max(session_date) AS last_session FROM core.fact_price_daily "
        "GROUP BY ticker",
    )


def read_prices(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All conformed prices (inside the run's transaction this includes its own writes)."""
    return query_frame(
        con, "SELECT ticker, session_date, adj_close, volume, source FROM core.fact_price_daily"
    )
