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


#: A fetched row's identity in raw.price_daily: its values, and the unparsed text when there
#: is some (a row that parsed hashes as before migration 0007, so it is never landed twice).
RAW_HASH = ("CASE WHEN unparsed IS NULL "
            "THEN hash(ticker, session_date, open, high, low, close, adj_close, volume, source) "
            "ELSE hash(ticker, session_date, open, high, low, close, adj_close, volume, source, "
            "unparsed) END")


def land_raw_prices(con: duckdb.DuckDBPyConnection, raw: pl.DataFrame, run_id: str) -> int:
    """Append fetched rows to raw.price_daily; a version already landed is not landed again."""
    _stage(con, "staged_raw", raw)
    return con.execute(
        f"""
        INSERT INTO raw.price_daily BY NAME
        SELECT s.*, ? AS run_id, {RAW_HASH} AS row_hash
        FROM staged_raw s
        WHERE {RAW_HASH} NOT IN (SELECT row_hash FROM raw.price_daily)
        """,
        [run_id],
    ).fetchall()[0][0]


def upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    key: tuple[str, ...],
    values: tuple[str, ...],
    run_id: str,
) -> dict:
    """MERGE rows into a core table by natural key; unchanged rows are left untouched.

    A row whose values did not change keeps its old run_id, so rerunning a day changes nothing.
    """
    _stage(con, "staged_upsert", frame.select(*key, *values).with_columns(run_id=pl.lit(run_id)))
    on = " AND ".join(f"t.{c} = s.{c}" for c in key)
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in values)
    assign = ", ".join(f"{c} = s.{c}" for c in (*values, "run_id"))
    rows = con.execute(
        f"""
        MERGE INTO {table} AS t USING staged_upsert AS s ON {on}
        WHEN MATCHED AND ({changed}) THEN UPDATE SET {assign}
        WHEN NOT MATCHED THEN INSERT BY NAME
        RETURNING merge_action
        """
    ).fetchall()
    actions = [r[0] for r in rows]
    return {"inserted": actions.count("INSERT"), "updated": actions.count("UPDATE")}


def upsert_prices(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, run_id: str) -> dict:
    """MERGE validated prices into core.fact_price_daily."""
    return upsert(con, "core.fact_price_daily", good, ("ticker", "session_date"), PRICE_VALUES,
                  run_id)


def upsert_shares(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, run_id: str) -> dict:
    """MERGE share counts into core.fact_shares_outstanding."""
    return upsert(con, "core.fact_shares_outstanding", good, ("ticker", "as_of_date"),
                  ("shares_outstanding", "source"), run_id)


def upsert_fx(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, run_id: str) -> dict:
    """MERGE FX rates into core.fact_fx_daily."""
    return upsert(con, "core.fact_fx_daily", good, ("currency", "session_date"),
                  ("usd_per_unit", "source"), run_id)


#: The columns of core.fact_price_intraday a MERGE compares and writes.
INTRADAY_VALUES = ("interval", "session_date", "open", "high", "low", "close", "volume",
                   "source")


def upsert_intraday(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, run_id: str) -> dict:
    """MERGE validated hourly bars into core.fact_price_intraday (a re-fetched bar of a session
    that had not closed is replaced; an unchanged one keeps its run)."""
    return upsert(con, "core.fact_price_intraday", good, ("ticker", "bar_start_utc"),
                  INTRADAY_VALUES, run_id)


