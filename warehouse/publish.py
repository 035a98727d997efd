"""Publishing the serving copy: what BI tools, notebooks and the report read.

DuckDB lets one process write a file, and a reader in another process blocks that writer (and
the reverse). So the ETL never shares its writable warehouse: after each successful run it
publishes

* ``<serving_dir>/aftershock.duckdb`` — every ``marts`` table, every ``core`` table (dimensions
  and facts: prices, FX, share counts, corporate actions, news) and the quality record of the
  run that built them (``audit.*``), comments included, written in DuckDB's ``v1.4.0`` storage
  format so BI tools embedding DuckDB 1.4 (Evidence, duckdb-engine on an older wheel, the
  Metabase driver) can open it. The path is a symlink to ``aftershock-<run_id>.duckdb``: each
  publish builds ``aftershock-<run_id>.duckdb.tmp`` beside it, checkpoints, detaches and fsyncs
  it, renames it to its versioned name and then swaps the link (``os.replace``: atomic on
  POSIX). A reader that opened the old copy keeps reading the old file; a reader that opens the
  path after the swap gets the new one -- also inside a process that still holds a connection
  to the old copy: DuckDB caches one database instance per *resolved* file path and process,
  so with a plain file renamed over the old one such a process would be handed the old
  instance for ever (pooled BI clients, notebooks), while a new versioned file is a new path.
  Nobody ever sees a half-written file. The previous ``KEEP_VERSIONS - 1`` files are kept.
* ``<serving_dir>/parquet/<schema>.<table>.parquet`` — the same tables as Parquet. ``parquet`` is
  a symlink to a versioned folder ``parquet-<run_id>/``: the new folder is written in full, then
  the link is swapped by an atomic rename. Renaming file by file would let a reader that reads
  several files (``marts.event_reaction`` then ``marts.event_window``) mix two runs; with the
  link, a reader that resolves the folder once sees one run in every file. The previous
  ``KEEP_VERSIONS - 1`` folders are kept so readers that resolved the old link finish.

``audit.serving_manifest`` in the serving copy names the run and, per table, its row count and
checksum (DuckDB ``sum(hash(row))`` at publish time), so a reader can check what it sees.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

#: File name of the serving copy inside the serving folder.
SERVING_FILE = "aftershock.duckdb"
#: DuckDB storage format of the serving copy. DuckDB 2.0 writes storage version 999 by default,
#: which DuckDB 1.4 (Evidence's connector, many BI drivers) refuses; v1.4.0 it reads.
STORAGE_VERSION = "v1.4.0"
#: How many versioned serving files and Parquet folders stay on disk (the live one and the one
#: before it, for readers that resolved the link just before a swap).
KEEP_VERSIONS = 2
#: Audit tables copied for the run that built the serving copy (the report's quality panel).
RUN_AUDIT_TABLES = ("etl_run", "etl_run_count", "validation_result", "quarantine",
                    "extract_status")

MANIFEST_DDL = """
CREATE TABLE serving.audit.serving_manifest (
    run_id VARCHAR NOT NULL, run_status VARCHAR, published_at TIMESTAMPTZ NOT NULL,
    storage_version VARCHAR NOT NULL, table_name VARCHAR NOT NULL, row_count BIGINT NOT NULL,
    checksum HUGEINT
)
"""
MANIFEST_COMMENTS = {
    None: "What this serving copy holds: one row per published table, all from one run.",
    "run_id": "The ETL run (audit.etl_run.run_id) whose committed warehouse was published.",
    "run_status": "That run's status when it was published (success or partial).",
    "published_at": "When the serving copy was built (UTC).",
    "storage_version": "DuckDB storage format of this file (readable by DuckDB >= that version).",
    "table_name": "schema.table of the published table.",
    "row_count": "Rows in the table.",
    "checksum": "sum(hash(row)) over the table at publish time (DuckDB's hash; order-free).",
}


def serving_dir_for(warehouse: str | os.PathLike | None = None) -> Path:
    """The serving folder of a warehouse: ``serving/`` beside the warehouse file
    (``data/serving`` for the default ``data/aftershock.duckdb``, and for non-file targets)."""
    from warehouse.connection import _is_file, resolve

    target = resolve(warehouse)
    base = Path(target).parent if _is_file(target) else Path("data")
    return base / "serving"


def serving_file_for(warehouse: str | os.PathLike | None = None) -> Path:
    """The serving copy of a warehouse (``<serving dir>/aftershock.duckdb``)."""
    return serving_dir_for(warehouse) / SERVING_FILE


class PublishError(RuntimeError):
    """The serving copy could not be published; the previous one is still in place."""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def published_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, table) of every table the serving copy holds: marts.* and core.*."""
    return [
        (s, t)
        for s, t in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name IN ('core', 'marts') "
            "ORDER BY 1, 2"
        ).fetchall()
    ]


