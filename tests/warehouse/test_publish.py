"""The serving copy: what it holds, its format, atomic replacement, and readers in other
processes (including a real DuckDB 1.4, the version BI tools embed)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from warehouse import publish as publishing
from warehouse.connection import connect
from warehouse.publish import PublishError, publish, read_manifest, serving_dir_for

#: Highest storage version DuckDB 1.4 reads (its error text: "between 64 and 67").
DUCKDB14_MAX_STORAGE = 67


def _insert(con, table: str, **values) -> None:
    """Insert a row, filling NOT NULL columns not given (keeps up with new mart columns)."""
    schema, name = table.split(".")
    fill = {"VARCHAR": "x", "BOOLEAN": False, "DOUBLE": 0.0, "INTEGER": 0, "BIGINT": 0,
            "DATE": datetime(2025, 1, 2).date(), "JSON": "{}"}
    row = {}
    for column, dtype, nullable in con.execute(
        "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
        "WHERE schema_name = ? AND table_name = ? ORDER BY column_index", [schema, name]
    ).fetchall():
        if column in values:
            row[column] = values[column]
        elif not nullable:
            row[column] = ([] if dtype.endswith("[]") else
                           datetime(2025, 1, 1, tzinfo=UTC) if dtype.startswith("TIMESTAMP")
                           else fill.get(dtype, 0))
    con.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES "
                f"({', '.join('?' for _ in row)})", list(row.values()))


def _new_run(con, run_id: str, window_rows: int) -> None:
    """A 'run': its audit row and marts whose size depends on the run."""
    _insert(con, "audit.etl_run", run_id=run_id, flow="daily-refresh", source="demo",
            status="success", params=json.dumps({"run": run_id}))
    con.execute("DELETE FROM marts.event_window")
    con.execute("DELETE FROM marts.event_reaction")
    for i in range(window_rows):
        _insert(con, "marts.event_window", event_id="e1", ticker=f"T{i % 7}", segment="memory",
                rel_day=i // 7 - 10, car=i / 1000)
    _insert(con, "marts.event_reaction", event_id="e1", event_name="Event <1>", ticker="T0",
            car_0_p5=-0.1, source="demo")


@pytest.fixture
def warehouse(tmp_path):
    con = connect(tmp_path / "aftershock.duckdb")
    _insert(con, "core.dim_security", ticker="T0", name="T0 Inc.", segment="memory")
    _insert(con, "core.dim_event", event_id="e1", name="Event <1>")
    _new_run(con, "20250101T000000-run00001", 35)
    yield con
    con.close()


def _storage_version(path: Path) -> int:
    """The storage version number in a DuckDB file's main header (after checksum + 'DUCK')."""
    header = path.read_bytes()[:20]
    assert header[8:12] == b"DUCK"
    return struct.unpack("<Q", header[12:20])[0]


