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
