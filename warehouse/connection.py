"""Opening the warehouse: one writer at a time, clear errors, schema applied on first use."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

DEFAULT_WAREHOUSE = "data/aftershock.duckdb"
#: DDL of the derived marts schema, re-created whenever any of these files changes.
DERIVED_DDL = ("marts.sql", "news_marts.sql")


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


def connect(
    path: str | os.PathLike | None = None, *, lock_timeout: float | None = None
) -> duckdb.DuckDBPyConnection:
    """A writable connection with the schema migrated to this version of Aftershock.

    DuckDB allows one writing process per file: if another run holds it, wait up to
    ``lock_timeout`` seconds (default $AFTERSHOCK_LOCK_TIMEOUT or 30) for it to finish, then
    fail naming the holder.
    """
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
    if lock_timeout is None:
        lock_timeout = float(os.environ.get("AFTERSHOCK_LOCK_TIMEOUT", "30"))
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            con = duckdb.connect(target)
            break
        except duckdb.Error as exc:
            error = _explain(target, exc)
            if "in use by another process" not in str(error) or time.monotonic() >= deadline:
                if "in use" in str(error):
                    error = WarehouseError(f"{error}; gave up after waiting {lock_timeout:g} s")
                raise error from None
            time.sleep(0.25)
    try:
        migrate(con)
    except BaseException:
        con.close()
        raise
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


#: Seconds a person's query may run before it is interrupted (``aftershock query --timeout``),
#: so a runaway read cannot hold the warehouse file while the schedule waits for it.
QUERY_TIMEOUT_S = 60.0


def run_user_query(con: duckdb.DuckDBPyConnection, sql: str,
                   timeout_s: float | None = QUERY_TIMEOUT_S) -> pl.DataFrame:
    """Run one read-only statement (SELECT/EXPLAIN) and return all its rows; refuse anything
    else. A statement still running after ``timeout_s`` seconds is interrupted (None: no
    limit). For results of any size, :func:`stream_user_query`."""
    chunks = list(stream_user_query(con, sql, timeout_s))
    return pl.concat(chunks) if len(chunks) > 1 else chunks[0]


#: Rows per chunk of a streamed query result.
STREAM_ROWS = 50_000


def stream_user_query(con: duckdb.DuckDBPyConnection, sql: str,
                      timeout_s: float | None = QUERY_TIMEOUT_S,
                      chunk_rows: int = STREAM_ROWS) -> Iterator[pl.DataFrame]:
    """Like :func:`run_user_query`, but yield the rows in frames of at most ``chunk_rows``,
    read from DuckDB as they are produced, so a result larger than memory can be printed. The
    first frame always comes (empty for no rows) and carries the result's columns; the time
    limit covers the whole read, printing included."""
    statements = _one_read_statement(con, sql)
    timer = threading.Timer(timeout_s, con.interrupt) if timeout_s else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        relation = con.sql(statements)
        if relation is None:
            yield pl.DataFrame()
            return
        reader = _printable(relation).to_arrow_reader(chunk_rows)
        first = True
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (OSError, pa.ArrowException) as exc:  # DuckDB's error, through Arrow
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                if "INTERRUPT" in text:
                    raise duckdb.InterruptException(text) from None
                raise QueryRefused(f"query failed: {text}") from None
            frame = pl.from_arrow(batch)
            if first or frame.height:
                yield frame
            first = False
        if first:
            yield pl.from_arrow(reader.schema.empty_table())
    except duckdb.InterruptException:
        raise QueryRefused(f"query stopped after {timeout_s:g} s (raise the limit with "
                           "--timeout, or 0 for none)") from None
    except duckdb.Error as exc:
        text = str(exc).splitlines()[0]
        if "external access" in text.lower() or "permission" in text.lower():
            raise QueryRefused(
                f"reading files, extensions or URLs is refused in queries ({text})"
            ) from None
        raise QueryRefused(f"query failed: {text}") from None
    finally:
        if timer is not None:
            timer.cancel()


def _one_read_statement(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """``sql`` when it is exactly one SELECT or EXPLAIN; else QueryRefused saying why."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"query failed: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryRefused(f"one statement at a time, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in READ_STATEMENTS:
        raise QueryRefused(f"{kind} statements are refused: queries are read-only (SELECT only)")
    return sql


def _printable(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """The relation with every column polars cannot hold (INTERVAL, alone or nested) as the
    text DuckDB prints for it, so any query's result prints in every format."""
    if not any("INTERVAL" in str(t) for t in relation.types):
        return relation
    cols = []
    for name, kind in zip(relation.columns, relation.types, strict=True):
        quoted = '"' + name.replace('"', '""') + '"'
        cols.append(f"CAST({quoted} AS VARCHAR) AS {quoted}" if "INTERVAL" in str(kind)
                    else quoted)
    return relation.project(", ".join(cols))


def _migrations(folder: Path | None = None) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration, in order. Version 1 is schema.sql."""
    root = Path(str(resources.files("warehouse")))
    folder = folder or root / "migrations"
    found = [(1, "schema.sql", (root / "schema.sql").read_text())]
    for file in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        found.append((int(file.name[:4]), file.name, file.read_text()))
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise WarehouseError(f"migration files are not numbered 0002, 0003, …: {versions}")
    return found


def migrate(con: duckdb.DuckDBPyConnection, folder: Path | None = None) -> int:
    """Bring the warehouse to this version: apply newer migrations in order, in one transaction.

    Stateful schemas (raw, core, audit) change only through numbered migration files, so an
    older warehouse is upgraded in place with its data. Marts are derived: when marts.sql
    changes they are dropped and re-created empty, the study fingerprints are cleared, and
    the next run rebuilds every study.
    """
    steps = _migrations(folder)
    newest = steps[-1][0]
    has_table = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE schema_name = 'audit' AND table_name = 'schema_version'"
    ).fetchall()[0][0]
    current = 0
    if has_table:
        current = con.execute("SELECT max(version) FROM audit.schema_version").fetchall()[0][0]
        current = current or 0
    if current > newest:
        raise WarehouseError(
            f"warehouse schema version {current} is newer than this Aftershock ({newest}); "
            "upgrade Aftershock"
        )
    marts_sql = "\n".join(
        resources.files("warehouse").joinpath(name).read_text() for name in DERIVED_DDL
    )
    marts_hash = hashlib.sha256(marts_sql.encode()).hexdigest()
    con.execute("BEGIN TRANSACTION")
    try:
        for version, _name, sql in steps:
            if version > current:
                con.execute(sql)
                con.execute(
                    "INSERT INTO audit.schema_version (version, applied_at) VALUES (?, now())",
                    [version],
                )
        con.execute(
            "CREATE TABLE IF NOT EXISTS audit.ddl_state (name VARCHAR PRIMARY KEY, "
            "sha256 VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        stored = con.execute(
            "SELECT sha256 FROM audit.ddl_state WHERE name = 'marts.sql'"
        ).fetchall()
        if not stored or stored[0][0] != marts_hash:
            for (table,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'"
            ).fetchall():
                con.execute(f'DROP TABLE marts."{table}"')
            con.execute(marts_sql)
            # the marts are empty again: every study must be rebuilt (transforms/study_inputs)
            con.execute("DELETE FROM audit.study_fingerprint")
            con.execute(
                "INSERT OR REPLACE INTO audit.ddl_state VALUES ('marts.sql', ?, now())",
                [marts_hash],
            )
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise WarehouseError(f"cannot migrate warehouse: {str(exc).splitlines()[0]}") from None
    return newest


def query_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
) -> pl.DataFrame:
    """Run SQL and return its result as a polars frame (empty when it returns no rows)."""
    relation = con.sql(sql, params=params) if params else con.sql(sql)
    if relation is None:  # a statement without a result set
        return pl.DataFrame()
    return relation.pl()


def table_checksums(
    con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...], ignore: tuple[str, ...] = ()
) -> dict[str, tuple]:
    """(row count, order-independent content hash) of every table in ``schemas``.

    Used to prove that reruns change nothing and failed runs leave the warehouse as it was;
    ``ignore`` leaves out columns that legitimately differ between two runs (e.g. run_id).
    """
    columns = con.execute(
        "SELECT table_schema || '.' || table_name, list(column_name ORDER BY ordinal_position) "
        "FROM information_schema.columns "
        f"WHERE table_schema IN ({', '.join('?' for _ in schemas)}) GROUP BY 1 ORDER BY 1",
        list(schemas),
    ).fetchall()
    sums = {}
    for name, cols in columns:
        kept = ", ".join(f'"{c}"' for c in cols if c not in ignore) or "1"
        sums[name] = con.execute(
            f"SELECT count(*), sum(hash(t)) FROM (SELECT {kept} FROM {name}) AS t"
        ).fetchall()[0]
    return sums