def test_serving_copy_holds_marts_core_and_comments(warehouse, tmp_path):
    result = publish(warehouse, tmp_path / "serving")
    assert result["run_id"] == "20250101T000000-run00001"
    assert result["storage_version"] == "v1.4.0"
    served = duckdb.connect(result["path"], read_only=True)
    try:
        tables = {f"{s}.{t}" for s, t in served.execute(
            "SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
        source_marts = {f"marts.{t}" for (t,) in warehouse.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()}
        assert source_marts <= tables
        source_core = {f"core.{t}" for (t,) in warehouse.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'core'").fetchall()}
        assert {"core.dim_security", "core.fact_price_daily", "core.fact_news"} <= source_core
        assert source_core <= tables  # dimensions and facts: a BI user charts prices and news
        assert "raw.price_daily" not in tables and not any(t.startswith("raw.") for t in tables)
        assert "audit.serving_manifest" in tables
        comments = "SELECT table_name, column_name, comment FROM duckdb_columns() " \
                   "WHERE schema_name = 'marts' ORDER BY ALL"
        assert served.execute(comments).fetchall() == warehouse.execute(comments).fetchall()
        table_comments = ("SELECT table_name, comment FROM duckdb_tables() "
                          "WHERE schema_name = 'marts' ORDER BY ALL")
        assert (served.execute(table_comments).fetchall()
                == warehouse.execute(table_comments).fetchall())
        assert served.execute("SELECT count(*) FROM marts.event_window").fetchall() == [(35,)]
        # JSON (an extension type) is served as VARCHAR, readable without the extension
        assert served.execute(
            "SELECT data_type FROM duckdb_columns() WHERE schema_name = 'audit' "
            "AND table_name = 'etl_run' AND column_name = 'params'").fetchall() == [("VARCHAR",)]
        keys = ("SELECT constraint_column_names FROM duckdb_constraints() WHERE "
                "table_name = 'event_window' AND constraint_type = 'PRIMARY KEY'")
        assert served.execute(keys).fetchall() == warehouse.execute(keys).fetchall() != []
    finally:
        served.close()
    manifest = read_manifest(result["path"])
    assert manifest["tables"]["marts.event_window"][0] == 35


def test_serving_copy_is_in_a_format_duckdb_14_reads(warehouse, tmp_path):
    result = publish(warehouse, tmp_path / "serving")
    assert _storage_version(Path(result["path"])) <= DUCKDB14_MAX_STORAGE
    # the writable warehouse, in DuckDB 2.0's default format, is one DuckDB 1.4 refuses
    warehouse.execute("CHECKPOINT")
    assert _storage_version(tmp_path / "aftershock.duckdb") > DUCKDB14_MAX_STORAGE


def test_parquet_files_swap_as_one_folder(warehouse, tmp_path):
    serving = tmp_path / "serving"
    first = publish(warehouse, serving)
    link = serving / "parquet"
    assert link.is_symlink()
    assert "marts.event_window.parquet" in first["parquet_files"]
    rows = duckdb.sql(f"SELECT count(*) FROM '{link}/marts.event_window.parquet'").fetchall()
    assert rows == [(35,)]
    meta = dict(duckdb.sql(
        f"SELECT decode(key), decode(value) FROM parquet_kv_metadata("
        f"'{link}/marts.event_reaction.parquet')").fetchall())
    assert meta["aftershock.run_id"] == "20250101T000000-run00001"
    assert "car_0_p5" in json.loads(meta["aftershock.column_comments"])
    old_target = os.readlink(link)
    for n, run in enumerate(("20250102T000000-run00002", "20250103T000000-run00003"), 1):
        _new_run(warehouse, run, 35 + n)
        publish(warehouse, serving, run)
    assert os.readlink(link) == "parquet-20250103T000000-run00003"
    assert not (serving / old_target).exists()  # pruned: the live folder and one before it
    assert len(list(serving.glob("parquet-*"))) == publishing.KEEP_VERSIONS
    rows = duckdb.sql(f"SELECT count(*) FROM '{link}/marts.event_window.parquet'").fetchall()
    assert rows == [(37,)]
    again = publish(warehouse, serving, "20250103T000000-run00003")  # same run again
    assert os.readlink(link) == "parquet-20250103T000000-run00003.2"
    assert again["tables"]["marts.event_window"] == 37


def test_a_failed_publish_leaves_the_previous_copy(warehouse, tmp_path, monkeypatch):
    serving = tmp_path / "serving"
    publish(warehouse, serving)
    before = (serving / "aftershock.duckdb").read_bytes()
    _new_run(warehouse, "20250102T000000-run00002", 50)
    real = publishing._create_like
    calls = []

    def failing(con, schema, table, **kw):
        calls.append(table)
        if len(calls) == 3:
            raise duckdb.IOException("disk full (simulated)")
        return real(con, schema, table, **kw)

    monkeypatch.setattr(publishing, "_create_like", failing)
    with pytest.raises(PublishError, match="disk full"):
        publish(warehouse, serving)
    assert (serving / "aftershock.duckdb").read_bytes() == before
    assert [p.name for p in serving.iterdir() if ".tmp" in p.name] == []
    assert read_manifest(serving / "aftershock.duckdb")["run_id"] == "20250101T000000-run00001"
    # the connection is usable afterwards: the temporary database was detached
    monkeypatch.setattr(publishing, "_create_like", real)
    assert publish(warehouse, serving)["run_id"] == "20250102T000000-run00002"


def test_the_next_publish_removes_what_a_killed_publish_left(warehouse, tmp_path):
    """A run SIGKILLed while publishing leaves its temporary copy and WAL; the next publish
    removes them and leaves only the serving copy and its Parquet folder."""
    serving = tmp_path / "serving"
    publish(warehouse, serving)
    for name in ("aftershock-20240101T000000-dead0001.duckdb.tmp",
                 "aftershock-20240101T000000-dead0001.duckdb.tmp.wal",
                 # the layout before versioned files
                 "aftershock.duckdb.tmp-20240101T000000-dead0001",
                 "aftershock.duckdb.tmp-20240101T000000-dead0001.wal"):
        (serving / name).write_bytes(b"half written")
    publish(warehouse, serving)
    assert [p.name for p in serving.iterdir() if ".tmp" in p.name] == []
    assert (serving / "aftershock.duckdb").resolve().is_file()


def test_a_process_that_holds_the_old_copy_open_connects_to_the_new_one(warehouse, tmp_path):
    """docs/serving.md's promise, inside one process: DuckDB hands a new connection to a path
    it already has open the cached instance, so with a file renamed over the old one a pooled
    BI client or a notebook would read the old run for ever. The path is a link to a file per
    run, so a new connection after the publish reads the new run while the old one still
    reads its own; older versions beyond the kept ones are removed."""
    serving = tmp_path / "serving"
    first = publish(warehouse, serving)
    path = serving / "aftershock.duckdb"
    assert path.is_symlink() and os.readlink(path) == Path(first["file"]).name
    held = duckdb.connect(str(path), read_only=True)
    try:
        def run_of(con):
            return con.execute("SELECT DISTINCT run_id FROM audit.serving_manifest").fetchall()

        assert run_of(held) == [("20250101T000000-run00001",)]
        for n in (2, 3, 4):
            run = f"2025010{n}T000000-run0000{n}"
            _new_run(warehouse, run, 35 + n)
            publish(warehouse, serving, run, parquet=False)
            fresh = duckdb.connect(str(path), read_only=True)
            try:
                assert run_of(fresh) == [(run,)]
                assert fresh.execute("SELECT count(*) FROM marts.event_window").fetchall() == [
                    (35 + n,)]
            finally:
                fresh.close()
        assert run_of(held) == [("20250101T000000-run00001",)]  # its own file, unchanged
    finally:
        held.close()
    versions = sorted(p.name for p in serving.glob("aftershock-*.duckdb"))
    assert len(versions) == publishing.KEEP_VERSIONS
    assert versions[-1] == "aftershock-20250104T000000-run00004.duckdb"
    # republishing a run never touches the live file
    again = publish(warehouse, serving, "20250104T000000-run00004", parquet=False)
    assert Path(again["file"]).name == "aftershock-20250104T000000-run00004.2.duckdb"
    assert os.readlink(path) == Path(again["file"]).name


def test_nothing_to_publish(tmp_path):
    con = connect(tmp_path / "empty.duckdb")
    try:
        with pytest.raises(PublishError, match="no successful run"):
            publish(con, tmp_path / "serving")
    finally:
        con.close()


def test_serving_dir_sits_beside_the_warehouse(tmp_path):
    assert serving_dir_for(tmp_path / "w.duckdb") == tmp_path / "serving"
    assert serving_dir_for("data/aftershock.duckdb") == Path("data/serving")


READER = textwrap.dedent(
    """
    import json, sys, time
    import duckdb
    path, expected_file, stop_file = sys.argv[1:4]
    seen, errors, reads = {}, [], 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stop = __import__("os").path.exists(stop_file)
        try:
            con = duckdb.connect(path, read_only=True)
            try:
                manifest = {t: (n, str(c)) for r, t, n, c in con.execute(
                    "SELECT run_id, table_name, row_count, checksum "
                    "FROM audit.serving_manifest").fetchall()}
                run_id = con.execute(
                    "SELECT DISTINCT run_id FROM audit.serving_manifest").fetchall()
                assert len(run_id) == 1, f"mixed runs in one manifest: {run_id}"
                run_id = run_id[0][0]
                actual = {}
                for table in ("marts.event_window", "marts.event_reaction", "audit.etl_run"):
                    n, c = con.execute(
                        f"SELECT count(*), sum(hash(t)) FROM {table} AS t").fetchall()[0]
                    actual[table] = (n, str(c))
                    assert manifest[table] == actual[table], (run_id, table, manifest[table],
                                                              actual[table])
                runs = con.execute("SELECT run_id FROM audit.etl_run").fetchall()
                assert runs == [(run_id,)], (run_id, runs)
            finally:
                con.close()
            expected = json.load(open(expected_file))
            rows = actual["marts.event_window"][0]
            assert expected[run_id] == rows, (run_id, rows, expected.get(run_id))
            seen[run_id] = seen.get(run_id, 0) + 1
            reads += 1
        except Exception as exc:  # every failure is a finding, never a crash
            errors.append(f"{type(exc).__name__}: {exc}")
        if stop:
            break
        time.sleep(0.01)
    print(json.dumps({"reads": reads, "seen": seen, "errors": errors[:5],
                      "n_errors": len(errors)}))
    """
)


@pytest.mark.slow
def test_a_reader_in_another_process_sees_one_whole_run(warehouse, tmp_path):
    """A reader looping in another process while we publish 6 runs: never an error, and
    each read sees one run's rows, matching that run's manifest and expected row count."""
    serving = tmp_path / "serving"
    expected_file, stop_file = tmp_path / "expected.json", tmp_path / "stop"
    expected = {"20250101T000000-run00001": 35}
    expected_file.write_text(json.dumps(expected))
    publish(warehouse, serving)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(serving / "aftershock.duckdb"), str(expected_file),
         str(stop_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(0.5)
        for n in range(2, 8):
            run = f"2025010{n}T000000-run0000{n}"
            _new_run(warehouse, run, 35 + 13 * n)
            expected[run] = 35 + 13 * n
            tmp = expected_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(expected))
            os.replace(tmp, expected_file)  # the reader never sees a half-written file
            publish(warehouse, serving, run, parquet=False)
            time.sleep(0.15)
        time.sleep(0.3)
    finally:
        stop_file.touch()
        out, err = reader.communicate(timeout=90)
    assert reader.returncode == 0, err
    summary = json.loads(out)
    assert summary["n_errors"] == 0, summary["errors"]
    assert summary["reads"] >= 10
    assert len(summary["seen"]) >= 3, summary  # it saw several runs come and go


# --- a real DuckDB 1.4 (what Evidence's connector and many BI drivers embed) -----------------
DUCKDB14_VENV = Path(os.environ.get("AFTERSHOCK_DUCKDB14_VENV", "/tmp/aftershock-duckdb14"))


@pytest.fixture(scope="session")
def duckdb14_python() -> Path:
    """A Python with duckdb==1.4.* in its own venv (created once, reused across runs)."""
    python = DUCKDB14_VENV / "bin" / "python"
    check = [str(python), "-c", "import duckdb, sys; sys.exit(duckdb.__version__[:4] != '1.4.')"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(DUCKDB14_VENV)],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "duckdb==1.4.*"],
                       check=True, capture_output=True, timeout=300, text=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        pytest.skip(f"cannot install duckdb==1.4.* into {DUCKDB14_VENV} (offline?): "
                    f"{str(detail).strip().splitlines()[-1] if detail else exc}")
    return python


DUCKDB14_READER = textwrap.dedent(
    """
    import json, sys
    import duckdb
    out = {"version": duckdb.__version__}
    con = duckdb.connect(sys.argv[1], read_only=True)
    out["rows"] = con.execute("SELECT count(*) FROM marts.event_window").fetchall()[0][0]
    out["comments"] = con.execute(
        "SELECT count(*) FILTER (WHERE comment IS NOT NULL), count(*) FROM duckdb_columns() "
        "WHERE schema_name = 'marts'").fetchall()[0]
    out["announced"] = con.execute(
        "SELECT announced_at::VARCHAR FROM marts.event_reaction").fetchall()[0][0]
    out["run"] = con.execute("SELECT DISTINCT run_id FROM audit.serving_manifest").fetchall()
    try:
        duckdb.connect(sys.argv[2], read_only=True)
        out["writable_file"] = "opened"
    except Exception as exc:
        out["writable_file"] = str(exc).splitlines()[0]
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_duckdb_14_reads_the_serving_copy(warehouse, tmp_path, duckdb14_python):
    result = publish(warehouse, tmp_path / "serving")
    warehouse.execute("CHECKPOINT")
    warehouse.close()  # (a writer's open file could not be opened by any other process)
    done = subprocess.run(
        [str(duckdb14_python), "-c", DUCKDB14_READER, result["path"],
         str(tmp_path / "aftershock.duckdb")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["version"].startswith("1.4.")
    assert seen["rows"] == 35
    assert seen["comments"][0] == seen["comments"][1] > 0
    assert seen["announced"].startswith("2025-01-01")
    assert seen["run"] == [["20250101T000000-run00001"]]
    # the contrast: the writable file in DuckDB 2.0's default format is refused by 1.4
    assert "version number 999" in seen["writable_file"]