def latest_run(con: duckdb.DuckDBPyConnection) -> tuple[str, str | None]:
    """The newest run that did not fail (run ids start with their UTC start time)."""
    row = con.execute(
        "SELECT run_id, status FROM audit.etl_run WHERE status <> 'failed' "
        "ORDER BY run_id DESC LIMIT 1"
    ).fetchall()
    if not row:
        raise PublishError("nothing to publish: the warehouse has no successful run")
    return row[0][0], row[0][1]


def _create_like(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                 where: str | None = None, params: list | None = None) -> None:
    """Re-create ``schema.table`` in the attached ``serving`` database with its rows and comments.

    The DDL is rebuilt from the catalog (types, NOT NULL, primary key) so the copy keeps the
    constraints BI tools show. JSON columns become VARCHAR: JSON is an extension type and a
    reader without the json extension (offline, or a BI tool's embedded DuckDB) could not open
    the table otherwise.
    """
    columns = con.execute(
        "SELECT column_name, data_type, is_nullable, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
        "ORDER BY column_index",
        [schema, table],
    ).fetchall()
    keys = con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
        "AND constraint_type = 'PRIMARY KEY'",
        [schema, table],
    ).fetchall()
    comment = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?",
        [schema, table],
    ).fetchall()[0][0]
    target = f"serving.{_q(schema)}.{_q(table)}"
    parts = [
        f"{_q(name)} {'VARCHAR' if dtype == 'JSON' else dtype}"
        + ("" if nullable else " NOT NULL")
        for name, dtype, nullable, _ in columns
    ]
    if keys and where is None:
        parts.append("PRIMARY KEY (" + ", ".join(_q(c) for c in keys[0][0]) + ")")
    con.execute(f"CREATE TABLE {target} ({', '.join(parts)})")
    select = ", ".join(
        f"{_q(name)}::VARCHAR" if dtype == "JSON" else _q(name) for name, dtype, _, _ in columns
    )
    con.execute(
        f"INSERT INTO {target} SELECT {select} FROM {_q(schema)}.{_q(table)}"
        + (f" WHERE {where}" if where else ""),
        params or [],
    )
    if comment:
        con.execute(f"COMMENT ON TABLE {target} IS {_lit(comment)}")
    for name, _, _, text in columns:
        if text:
            con.execute(f"COMMENT ON COLUMN {target}.{_q(name)} IS {_lit(text)}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _build_duckdb(con: duckdb.DuckDBPyConnection, tmp: Path, tables: list[tuple[str, str]],
                  run_id: str, run_status: str | None, storage_version: str) -> list[tuple]:
    con.execute(
        f"ATTACH {_lit(str(tmp))} AS serving (STORAGE_VERSION {_lit(storage_version)})"
    )
    try:
        for schema in ("core", "marts", "audit"):
            con.execute(f"CREATE SCHEMA serving.{schema}")
        for schema, table in tables:
            _create_like(con, schema, table)
        for table in RUN_AUDIT_TABLES:
            if _exists(con, "audit", table):
                _create_like(con, "audit", table, where="run_id = ?", params=[run_id])
        published_at = datetime.now(UTC)
        manifest = []
        for schema, table in [*tables, *(("audit", t) for t in RUN_AUDIT_TABLES)]:
            if not _exists(con, schema, table, "serving"):
                continue
            rows, checksum = con.execute(
                f"SELECT count(*), sum(hash(t)) FROM serving.{_q(schema)}.{_q(table)} AS t"
            ).fetchall()[0]
            manifest.append((run_id, run_status, published_at, storage_version,
                             f"{schema}.{table}", rows, checksum))
        con.execute(MANIFEST_DDL)
        con.executemany(
            "INSERT INTO serving.audit.serving_manifest VALUES (?, ?, ?, ?, ?, ?, ?)", manifest
        )
        for column, text in MANIFEST_COMMENTS.items():
            target = "serving.audit.serving_manifest"
            if column is None:
                con.execute(f"COMMENT ON TABLE {target} IS {_lit(text)}")
            else:
                con.execute(f"COMMENT ON COLUMN {target}.{column} IS {_lit(text)}")
        con.execute("CHECKPOINT serving")
    finally:
        con.execute("DETACH serving")
    return manifest


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str,
            database: str | None = None) -> bool:
    database_sql = "?" if database else "current_database()"
    params = [database] if database else []
    return bool(
        con.execute(
            f"SELECT count(*) FROM duckdb_tables() WHERE database_name = {database_sql} "
            "AND schema_name = ? AND table_name = ?",
            [*params, schema, table],
        ).fetchall()[0][0]
    )


