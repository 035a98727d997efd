"""The SQL side of audit.quarantine: listing quarantined rows, reading the open ones for a
replay, and marking them resolved (``flows.quarantine_cmd`` holds the replay itself).

A quarantined row is *open* until a replay resolves it (migration 0003 added
``resolved_run_id``, ``resolved_at`` and ``resolution``): ``replayed`` when it passed the
current suite and was loaded, ``superseded`` when a newer version of its key was loaded
first. Rows are never deleted. A warehouse from before migration 0003 (opened read-only, so
not migrated) lists every row as open.
"""

from __future__ import annotations

import duckdb
import polars as pl

from warehouse.connection import query_frame

__all__ = [
    "LIST_COLUMNS",
    "core_runs",
    "has_resolution",
    "list_quarantine",
    "open_rows",
    "resolve",
]

#: Columns of :func:`list_quarantine`, in order.
LIST_COLUMNS = ("run_id", "dataset", "row_key", "reasons", "quarantined_at", "status",
                "resolved_run_id", "row_json")


#: Columns of :func:`open_rows`.
OPEN_COLUMNS: dict[str, pl.DataType] = {
    "qid": pl.Int64(),
    "run_id": pl.String(),
    "row_key": pl.String(),
    "row_json": pl.String(),
    "reasons": pl.List(pl.String()),
    "quarantined_at": pl.Datetime("us", "UTC"),
    "run_started_at": pl.Datetime("us", "UTC"),
}


def has_resolution(con: duckdb.DuckDBPyConnection) -> bool:
    """True when audit.quarantine has the resolution columns (migration 0003)."""
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'audit' "
            "AND table_name = 'quarantine' AND column_name = 'resolved_run_id'"
        ).fetchall()[0][0]
    )


def list_quarantine(
    con: duckdb.DuckDBPyConnection,
    dataset: str | None = None,
    run_id: str | None = None,
    *,
    include_resolved: bool = False,
) -> pl.DataFrame:
    """Quarantined rows, newest first: ``LIST_COLUMNS`` (reasons joined with ', ').

    ``dataset`` / ``run_id`` filter exactly; ``run_id`` is the run that quarantined the row.
    Resolved rows are left out unless ``include_resolved``.
    """
    resolution = has_resolution(con)
    status = "coalesce(q.resolution, 'open')" if resolution else "'open'"
    resolved = "q.resolved_run_id" if resolution else "CAST(NULL AS VARCHAR)"
    where, params = ["TRUE"], []
    if dataset is not None:
        where.append("q.dataset = ?")
        params.append(dataset)
    if run_id is not None:
        where.append("q.run_id = ?")
        params.append(run_id)
    if resolution and not include_resolved:
        where.append("q.resolved_run_id IS NULL")
    sql = f"""
        SELECT q.run_id, q.dataset, q.row_key, array_to_string(q.reasons, ', ') AS reasons,
               q.quarantined_at, {status} AS status, {resolved} AS resolved_run_id,
               CAST(q.row_json AS VARCHAR) AS row_json
        FROM audit.quarantine q
        WHERE {' AND '.join(where)}
        ORDER BY q.quarantined_at DESC, q.dataset, q.row_key
    """
    frame = query_frame(con, sql, params)
    if frame.width == 0:  # DuckDB gives no columns for an empty result through polars
        return pl.DataFrame(schema=dict.fromkeys(LIST_COLUMNS, pl.String))
    return frame


def open_rows(con: duckdb.DuckDBPyConnection, dataset: str) -> pl.DataFrame:
    """The open quarantined rows of ``dataset`` with their identity and their run's start.

    Columns: qid (the row's DuckDB rowid: stable within the replay's transaction), run_id,
    row_key, row_json, reasons, quarantined_at, run_started_at (audit.etl_run.started_at of
    the quarantining run; null if that run row is gone).
    """
    frame = query_frame(
        con,
        """
        SELECT q.rowid AS qid, q.run_id, q.row_key, CAST(q.row_json AS VARCHAR) AS row_json,
               q.reasons, q.quarantined_at, r.started_at AS run_started_at
        FROM audit.quarantine q LEFT JOIN audit.etl_run r USING (run_id)
        WHERE q.dataset = ? AND q.resolved_run_id IS NULL
        ORDER BY q.rowid
        """,
        [dataset],
    )
    if frame.width == 0:
        return pl.DataFrame(schema=OPEN_COLUMNS)
    return _utc(frame, "quarantined_at", "run_started_at")


def core_runs(
    con: duckdb.DuckDBPyConnection, table: str, key: list[str], keys: pl.DataFrame
) -> pl.DataFrame:
    """For each key in ``keys`` that ``table`` holds: the run that wrote it and when it began.

    Columns: the key columns, core_run_id, core_run_started_at.
    """
    if keys.height == 0:
        return keys.select(key).with_columns(
            core_run_id=pl.lit(None, pl.String),
            core_run_started_at=pl.lit(None, pl.Datetime("us", "UTC")),
        )
    con.register("replay_keys", keys.select(key).unique().to_arrow())
    try:
        on = " AND ".join(f"t.{k} = k.{k}" for k in key)
        cols = ", ".join(f"k.{k}" for k in key)
        frame = query_frame(
            con,
            f"""
            SELECT {cols}, t.run_id AS core_run_id, r.started_at AS core_run_started_at
            FROM replay_keys k JOIN {table} t ON {on}
            LEFT JOIN audit.etl_run r ON r.run_id = t.run_id
            """,
        )
    finally:
        con.unregister("replay_keys")
    if frame.width == 0:
        return keys.select(key).clear().with_columns(
            core_run_id=pl.lit(None, pl.String),
            core_run_started_at=pl.lit(None, pl.Datetime("us", "UTC")),
        )
    return _utc(frame, "core_run_started_at")


def _utc(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """DuckDB hands TIMESTAMPTZ over in the session's zone: make them plain UTC."""
    return frame.with_columns(
        pl.col(c).cast(pl.Datetime("us", "UTC")).dt.convert_time_zone("UTC") for c in columns
    )


def resolve(
    con: duckdb.DuckDBPyConnection, qids: list[int], run_id: str, resolution: str
) -> int:
    """Close the quarantined rows ``qids`` (rowids from :func:`open_rows`) as ``resolution``."""
    if resolution not in ("replayed", "superseded"):
        raise ValueError(f"resolution must be 'replayed' or 'superseded', not {resolution!r}")
    if not qids:
        return 0
    con.register("resolved_ids", pl.DataFrame({"qid": qids}, schema={"qid": pl.Int64}).to_arrow())
    try:
        con.execute(
            "UPDATE audit.quarantine SET resolved_run_id = ?, resolved_at = now(), "
            "resolution = ? WHERE resolved_run_id IS NULL "
            "AND rowid IN (SELECT qid FROM resolved_ids)",
            [run_id, resolution],
        )
    finally:
        con.unregister("resolved_ids")
    return len(qids)
