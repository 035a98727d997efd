"""Opening the warehouse: one writer at a time, clear errors, schema applied on first use."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

DEFAULT_WAREHOUSE = "data/aftershock.duckdb"
SCHEMA_VERSION = 1


class WarehouseError(RuntimeError):
    """The warehouse cannot be opened or written; the message names the path and the cause."""


def resolve(path: str | os.PathLike | None) -> str:
    """The warehouse location: the argument, else $AFTERSHOCK_WAREHOUSE, else the default."""
    return str(path or os.environ.get("AFTERSHOCK_WAREHOUSE") or DEFAULT_WAREHOUSE)


def _is_file(target: str) -> bool:
    return ":" not in target.split("/")[0] or re.match(r"^[A-Za-z]:\\", target) is not None


def _explain(target: str, exc: Exception) -> WarehouseError:
    text = str(exc).splitlines()[0]
    if "lock" in text.lower():
        holder = re.search(r"PID (\d+)", str(exc))
        who = f" (held by PID {holder.group(1)})" if holder else ""
        return WarehouseError(f"warehouse {target} is in use by another process{who}")
    if "not a valid duckdb" in text.lower() or "corrupt" in text.lower():
        return WarehouseError(f"warehouse {target} is not a readable DuckDB file: {text}")
    return WarehouseError(f"cannot open warehouse {target}: {text}")


def connect(path: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """A writable connection with the schema applied (creating the file if needed)."""
    target = resolve(path)
    if _is_file(target):
        folder = Path(target).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(
                f"cannot create warehouse folder {folder}: {exc.strerror}"
            ) from None
        if not os.access(folder, os.W_OK) or (
            Path(target).exists() and not os.access(target, os.W_OK)
        ):
            raise WarehouseError(f"warehouse path {target} is not writable")
    try:
        con = duckdb.connect(target)
    except duckdb.Error as exc:
        raise _explain(target, exc) from None
    apply_schema(con)
    return con


def connect_read_only(path: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection with no access to files, extensions or the network.

    Refuses to create a missing warehouse. The configuration is locked, so SQL cannot turn
    external access back on.
    """
    target = resolve(path)
    if _is_file(target) and not Path(target).exists():
        raise WarehouseError(
            f"no warehouse at {target}: run `aftershock run` first or pass --warehouse"
        )
    config = {
        "enable_external_access": False,
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "lock_configuration": True,
    }
    try:
        return duckdb.connect(target, read_only=True, config=config)
    except duckdb.Error as exc:
        raise _explain(target, exc) from None


#: Statement types a user query may run: reading, and explaining a read.
READ_STATEMENTS = ("SELECT", "EXPLAIN")


class QueryRefused(WarehouseError):
    """A user query tried to do more than read."""


def run_user_query(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """Run one read-only statement (SELECT/EXPLAIN) and return its rows; refuse anything else."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"query failed: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryRefused(f"one statement at a time, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in READ_STATEMENTS:
        raise QueryRefused(f"{kind} statements are refused: queries are read-only (SELECT only)")
    try:
        return query_frame(con, sql)
    except duckdb.Error as exc:
        text = str(exc).splitlines()[0]
        if "external access" in text.lower() or "permission" in text.lower():
            raise QueryRefused(
                f"reading files, extensions or URLs is refused in queries ({text})"
            ) from None
        raise QueryRefused(f"query failed: {text}") from None


def apply_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create schemas and tables if missing (idempotent) and record the schema version."""
    for name in ("schema.sql", "marts.sql"):
        con.execute(resources.files("warehouse").joinpath(name).read_text())
    newest = con.execute("SELECT max(version) FROM audit.schema_version").fetchall()[0][0]
    if newest is not None and newest > SCHEMA_VERSION:
        raise WarehouseError(
            f"warehouse schema version {newest} is newer than this Aftershock "
            f"({SCHEMA_VERSION}); upgrade Aftershock"
        )
    if newest is None:
        con.execute(
            "INSERT INTO audit.schema_version VALUES (?, now())", [SCHEMA_VERSION]
        )


def query_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
) -> pl.DataFrame:
    """Run SQL and return its result as a polars frame (empty when it returns no rows)."""
    relation = con.sql(sql, params=params) if params else con.sql(sql)
    if relation is None:  # a statement without a result set
        return pl.DataFrame()
    return relation.pl()


def table_checksums(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> dict[str, tuple]:
    """(row count, order-independent content hash) of every table in ``schemas``.

    Used to prove that reruns change nothing and failed runs leave the warehouse as it was.
    """
    tables = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        f"WHERE schema_name IN ({', '.join('?' for _ in schemas)}) ORDER BY 1",
        list(schemas),
    ).fetchall()
    return {
        name: con.execute(f"SELECT count(*), sum(hash(t)) FROM {name} AS t").fetchall()[0]
        for (name,) in tables
    }