def _write_parquet(con: duckdb.DuckDBPyConnection, folder: Path,
                   tables: list[tuple[str, str]], run_id: str) -> list[str]:
    folder.mkdir(parents=True)
    written = []
    for schema, table in tables:
        comments = dict(
            con.execute(
                "SELECT column_name, comment FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = ? "
                "AND table_name = ? AND comment IS NOT NULL",
                [schema, table],
            ).fetchall()
        )
        meta = {"aftershock.run_id": run_id,
                "aftershock.column_comments": json.dumps(comments, ensure_ascii=False)}
        kv = ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in meta.items())
        target = folder / f"{schema}.{table}.parquet"
        con.execute(
            f"COPY {_q(schema)}.{_q(table)} TO {_lit(str(target))} "
            f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{kv}}})"
        )
        _fsync(target)
        written.append(target.name)
    _fsync(folder)
    return written


def _swap_link(link: Path, target_name: str) -> None:
    """Point ``link`` at ``target_name`` (a sibling) in one atomic rename (a plain file of an
    older layout is replaced in the same rename)."""
    if link.is_dir() and not link.is_symlink():  # a plain folder from an older layout
        legacy = link.with_name(f"{link.name}-legacy-{int(time.time())}")
        os.replace(link, legacy)
    tmp_link = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(target_name, tmp_link)
    os.replace(tmp_link, link)


