"""`aftershock status`: freshness per venue against the exchange calendars, runs, quarantine.

The clock is injected (``--as-of``), so "now" is fixed: Tuesday 2025-01-28 12:00 UTC, when the
last scheduled refresh (22:30 UTC on weekdays) was Monday 2025-01-27 22:30. Korea was closed
2025-01-27..30 (Lunar New Year), so its expected session is Friday 2025-01-24.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from contracts import ContractError
from flows import ops_cmds
from flows.status import build_report, due_at, expected_sessions
from transforms.freshness import freshness
from warehouse.connection import connect, connect_read_only

TUESDAY_NOON = datetime(2025, 1, 28, 12, 0, tzinfo=UTC)

SECURITIES = [  # ticker, venue
    ("NVDA", "XNAS"),
    ("AMD", "XNAS"),
    ("005930.KS", "XKRX"),
    ("8035.T", "XTKS"),
]


def make_warehouse(path, last: dict[str, date]) -> str:
    """A warehouse whose tickers are loaded through ``last[ticker]`` (absent: nothing)."""
    con = connect(str(path))
    for ticker, mic in SECURITIES:
        con.execute(
            "INSERT INTO core.dim_security VALUES (?, ?, 'accelerators', ?, 'USD', 'US', "
            "'equity', '^GSPC')", [ticker, ticker, mic],
        )
        if ticker in last:
            for back in range(5):  # a few days up to the watermark (weekends are fine here)
                con.execute(
                    "INSERT INTO core.fact_price_daily (ticker, session_date, close, adj_close, "
                    "source, quality_flags, run_id) VALUES (?, ?, 1, 1, 'demo', [], 'r1')",
                    [ticker, last[ticker] - timedelta(days=back)],
                )
    con.execute(
        "INSERT INTO audit.etl_run (run_id, flow, source, started_at, finished_at, status) "
        "VALUES ('r1', 'daily-refresh', 'demo', TIMESTAMPTZ '2025-01-27 22:30:00+00', "
        "TIMESTAMPTZ '2025-01-27 22:31:30+00', 'success')"
    )
    con.execute(
        "INSERT INTO audit.etl_run_count VALUES ('r1', 'prices', 'extracted', 20), "
        "('r1', 'prices', 'inserted', 18), ('r1', 'prices', 'updated', 1), "
        "('r1', 'prices', 'quarantined', 1), ('r1', 'marts.event_reaction', 'built', 7)"
    )
    con.close()
    return str(path)


CURRENT = {"NVDA": date(2025, 1, 27), "AMD": date(2025, 1, 27),
           "005930.KS": date(2025, 1, 24), "8035.T": date(2025, 1, 27)}


def report_for(path, now=TUESDAY_NOON, **kw):
    con = connect_read_only(path)
    try:
        return build_report(con, now, **kw)
    finally:
        con.close()


def venue(report, mic: str) -> dict:
    return report.freshness.filter(pl.col("exchange_mic") == mic).row(0, named=True)


# --------------------------------------------------------------------------- due instant


def test_due_is_latest_tick_at_least_grace_old():
    assert due_at(TUESDAY_NOON) == datetime(2025, 1, 27, 22, 30, tzinfo=UTC)
    # Monday 23:00: Monday's run may still be going (1 h grace), so Friday's run counts
    assert due_at(datetime(2025, 1, 27, 23, 0, tzinfo=UTC)) == datetime(2025, 1, 24, 22, 30,
                                                                        tzinfo=UTC)
    assert due_at(datetime(2025, 1, 27, 23, 31, tzinfo=UTC)) == datetime(2025, 1, 27, 22, 30,
                                                                         tzinfo=UTC)
    # Sunday: Friday's run
    assert due_at(datetime(2025, 1, 26, 10, 0, tzinfo=UTC)) == datetime(2025, 1, 24, 22, 30,
                                                                        tzinfo=UTC)


def test_due_follows_schedule_timezone_and_no_schedule():
    # 18:00 in New York is 23:00 UTC in winter
    assert due_at(TUESDAY_NOON, "0 18 * * 1-5", "America/New_York") == datetime(
        2025, 1, 27, 23, 0, tzinfo=UTC)
    assert due_at(TUESDAY_NOON, None, grace=timedelta(hours=2)) == TUESDAY_NOON - timedelta(hours=2)


def test_bad_schedule_is_a_one_line_error():
    with pytest.raises(ContractError, match="invalid schedule"):
        due_at(TUESDAY_NOON, "not a cron")


def test_expected_sessions_skip_holidays():
    due = due_at(TUESDAY_NOON)
    expected = dict(expected_sessions(["XNAS", "XKRX", "XTKS"], due).iter_rows())
    assert expected == {"XNAS": date(2025, 1, 27), "XKRX": date(2025, 1, 24),
                        "XTKS": date(2025, 1, 27)}


def test_freshness_is_pure_and_counts_lagging_items():
    marks = pl.DataFrame({
        "dataset": ["prices"] * 3, "exchange_mic": ["XNAS"] * 3, "item": ["A", "B", "C"],
        "last_session": [date(2025, 1, 27), date(2025, 1, 24), None],
    })
    expected = pl.DataFrame({"exchange_mic": ["XNAS"], "expected": [date(2025, 1, 27)]})
    row = freshness(marks, expected).row(0, named=True)
    assert row["state"] == "fresh" and row["items"] == 3 and row["loaded"] == 2
    assert row["lagging"] == 2 and row["lagging_items"] == "B, C"


# --------------------------------------------------------------------------- three warehouses


def test_current_warehouse_is_fresh_including_a_venue_on_holiday(tmp_path):
    report = report_for(make_warehouse(tmp_path / "w.duckdb", CURRENT))
    assert not report.stale
    assert set(report.freshness["state"]) == {"fresh"}
    korea = venue(report, "XKRX")
    assert korea["expected"] == date(2025, 1, 24) and korea["last_loaded"] == date(2025, 1, 24)
    assert venue(report, "XNAS")["sessions_behind"] == 0


def test_a_day_behind_is_stale(tmp_path):
    behind = CURRENT | {"NVDA": date(2025, 1, 24), "AMD": date(2025, 1, 24)}
    report = report_for(make_warehouse(tmp_path / "w.duckdb", behind))
    assert report.stale
    assert report.stale_venues() == ["prices/XNAS"]
    nasdaq = venue(report, "XNAS")
    assert nasdaq["state"] == "stale" and nasdaq["sessions_behind"] == 1
    assert nasdaq["last_loaded"] == date(2025, 1, 24) and nasdaq["expected"] == date(2025, 1, 27)
    assert venue(report, "XKRX")["state"] == "fresh"


def test_one_lagging_ticker_is_listed_but_the_venue_is_fresh(tmp_path):
    report = report_for(make_warehouse(tmp_path / "w.duckdb",
                                       CURRENT | {"AMD": date(2025, 1, 23)}))
    nasdaq = venue(report, "XNAS")
    assert nasdaq["state"] == "fresh" and nasdaq["lagging"] == 1
    assert nasdaq["lagging_items"] == "AMD"
    assert not report.stale


def test_holiday_venue_stays_fresh_until_it_reopens(tmp_path):
    path = make_warehouse(tmp_path / "w.duckdb", CURRENT)
    thursday = datetime(2025, 1, 30, 12, 0, tzinfo=UTC)  # Korea still closed
    assert venue(report_for(path, thursday), "XKRX")["state"] == "fresh"
    reopened = datetime(2025, 1, 31, 23, 45, tzinfo=UTC)  # Friday's run should have it
    korea = venue(report_for(path, reopened), "XKRX")
    assert korea["state"] == "stale" and korea["expected"] == date(2025, 1, 31)


def test_empty_warehouse_is_stale(tmp_path):
    report = report_for(make_warehouse(tmp_path / "w.duckdb", {}))
    assert report.stale and set(report.freshness["state"]) == {"no data"}


def test_last_runs_and_open_quarantine(tmp_path):
    path = make_warehouse(tmp_path / "w.duckdb", CURRENT)
    con = connect(path)
    replayable = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'quarantine' "
        "AND column_name = 'resolved_run_id'").fetchall()[0][0]
    # NVDA|2025-01-27 was quarantined before run r1 loaded a good version; AMD|2025-01-10 has
    # no accepted version: only the latter is open
    con.execute(
        "INSERT INTO audit.quarantine (run_id, dataset, row_key, row_json, reasons, "
        "quarantined_at) VALUES "
        "('r0', 'prices', 'NVDA|2025-01-27', '{}', ['close_above_high'], "
        " TIMESTAMPTZ '2025-01-27 10:00:00+00'), "
        "('r1', 'prices', 'AMD|2025-01-10', '{}', ['close_null', 'volume_null'], "
        " TIMESTAMPTZ '2025-01-27 22:31:00+00')"
    )
    if replayable:  # with quarantine replay, a row is open until a replay resolves it
        con.execute("UPDATE audit.quarantine SET resolved_run_id = 'r1', resolution = "
                    "'superseded' WHERE row_key = 'NVDA|2025-01-27'")
    con.close()
    report = report_for(path)
    run = report.runs.row(0, named=True)
    assert run["run_id"] == "r1" and run["status"] == "success"
    assert run["duration_s"] == 90.0
    assert (run["rows_extracted"], run["rows_loaded"], run["rows_quarantined"]) == (20, 19, 1)
    q = report.quarantine.row(0, named=True)
    assert (q["dataset"], q["open_rows"], q["all_rows"]) == ("prices", 1, 2)
    assert q["open_reasons"] == "close_null 1, volume_null 1"


# --------------------------------------------------------------------------- FX and news


def test_fx_is_due_for_every_session_of_a_venue_quoting_in_the_currency(tmp_path):
    path = make_warehouse(tmp_path / "w.duckdb", CURRENT)
    con = connect(path)
    con.execute("UPDATE core.dim_security SET currency = 'JPY' WHERE ticker = '8035.T'")
    con.execute("UPDATE core.dim_security SET currency = 'KRW' WHERE ticker = '005930.KS'")
    for day in (date(2025, 1, 23), date(2025, 1, 24)):  # a JPY rate up to Friday only
        con.execute("INSERT INTO core.fact_fx_daily VALUES ('JPY', ?, 0.0064, 'demo', 'r1')",
                    [day])
    con.execute("INSERT INTO core.fact_fx_daily VALUES ('KRW', '2025-01-24', 0.0007, 'demo', "
                "'r1')")
    con.close()
    report = report_for(path)
    fx = {r["exchange_mic"]: r for r in report.freshness.filter(
        pl.col("dataset") == "fx").iter_rows(named=True)}
    assert set(fx) == {"XTKS", "XKRX"}  # USD listings need no rate
    assert fx["XTKS"]["state"] == "stale" and fx["XTKS"]["expected"] == date(2025, 1, 27)
    assert fx["XTKS"]["last_loaded"] == date(2025, 1, 24) and fx["XTKS"]["sessions_behind"] == 1
    assert fx["XKRX"]["state"] == "fresh"  # Seoul closed for Lunar New Year: Friday's rate
    assert report.stale and report.stale_venues() == ["fx/XTKS"]


def add_news_fetches(path, fetches: list[tuple[str, str, str, str, str]]) -> None:
    """(run_id, started_at, source, channel, status) rows of audit.news_fetch_status."""
    con = connect(path)
    for run_id, started, source, channel, status in fetches:
        con.execute(
            "INSERT INTO audit.etl_run (run_id, flow, source, started_at, finished_at, status) "
            "SELECT ?, 'daily-refresh', 'yahoo', ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, 'success' "
            "WHERE NOT EXISTS (SELECT 1 FROM audit.etl_run WHERE run_id = ?)",
            [run_id, started, started, run_id],
        )
        con.execute("INSERT INTO audit.news_fetch_status VALUES (?, ?, ?, ?, 1, NULL)",
                    [run_id, source, channel, status])
    con.close()


def test_news_source_is_stale_without_a_successful_fetch_in_the_day_before_due(tmp_path):
    path = make_warehouse(tmp_path / "w.duckdb", CURRENT)
    add_news_fetches(path, [
        # Friday: every source answered
        ("n1", "2025-01-24 22:30:00+00", "feeds", "feed:reuters", "ok"),
        ("n1", "2025-01-24 22:30:00+00", "hn", "hn:search", "ok"),
        ("n1", "2025-01-24 22:30:00+00", "yahoo", "yahoo:NVDA", "ok"),
        # Monday's run (the one due): one feed failed, one was empty, Hacker News failed whole
        ("r1", "2025-01-27 22:30:00+00", "feeds", "feed:reuters", "error"),
        ("r1", "2025-01-27 22:30:00+00", "feeds", "feed:verge", "empty"),
        ("r1", "2025-01-27 22:30:00+00", "hn", "hn:search", "error"),
        ("r1", "2025-01-27 22:30:00+00", "yahoo", "yahoo:NVDA", "ok"),
    ])
    report = report_for(path)
    news = {r["source"]: r for r in report.news.iter_rows(named=True)}
    assert news["yahoo"]["state"] == "fresh"
    assert news["feeds"]["state"] == "fresh"  # an empty feed answered; the failure is listed
    assert (news["feeds"]["channels"], news["feeds"]["channels_failed"]) == (2, 1)
    assert news["feeds"]["failed_channels"] == "feed:reuters"
    assert news["hn"]["state"] == "stale"
    assert news["hn"]["last_ok"] == datetime(2025, 1, 24, 22, 30, tzinfo=UTC)
    assert report.stale and report.stale_news() == ["news/hn"]
    assert report.stale_venues() == []  # the prices are current


def test_no_news_fetched_is_not_judged(tmp_path):
    report = report_for(make_warehouse(tmp_path / "w.duckdb", CURRENT))
    assert report.news.height == 0 and not report.stale


def test_a_run_that_could_not_publish_leaves_the_serving_copy_behind(tmp_path, status_cli):
    path = make_warehouse(tmp_path / "w.duckdb", CURRENT)
    assert not report_for(path).serving_behind
    con = connect(path)
    con.execute(
        "INSERT INTO audit.etl_run (run_id, flow, source, started_at, finished_at, status, error) "
        "VALUES ('r2', 'daily-refresh', 'demo', TIMESTAMPTZ '2025-01-28 10:00:00+00', "
        "TIMESTAMPTZ '2025-01-28 10:01:00+00', 'publish_failed', 'OSError: disk full')"
    )
    con.close()
    report = report_for(path)
    assert report.serving_behind and report.stale
    assert report.stale_venues() == [] and report.last_load["run_id"] == "r2"
    code, text = status_cli("--warehouse", path, "--as-of", "2025-01-28T12:00:00")
    assert code == 1 and "serving copy behind" in text and "disk full" in text
    code, text = status_cli("--warehouse", path, "--as-of", "2025-01-28T12:00:00", "--json")
    doc = json.loads(text)
    assert doc["serving_behind"] is True and doc["last_load"]["status"] == "publish_failed"


# --------------------------------------------------------------------------- the command


@pytest.fixture
def status_cli():
    app = typer.Typer()
    app.command()(ops_cmds.status)
    app.command("noop")(lambda: None)  # more than one command: `status` is a subcommand
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, ["status", *args], catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


def test_command_exit_codes_and_json(tmp_path, status_cli):
    current = make_warehouse(tmp_path / "current.duckdb", CURRENT)
    behind = make_warehouse(tmp_path / "behind.duckdb",
                            CURRENT | {"NVDA": date(2025, 1, 24), "AMD": date(2025, 1, 24)})
    code, text = status_cli("--warehouse", current, "--as-of", "2025-01-28T12:00:00")
    assert code == 0, text
    assert "fresh" in text and "XKRX" in text
    code, text = status_cli("--warehouse", behind, "--as-of", "2025-01-28T12:00:00Z")
    assert code == 1 and "STALE" in text and "prices/XNAS" in text
    code, text = status_cli("--warehouse", behind, "--as-of", "2025-01-28T12:00:00", "--json")
    assert code == 1
    doc = json.loads(text)
    assert doc["stale"] is True and doc["stale_venues"] == ["prices/XNAS"]
    assert doc["due"].startswith("2025-01-27T22:30")
    assert {r["exchange_mic"]: r["state"] for r in doc["freshness"]}["XKRX"] == "fresh"
    assert doc["runs"][0]["run_id"] == "r1"
    assert doc["stale_news"] == [] and doc["news"] == []
    add_news_fetches(current, [("n0", "2025-01-24 22:30:00+00", "feeds", "feed:a", "ok")])
    code, text = status_cli("--warehouse", current, "--as-of", "2025-01-28T12:00:00")
    assert code == 1 and "news/feeds" in text and "News sources" in text


def test_command_errors_are_one_line_exit_2(tmp_path, status_cli):
    code, text = status_cli("--warehouse", str(tmp_path / "missing.duckdb"))
    assert code == 2 and "no warehouse at" in text
    current = make_warehouse(tmp_path / "w.duckdb", CURRENT)
    code, text = status_cli("--warehouse", current, "--as-of", "yesterday")
    assert code == 2 and "--as-of" in text
    code, text = status_cli("--warehouse", current, "--cron", "61 * * * *")
    assert code == 2 and "invalid schedule" in text
