"""The whole daily flow on the demo market: every row accounted for, reruns change nothing."""

from datetime import date

import duckdb
import polars as pl
import pytest

from warehouse.connection import table_checksums

pytestmark = pytest.mark.slow
END = "2025-12-31"  # fixed, so the test does not depend on today's date
#: bookkeeping of when a stored story was last seen again: the only columns a rerun may touch
SEEN = ("last_seen_at", "last_run_id")


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory, prefect_api):
    from typer.testing import CliRunner

    from flows.cli import app

    path = tmp_path_factory.mktemp("demo") / "w.duckdb"
    runner = CliRunner()
    args = ["run", "--source", "demo", "--end", END, "--warehouse", str(path), "--seed", "11"]
    first = runner.invoke(app, args, catch_exceptions=False)
    con = duckdb.connect(str(path), read_only=True)
    after_first = table_checksums(con, ("raw", "core", "marts"), ignore=SEEN)
    con.close()
    second = runner.invoke(app, args, catch_exceptions=False)
    return path, first, second, after_first


def test_run_succeeds_and_prints_the_largest_reactions(demo_runs):
    _, first, _, _ = demo_runs
    assert first.exit_code == 0, first.output
    assert "success" in first.output
    assert "Largest day-0 abnormal returns" in first.output


def test_every_extracted_row_is_loaded_or_quarantined(demo_runs):
    path, *_ = demo_runs
    con = duckdb.connect(str(path), read_only=True)
    run_id = con.execute("SELECT min(run_id) FROM audit.etl_run").fetchall()[0][0]
    counts = dict(con.execute(
        "SELECT stage, rows FROM audit.etl_run_count WHERE run_id = ? AND dataset = 'prices'",
        [run_id]).fetchall())
    core = con.execute("SELECT count(*) FROM core.fact_price_daily").fetchall()[0][0]
    quarantined = con.execute("SELECT count(*) FROM audit.quarantine WHERE run_id = ? "
                              "AND dataset = 'prices'",
                              [run_id]).fetchall()[0][0]
    # the planted defects, found independently of the GX suite: close/open above high
    raw = pl.from_arrow(con.sql(
        "SELECT * FROM raw.price_daily WHERE run_id = ?", params=[run_id]).to_arrow_table())
    con.close()
    defects = raw.filter((pl.col("close") > pl.col("high")) | (pl.col("open") > pl.col("high"))
                         | (pl.col("low") > pl.col("close")) | (pl.col("low") > pl.col("open")))
    assert defects.height > 0
    assert quarantined == defects.height
    assert counts["extracted"] == raw.height == core + quarantined
    assert counts["quarantined"] == quarantined


def test_rerun_changes_nothing(demo_runs):
    path, _, second, after_first = demo_runs
    assert second.exit_code == 0, second.output
    con = duckdb.connect(str(path), read_only=True)
    assert table_checksums(con, ("raw", "core", "marts"), ignore=SEEN) == after_first
    statuses = [r[0] for r in con.execute("SELECT status FROM audit.etl_run").fetchall()]
    con.close()
    assert statuses == ["success", "success"]
    assert "studies_built=0" in second.output  # nothing new: no study's marts rebuilt


#: A later end: the windows of December 2025's events reach into these new sessions.
LATER = "2026-01-09"


def test_a_later_day_rebuilds_only_the_studies_it_reaches(demo_runs, tmp_path):
    """The next sessions rebuild the studies whose window reaches them (and no other), and
    the marts equal a full rebuild's (`--rebuild-marts` on a copy of the same warehouse)."""
    import shutil

    from typer.testing import CliRunner

    from flows.cli import app

    path, *_ = demo_runs
    copy = tmp_path / "copy.duckdb"
    shutil.copy(path, copy)
    runner = CliRunner()
    args = ["run", "--source", "demo", "--end", LATER, "--seed", "11", "--top", "0",
            "--no-publish"]
    later = runner.invoke(app, [*args, "--warehouse", str(path)], catch_exceptions=False)
    assert later.exit_code == 0, later.output
    full = runner.invoke(app, [*args, "--warehouse", str(copy), "--rebuild-marts"],
                         catch_exceptions=False)
    assert full.exit_code == 0, full.output
    con = duckdb.connect(str(path), read_only=True)
    run_id = con.execute("SELECT max(run_id) FROM audit.etl_run").fetchall()[0][0]
    built = set(con.execute("SELECT event_id, anchor FROM audit.study_fingerprint "
                            "WHERE run_id = ?", [run_id]).fetchall())
    total = con.execute("SELECT count(*) FROM audit.study_fingerprint").fetchall()[0][0]
    # announcement studies whose window (+20 sessions on some venue) passes the old end,
    # from the day 0s and the calendar, not from the code under test
    reaching = set(con.execute("""
        SELECT DISTINCT d.event_id, 'announcement' FROM core.fact_event_day0 d
        JOIN core.dim_session s ON s.exchange_mic = d.exchange_mic AND s.session_date = d.day0
        JOIN core.dim_session e ON e.exchange_mic = d.exchange_mic
             AND e.session_idx = s.session_idx + 20
        WHERE e.session_date > ?""", [date.fromisoformat(END)]).fetchall())
    mine = table_checksums(con, ("marts",))
    con.close()
    assert reaching and reaching <= built
    assert {a for _, a in built} <= {"announcement", "attention"}
    assert len(built) < total  # the other studies were kept, not rebuilt
    assert f"studies_built={len(built)}" in later.output
    con = duckdb.connect(str(copy), read_only=True)
    assert table_checksums(con, ("marts",)) == mine
    con.close()


def test_deepseek_app_day_shows_in_the_marts(demo_runs):
    path, *_ = demo_runs
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute(
        "SELECT ticker, day0, ar_day0, est_n, source FROM marts.event_reaction "
        "WHERE event_id = 'deepseek-app-1-us-app-store' AND segment = 'accelerators' "
        "AND exchange_mic IN ('XNAS', 'XNYS')").fetchall()
    con.close()
    assert rows and all(r[1] == date(2025, 1, 27) for r in rows)
    assert all(r[2] < -0.03 and r[3] >= 120 and r[4] == "demo" for r in rows)