def _prune(serving: Path, prefix: str, keep: set[str], suffix: str = "") -> None:
    for path in serving.glob(prefix + "*" + suffix):
        if path.name not in keep:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def publish(
    con: duckdb.DuckDBPyConnection,
    serving_dir: str | os.PathLike,
    run_id: str | None = None,
    *,
    storage_version: str = STORAGE_VERSION,
    parquet: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> dict:
    """Publish the serving copy and Parquet files from the committed warehouse behind ``con``.

    Call it with the run's writable connection after the run's transaction has committed
    (outside any transaction). ``run_id`` defaults to the newest run that did not fail.
    Returns what was published: path, run, storage version, per-table row counts, Parquet
    folder and seconds taken. On failure the previous serving copy stays in place and the
    temporary files are removed. ``on_step(name)`` is called between steps ('built', before
    the new copy replaces the old) so the flow can hook its fault-injection points in.
    """
    started = time.perf_counter()
    if run_id is None:
        run_id, run_status = latest_run(con)
    else:
        row = con.execute("SELECT status FROM audit.etl_run WHERE run_id = ?",
                          [run_id]).fetchall()
        run_status = row[0][0] if row else None
    serving = Path(serving_dir)
    try:
        serving.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot create serving folder {serving}: {exc.strerror}") from None
    tables = published_tables(con)
    if not tables:
        raise PublishError("nothing to publish: the warehouse has no marts or core tables")
    target = serving / SERVING_FILE
    stem = Path(SERVING_FILE).stem
    # left over by a publish that crashed (one writer at a time: the warehouse lock), in this
    # layout and in the one before versioned files (aftershock.duckdb.tmp-<run>)
    _prune(serving, f"{stem}-", keep=set(), suffix=".tmp")
    _prune(serving, f"{stem}-", keep=set(), suffix=".tmp.wal")
    _prune(serving, f"{SERVING_FILE}.tmp-", keep=set())
    version, n = f"{stem}-{run_id}.duckdb", 1
    while (serving / version).exists():  # republishing a run: never touch the live file
        n += 1
        version = f"{stem}-{run_id}.{n}.duckdb"
    tmp = serving / f"{version}.tmp"
    try:
        manifest = _build_duckdb(con, tmp, tables, run_id, run_status, storage_version)
        if on_step is not None:
            on_step("built")
        wal = tmp.with_name(tmp.name + ".wal")
        if wal.exists():  # a checkpointed, detached database leaves none; be sure
            raise PublishError(f"serving copy {tmp} still has a WAL after checkpoint")
        _fsync(tmp)
        os.replace(tmp, serving / version)
        _swap_link(target, version)
        _fsync(serving)
    except (duckdb.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        raise PublishError(
            f"could not publish {target}: {str(exc).splitlines()[0]}"
        ) from None
    _prune(serving, f"{stem}-", keep=_newest(serving, f"{stem}-*.duckdb", version),
           suffix=".duckdb")
    result = {
        "path": str(target),
        "file": str(serving / version),
        "run_id": run_id,
        "run_status": run_status,
        "storage_version": storage_version,
        "tables": {name: rows for _, _, _, _, name, rows, _ in manifest},
    }
    if parquet:
        version, n = f"parquet-{run_id}", 1
        while (serving / version).exists():  # republishing a run: never touch the live folder
            n += 1
            version = f"parquet-{run_id}.{n}"
        folder = serving / version
        try:
            files = _write_parquet(con, folder, tables, run_id)
            _swap_link(serving / "parquet", version)
            _fsync(serving)
        except (duckdb.Error, OSError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise PublishError(
                f"could not publish Parquet files to {folder}: {str(exc).splitlines()[0]}"
            ) from None
        _prune(serving, "parquet-", _newest(serving, "parquet-*", version))
        result["parquet_dir"] = str(serving / "parquet")
        result["parquet_files"] = files
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _newest(serving: Path, pattern: str, live: str) -> set[str]:
    """Names of the ``KEEP_VERSIONS`` newest versions matching ``pattern``, and ``live``."""
    versions = sorted((p for p in serving.glob(pattern) if not p.is_symlink()),
                      key=lambda p: p.stat().st_mtime)
    return {p.name for p in versions[-KEEP_VERSIONS:]} | {live}


def read_manifest(path: str | os.PathLike) -> dict:
    """The run id and per-table (rows, checksum) of a serving copy, read in one connection."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT run_id, table_name, row_count, checksum FROM audit.serving_manifest"
        ).fetchall()
    finally:
        con.close()
    return {"run_id": rows[0][0] if rows else None,
            "tables": {name: (n, checksum) for _, name, n, checksum in rows}}