def read_intraday(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All loaded hourly bars (inside the run's transaction this includes its own writes)."""
    return query_frame(
        con,
        "SELECT ticker, bar_start_utc, session_date, open, high, low, close, volume "
        "FROM core.fact_price_intraday ORDER BY ticker, bar_start_utc",
    ).with_columns(pl.col("bar_start_utc").cast(pl.Datetime("us", "UTC")))


def upsert_actions(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, run_id: str) -> dict:
    """MERGE corporate actions into core.fact_corporate_action."""
    return upsert(con, "core.fact_corporate_action", good, ("ticker", "ex_date", "action"),
                  ("value", "source"), run_id)


def _table_columns(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame
                   ) -> pl.DataFrame:
    """``frame``'s columns of ``table``, in the table's order; a missing one is an error."""
    columns = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        table.split("."),
    ).fetchall()]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: frame lacks column(s) {', '.join(missing)}")
    return frame.select(columns)


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Replace a derived table's rows (dims from seeds, sessions, marts) keeping its DDL.

    Only the table's own columns are taken from ``frame``; a missing one is an error.
    """
    _stage(con, "staged_replace", _table_columns(con, table, frame))
    con.execute(f"DELETE FROM {table}")
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM staged_replace")
    return frame.height


#: Columns that key a study's rows in the study-keyed marts (transforms/study_inputs.py).
STUDY_KEY = ("event_id", "anchor")


def replace_studies(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame,
                    studies: pl.DataFrame) -> int:
    """Replace the rows of ``studies`` (event_id, anchor) in a study-keyed mart by ``frame``'s.

    Every study of ``studies`` loses its old rows (a study rebuilt with no rows, or one whose
    event left the catalog, ends with none); ``frame`` must hold rows of those studies only.
    Other studies' rows are untouched. Returns the rows inserted.
    """
    stray = frame.select(STUDY_KEY).unique().join(studies.select(STUDY_KEY), on=list(STUDY_KEY),
                                                  how="anti")
    if stray.height:
        raise ValueError(f"{table}: rows of studies not being replaced: "
                         f"{stray.head(3).rows()}")
    _stage(con, "staged_studies", studies.select(STUDY_KEY).unique())
    con.execute(f"DELETE FROM {table} t USING staged_studies s "
                "WHERE t.event_id = s.event_id AND t.anchor = s.anchor")
    if frame.height == 0:
        return 0
    _stage(con, "staged_replace", _table_columns(con, table, frame))
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM staged_replace")
    return frame.height


def read_fingerprints(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """audit.study_fingerprint: event_id, anchor, fingerprint of every study built."""
    return query_frame(con, "SELECT event_id, anchor, fingerprint FROM audit.study_fingerprint"
                            " ORDER BY event_id, anchor").cast({"fingerprint": pl.UInt64})


def write_fingerprints(con: duckdb.DuckDBPyConnection, run_id: str, built: pl.DataFrame,
                       gone: pl.DataFrame) -> None:
    """Record the fingerprints of the studies just ``built``; forget those ``gone``."""
    _stage(con, "staged_gone", pl.concat([gone.select(STUDY_KEY),
                                          built.select(STUDY_KEY)]).unique())
    con.execute("DELETE FROM audit.study_fingerprint f USING staged_gone g "
                "WHERE f.event_id = g.event_id AND f.anchor = g.anchor")
    if built.height:
        _stage(con, "staged_fp", built.select(*STUDY_KEY, "fingerprint")
               .with_columns(run_id=pl.lit(run_id)))
        con.execute("INSERT INTO audit.study_fingerprint BY NAME SELECT * FROM staged_fp")


#: Key of row_json that keeps the float values JSON cannot: {"open": "NaN", "close": null}.
NON_FINITE_KEY = "_non_finite"


def row_json(body: pl.DataFrame) -> pl.Series:
    """Each row as JSON. JSON has no NaN or infinity: such a value is written null and kept,
    as text ("NaN", "Infinity", "-Infinity"), under ``NON_FINITE_KEY``, so a replay can
    rebuild the row exactly (flows/quarantine_cmd.py)."""
    floats = [c for c, t in body.schema.items() if t.is_float()]
    kept = {
        c: pl.when(pl.col(c).is_nan()).then(pl.lit("NaN"))
        .when(pl.col(c).is_infinite() & (pl.col(c) > 0)).then(pl.lit("Infinity"))
        .when(pl.col(c).is_infinite()).then(pl.lit("-Infinity"))
        for c in floats
    }
    fields = [pl.all(), pl.struct(**kept).alias(NON_FINITE_KEY)] if floats else [pl.all()]
    return body.select(pl.struct(*fields).struct.json_encode()).to_series()


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
            "row_json": row_json(body),
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
    """Record a run as started (committed on its own, so a crash still leaves a trace).

    The caller holds the warehouse's only write lock, so any run still marked 'running' died
    without finishing (killed or crashed): it is marked 'abandoned'.
    """
    con.execute(
        "UPDATE audit.etl_run SET status = 'abandoned', finished_at = now(), "
        "error = 'process ended without finishing the run' WHERE status = 'running'"
    )
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


def price_watermarks(con: duckdb.DuckDBPyConnection, source: str | None = None) -> pl.DataFrame:
    """Last loaded session per ticker (drives the next run's extract window); with ``source``,
    only rows that source delivered count (a switch of source refetches history once)."""
    where, params = ("WHERE source = ? ", [source]) if source is not None else ("", None)
    return query_frame(
        con,
        "SELECT ticker, max(session_date) AS last_session FROM core.fact_price_daily "
        f"{where}GROUP BY ticker",
        params,
    )


def read_prices(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All conformed prices (inside the run's transaction this includes its own writes)."""
    return query_frame(
        con,
        "SELECT ticker, session_date, open, high, low, close, adj_close, volume, source "
        "FROM core.fact_price_daily ORDER BY ticker, session_date",
    )


def read_shares(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All share counts (ticker, as_of_date, shares_outstanding)."""
    return query_frame(
        con,
        "SELECT ticker, as_of_date, shares_outstanding FROM core.fact_shares_outstanding "
        "ORDER BY ticker, as_of_date",
    )


def read_fx(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All FX rates (currency, session_date, usd_per_unit)."""
    return query_frame(
        con,
        "SELECT currency, session_date, usd_per_unit FROM core.fact_fx_daily "
        "ORDER BY currency, session_date",
    )
