"""Bad command-line arguments: one line ``error: ...`` naming the thing, exit code 2, and the
warehouse as it was (checksums). Only arguments refused *before* a flow starts are here (no
Prefect server needed); the ones refused inside the flow (unknown source, ticker or snapshot
folder) are in ``tests/e2e/test_bad_input.py``.

The quarantine commands are run from their own sub-app (``flows.quarantine_cmd``), registered
here exactly as the CLI registers it: ``app.add_typer(quarantine_app, name="quarantine")``.
"""

from __future__ import annotations

import json
from datetime import date

import duckdb
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from flows.cli import app as main_app
from flows.quarantine_cmd import quarantine_app
from warehouse import load
from warehouse.connection import connect, table_checksums
from warehouse.publish import publish, serving_dir_for


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(quarantine_app, name="quarantine")
    for command in main_app.registered_commands:
        app.registered_commands.append(command)
    return app


APP = _app()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(APP, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> str:
    """A small warehouse: two good NVDA rows, two quarantined rows (prices, fx)."""
    path = str(tmp_path_factory.mktemp("cli") / "w.duckdb")
    con = connect(path)
    load.start_run(con, "r1", "daily-refresh", "test", {})
    good = pl.DataFrame({
        "ticker": ["NVDA", "NVDA"], "session_date": [date(2025, 1, 21), date(2025, 1, 22)],
        "open": [1.0, 1.0], "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.5],
        "adj_close": [1.5, 1.5], "volume": [10.0, 10.0], "currency": ["USD", "USD"],
        "source": ["test", "test"], "quality_flags": [[], []],
    }, schema_overrides={"quality_flags": pl.List(pl.String)})
    bad_price = good.head(1).drop("quality_flags").with_columns(
        session_date=pl.lit(date(2025, 1, 23)), close=pl.lit(9.0),
        reasons=pl.lit(["close_above_high"]))
    bad_fx = pl.DataFrame({"currency": ["JPY"], "session_date": [date(2025, 1, 21)],
                           "usd_per_unit": [-1.0], "source": ["test"],
                           "reasons": [["rate_not_positive"]]})
    with load.transaction(con):
        load.upsert_prices(con, good, "r1")
        load.quarantine(con, bad_price, "prices", ["ticker", "session_date"], "r1")
        load.quarantine(con, bad_fx, "fx", ["currency", "session_date"], "r1")
    load.finish_run(con, "r1", "success")
    publish(con, serving_dir_for(path))  # what `query` reads by default
    con.close()
    return path


def _sums(path: str) -> dict:
    con = duckdb.connect(path, read_only=True)
    try:
        return table_checksums(con, ("raw", "core", "marts", "audit"))
    finally:
        con.close()


def _error(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


CASES = [
    ("end_not_a_date", ["run", "--source", "demo", "--end", "2025-13-01"],
     "error: --end '2025-13-01' is not a date (YYYY-MM-DD)"),
    ("start_not_a_date", ["run", "--source", "demo", "--start", "yesterday"],
     "error: --start 'yesterday' is not a date (YYYY-MM-DD)"),
    ("unknown_model", ["run", "--source", "demo", "--model", "capm"],
     "error: unknown model 'capm': market, market_adjusted or mean_adjusted"),
    ("start_after_end", ["run", "--source", "demo", "--start", "2025-02-01", "--end",
                         "2025-01-01"], "error: --start 2025-02-01 is after --end 2025-01-01"),
    ("end_far_future", ["run", "--source", "demo", "--end", "9999-12-31"],
     "error: --end 9999-12-31 is in the future"),
    ("start_year_one", ["run", "--source", "demo", "--start", "0001-01-01"],
     "error: --start 0001-01-01 is before 1970-01-01: no prices that old"),
    ("query_writes", ["query", "DELETE FROM core.fact_price_daily"],
     "error: DELETE statements are refused: queries are read-only (SELECT only)"),
    ("query_two_statements", ["query", "SELECT 1; SELECT 2"],
     "error: one statement at a time, got 2"),
    ("query_unknown_table", ["query", "SELECT * FROM nope"], "error: query failed: "),
    ("replay_unknown_dataset", ["quarantine", "replay", "--dataset", "news"],
     "error: cannot replay dataset(s) news: replay knows prices, shares, fx"),
]


@pytest.mark.parametrize(("name", "args", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_argument_is_one_named_error_and_changes_nothing(warehouse, name, args, message):
    before = _sums(warehouse)
    code, output = invoke(*args, "--warehouse", warehouse)
    assert code == 2
    assert _error(output).startswith(message)
    assert _sums(warehouse) == before


@pytest.mark.parametrize("args", [["query", "SELECT 1", "--etl"], ["quarantine"]],
                         ids=["query_etl", "quarantine"])
def test_missing_warehouse_is_named_and_not_created(tmp_path, args):
    missing = tmp_path / "nowhere" / "w.duckdb"
    code, output = invoke(*args, "--warehouse", str(missing))
    assert code == 2
    assert _error(output) == (f"error: no warehouse at {missing}: run `aftershock run` first "
                              "or pass --warehouse")
    assert not missing.exists()


def test_query_reads_the_serving_copy_and_says_when_there_is_none(warehouse, tmp_path):
    """By default `query` reads what the last run published; the ETL's own file (raw.*, every
    run's audit rows) only with --etl."""
    code, output = invoke("query", "SELECT count(*) AS n FROM core.fact_price_daily",
                          "--format", "csv", "--warehouse", warehouse)
    assert (code, output) == (0, "n\n2\n")
    code, output = invoke("query", "SELECT count(*) AS n FROM raw.price_daily",
                          "--format", "csv", "--warehouse", warehouse)
    assert code == 2 and "raw" in _error(output)  # not published
    code, output = invoke("query", "SELECT count(*) AS n FROM raw.price_daily", "--etl",
                          "--format", "csv", "--warehouse", warehouse)
    assert (code, output) == (0, "n\n0\n")
    unpublished = tmp_path / "w.duckdb"
    connect(unpublished).close()
    code, output = invoke("query", "SELECT 1", "--warehouse", str(unpublished))
    assert code == 2
    assert _error(output) == (
        f"error: no serving copy at {tmp_path / 'serving' / 'aftershock.duckdb'}: the daily run "
        "publishes it (`aftershock run`), or read the ETL's warehouse itself with --etl")


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_a_large_result_streams_in_every_format(warehouse, fmt):
    """120,000 rows (more than one streamed chunk): CSV and JSON print every row, in order,
    as one document; a table prints its first TABLE_ROWS rows and counts the rest."""
    from flows.cli import TABLE_ROWS
    from warehouse.connection import STREAM_ROWS

    n = 120_000
    assert n > 2 * STREAM_ROWS
    code, output = invoke("query", f"SELECT range AS i, 'r' || range AS s FROM range({n})",
                          "--format", fmt, "--warehouse", warehouse)
    assert code == 0, output[-500:]
    if fmt == "csv":
        frame = pl.read_csv(output.encode())
        assert frame.columns == ["i", "s"] and frame.height == n
        assert frame["i"].to_list() == list(range(n))
    elif fmt == "json":
        records = json.loads(output)
        assert len(records) == n and records[-1] == {"i": n - 1, "s": f"r{n - 1}"}
    else:
        assert f"… {n - TABLE_ROWS:,} more row(s), {n:,} in all" in output
        assert f"r{TABLE_ROWS - 1}" in output and f"r{TABLE_ROWS}\n" not in output


def test_unknown_format_is_a_usage_error(warehouse):
    code, output = invoke("quarantine", "--format", "xml", "--warehouse", warehouse)
    assert code == 2
    assert "Invalid value for '--format'" in output


def test_quarantine_lists_rows_with_reasons_filtered(warehouse):
    code, output = invoke("quarantine", "--format", "csv", "--warehouse", warehouse)
    assert code == 0, output
    frame = pl.read_csv(output.encode())
    assert sorted(frame["dataset"]) == ["fx", "prices"]
    code, output = invoke("quarantine", "list", "--dataset", "prices", "--run", "r1",
                          "--format", "json", "--rows", "--warehouse", warehouse)
    assert code == 0, output
    import json

    (row,) = json.loads(output)
    assert (row["row_key"], row["reasons"], row["status"]) == (
        "NVDA|2025-01-23", "close_above_high", "open")
    assert json.loads(row["row_json"])["close"] == 9.0
    code, output = invoke("quarantine", "--run", "no-such-run", "--format", "csv",
                          "--warehouse", warehouse)
    assert code == 0 and output.strip() == ",".join(
        ["run_id", "dataset", "row_key", "reasons", "quarantined_at", "status",
         "resolved_run_id"])


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_every_duckdb_type_prints_in_every_format(warehouse, fmt):
    """INTERVAL (alone or nested), nested lists, structs, maps, empty and null values."""
    code, output = invoke(
        "query", "SELECT INTERVAL 3 MONTH AS i, [INTERVAL 1 DAY] AS li, [[1, 2]] AS l, "
        "{'a': 1, 'b': [1]} AS s, MAP {'k': 1} AS m, []::INT[] AS e, NULL::INT[] AS n",
        "--format", fmt, "--warehouse", warehouse)
    assert code == 0, output
    assert "Traceback" not in output and "error" not in output.lower()
    if fmt == "csv":
        header, row = output.strip().splitlines()
        assert header == "i,li,l,s,m,e,n"
        assert row == '3 months,[1 day],"[[1,2]]","{""a"":1,""b"":[1]}","{""k"":1}",[],'
    elif fmt == "json":
        (record,) = json.loads(output)
        assert record["i"] == "3 months" and record["l"] == [[1, 2]]
        assert record["s"] == {"a": 1, "b": [1]} and record["n"] is None
    else:
        assert "3 months" in output and "[[1, 2]]" in output


def test_a_runaway_query_is_stopped_at_its_time_limit_and_releases_the_file(warehouse):
    """A query still running at --timeout is interrupted: one error line, exit 2, and the file
    is free again (a writer can open it at once)."""
    import time

    started = time.monotonic()
    code, output = invoke("query", "SELECT count(*) FROM range(100000000000) a", "--timeout",
                          "0.5", "--warehouse", warehouse)
    assert code == 2
    assert _error(output) == ("error: query stopped after 0.5 s (raise the limit with "
                              "--timeout, or 0 for none)")
    assert time.monotonic() - started < 30
    connect(warehouse).close()  # the read-only connection was closed: writable again
    code, output = invoke("query", "SELECT 42 AS n", "--timeout", "0.5", "--format", "csv",
                          "--warehouse", warehouse)
    assert (code, output) == (0, "n\n42\n")
