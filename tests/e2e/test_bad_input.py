"""Bad input: a one-line error naming the thing, a non-zero exit, the warehouse as it was."""

import shutil

import duckdb
import pytest

from warehouse.connection import table_checksums

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def _loaded_once(cli, snapshot_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("loaded") / "w.duckdb"
    code, output = cli("run", "--source", "snapshot", "--snapshot-dir", str(snapshot_dir),
                       "--tickers", "NVDA,^GSPC", "--warehouse", str(path), "--top", "0")
    assert code == 0, output
    return path


@pytest.fixture
def loaded(_loaded_once, tmp_path):
    """A warehouse after one good run: each test gets its own copy of the one run."""
    path = tmp_path / "w.duckdb"
    shutil.copyfile(_loaded_once, path)
    return path


def _sums(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return table_checksums(con, ("raw", "core", "marts"))
    finally:
        con.close()


def _error_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--source", "bloomberg"], "unknown source 'bloomberg'"),
        (["--source", "snapshot", "--snapshot-dir", "/nonexistent/snap"],
         "snapshot folder not found: /nonexistent/snap"),
        (["--source", "demo", "--tickers", "NVDA,NOPE"], "unknown ticker(s) NOPE"),
        (["--source", "demo", "--end", "2025-13-01"], "--end '2025-13-01' is not a date"),
    ],
)
def test_bad_arguments(cli, loaded, args, needle):
    before = _sums(loaded)
    code, output = cli("run", *args, "--warehouse", str(loaded))
    assert code != 0
    assert needle in _error_line(output)
    assert _sums(loaded) == before


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("date,open,high,low,close,volume\n2025-01-02,1,1,1,1,1,7\n",
         "unreadable CSV (found more fields than defined"),
        ("", "NVDA.csv"),
    ],
)
def test_malformed_or_empty_csv(cli, loaded, tmp_path, body, needle):
    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "NVDA.csv").write_text(body)
    before = _sums(loaded)
    code, output = cli("run", "--source", "snapshot", "--snapshot-dir", str(folder),
                       "--warehouse", str(loaded))
    assert code != 0
    line = _error_line(output)
    assert needle in line and "NVDA.csv" in line
    assert _sums(loaded) == before


def test_unparseable_cell_quarantines_its_row_only(cli, tmp_path):
    """One bad cell is a row fault: the row is quarantined with its text, the rest loads."""
    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "NVDA.csv").write_text("date,open,high,low,close,volume\n"
                                     "2025-01-02,136,139,134,138.3,1\n"
                                     "2025-01-03,140,144,139,abc,1\n"
                                     "2025-01-06,148,152,147,149.4,1\n")
    path = tmp_path / "fresh.duckdb"
    code, output = cli("run", "--source", "snapshot", "--snapshot-dir", str(folder),
                       "--tickers", "NVDA", "--start", "2025-01-02", "--end", "2025-01-06",
                       "--warehouse", str(path), "--top", "0")
    assert "Traceback" not in output
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT row_key, row_json::VARCHAR FROM audit.quarantine "
                           "WHERE list_contains(reasons, 'value_unparseable')").fetchall()
        loaded = con.execute("SELECT session_date::VARCHAR FROM core.fact_price_daily "
                             "WHERE ticker = 'NVDA' ORDER BY 1").fetchall()
    finally:
        con.close()
    assert len(rows) == 1, output
    assert "NVDA" in rows[0][0] and "abc" in rows[0][1]
    assert loaded == [("2025-01-02",), ("2025-01-06",)], output


def test_unwritable_warehouse_path(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, output = cli("run", "--source", "demo", "--warehouse", str(blocker / "w.duckdb"))
    assert code != 0
    assert f"cannot create warehouse folder {blocker}" in _error_line(output)


def test_query_formats_and_bad_sql(cli, loaded):
    code, output = cli("query", "SELECT ticker, count(*) AS n FROM core.fact_price_daily "
                       "GROUP BY 1 ORDER BY 1", "--format", "csv", "--etl",
                       "--warehouse", str(loaded))
    assert code == 0
    assert output.splitlines()[0] == "ticker,n" and output.splitlines()[1].startswith("NVDA,")
    code, output = cli("query", "SELECT * FROM nope", "--etl", "--warehouse", str(loaded))
    assert code != 0 and "query failed" in _error_line(output)
    code, output = cli("query", "DELETE FROM core.fact_price_daily", "--etl",
                       "--warehouse", str(loaded))
    assert code != 0 and "read-only" in _error_line(output).lower()
