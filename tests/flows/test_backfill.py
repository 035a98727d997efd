"""Backfill planning (pure), resumability (a real flow run on the demo market), and the run
artifacts' markdown."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from contracts import ContractError
from flows import backfill as bf
from flows.artifacts import reactions_table, summary_markdown
from flows.daily_refresh import RunSummary
from transforms.calendar import exchange_sessions

SECURITIES = pl.DataFrame({
    "ticker": ["NVDA", "AMD", "005930.KS"],
    "exchange_mic": ["XNAS", "XNAS", "XKRX"],
})


@pytest.fixture(scope="module")
def sessions():
    return exchange_sessions(["XNAS", "XKRX"], date(2024, 12, 1), date(2025, 3, 31))


# --------------------------------------------------------------------------- planning


def test_plan_is_batches_by_windows_window_first():
    chunks = bf.plan_chunks(["A", "B", "C", "D", "E"], date(2024, 1, 1), date(2024, 12, 31),
                            batch_size=2, chunk_days=200)
    assert [(c.tickers, c.start, c.end) for c in chunks] == [
        (("A", "B"), date(2024, 1, 1), date(2024, 7, 18)),
        (("C", "D"), date(2024, 1, 1), date(2024, 7, 18)),
        (("E",), date(2024, 1, 1), date(2024, 7, 18)),
        (("A", "B"), date(2024, 7, 19), date(2024, 12, 31)),
        (("C", "D"), date(2024, 7, 19), date(2024, 12, 31)),
        (("E",), date(2024, 7, 19), date(2024, 12, 31)),
    ]
    assert [c.index for c in chunks] == list(range(6))
    assert chunks[0].label == "#1 A+1 2024-01-01..2024-07-18"


def test_plan_rejects_bad_ranges():
    with pytest.raises(ContractError, match="after"):
        bf.plan_chunks(["A"], date(2024, 2, 1), date(2024, 1, 1), 1, 1)
    with pytest.raises(ContractError, match="at least 1"):
        bf.plan_chunks(["A"], date(2024, 1, 1), date(2024, 2, 1), 0, 10)


def coverage(rows: list[tuple[str, date, date]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"ticker": pl.String, "first_session": pl.Date,
                                      "last_session": pl.Date}, orient="row")


def test_chunk_is_loaded_when_its_window_watermarks_reach_both_ends(sessions):
    chunk = bf.Chunk(0, ("NVDA", "005930.KS"), date(2025, 1, 1), date(2025, 1, 31))
    full = coverage([("NVDA", date(2025, 1, 2), date(2025, 1, 31)),
                     ("005930.KS", date(2025, 1, 2), date(2025, 1, 31))])
    assert bf.loaded_chunks([chunk], {(chunk.start, chunk.end): full}, SECURITIES,
                            sessions) == {0}
    # a bar missing at the edge (quarantined) is tolerated ...
    edge = coverage([("NVDA", date(2025, 1, 3), date(2025, 1, 30)),
                     ("005930.KS", date(2025, 1, 2), date(2025, 1, 31))])
    assert bf.loaded_chunks([chunk], {(chunk.start, chunk.end): edge}, SECURITIES,
                            sessions) == {0}
    # ... a chunk that stops a week short is not, nor one missing a ticker
    short = coverage([("NVDA", date(2025, 1, 2), date(2025, 1, 24)),
                      ("005930.KS", date(2025, 1, 2), date(2025, 1, 31))])
    missing = coverage([("NVDA", date(2025, 1, 2), date(2025, 1, 31))])
    for cov in (short, missing):
        assert bf.loaded_chunks([chunk], {(chunk.start, chunk.end): cov}, SECURITIES,
                                sessions) == set()


def test_history_behind_newer_data_is_not_skipped(sessions):
    """A ticker whose overall watermark is recent still needs an older window: coverage is
    measured inside the window, so a window with no rows is not loaded."""
    chunk = bf.Chunk(0, ("NVDA",), date(2024, 12, 1), date(2024, 12, 31))
    nothing_in_window = coverage([])
    assert bf.loaded_chunks([chunk], {(chunk.start, chunk.end): nothing_in_window},
                            SECURITIES, sessions) == set()


def test_window_with_no_session_needs_nothing(sessions):
    """Korea was closed 2025-01-27..30: a chunk of only those days is trivially loaded."""
    chunk = bf.Chunk(0, ("005930.KS",), date(2025, 1, 27), date(2025, 1, 30))
    assert bf.loaded_chunks([chunk], {(chunk.start, chunk.end): coverage([])}, SECURITIES,
                            sessions) == {0}


def test_task_runner_choices():
    from prefect.task_runners import ThreadPoolTaskRunner

    assert isinstance(bf.make_task_runner("threads", workers=3), ThreadPoolTaskRunner)
    with pytest.raises(ContractError, match="unknown task runner"):
        bf.make_task_runner("ray")


# --------------------------------------------------------------------------- artifacts


def test_summary_markdown_reports_counts_validation_and_reactions():
    summary = RunSummary(run_id="r1", status="partial", warehouse="w.duckdb",
                         counts={"prices.extracted": 1000, "prices.raw_landed": 1000,
                                 "prices.inserted": 990, "prices.updated": 2,
                                 "prices.quarantined": 8, "marts.event_reaction": 40},
                         failed_tickers=["8035.T"])
    validation = pl.DataFrame({
        "suite": ["prices"] * 3, "expectation": ["close_null", "close_above_high", "stale_price"],
        "severity": ["reject", "reject", "warn"], "success": [True, False, False],
        "element_count": [1000] * 3, "unexpected": [0, 8, 3],
    })
    reactions = pl.DataFrame({
        "event_id": ["e1", "e1", "e1"], "event_name": ["DeepSeek app"] * 3,
        "day0": [date(2025, 1, 27)] * 3, "ticker": ["NVDA", "^GSPC", "AAPL"],
        "segment": ["accelerators", "benchmark", "hyperscalers_cloud"],
        "exchange_mic": ["XNAS", "XNYS", "XNAS"], "ret_day0": [-0.1697, -0.0146, 0.032],
        "ar_day0": [-0.15, None, 0.04], "car_0_p5": [-0.12, None, 0.05],
        "car_0_0_t": [-6.1, None, 1.9], "thin_estimation": [False, False, False],
    })
    text = summary_markdown(summary, validation, reactions, "daily-refresh")
    assert "# Aftershock daily-refresh run `r1`: **partial**" in text
    assert "Tickers not fetched (1): 8035.T" in text
    assert "| prices | 1,000 | 1,000 | 990 | 2 | 8 | 99.20 % |" in text
    assert "Expectations met: 1 of 3." in text
    assert "| prices | close_above_high | reject | 8 |" in text
    assert "| marts.event_reaction | 40 |" in text
    assert "## New events (1)" in text and "`e1` DeepSeek app (3 securities)" in text
    top = text.split("## Top")[1]
    assert top.index("NVDA") < top.index("AAPL") and "^GSPC" not in top
    assert "| e1 | 2025-01-27 | NVDA | accelerators | -16.97 | -15.00 | -12.00 | -6.10 |" in top
    rows = reactions_table(reactions, max_rows=2)
    assert len(rows) == 2 and rows[0]["day0"] == "2025-01-27"
    assert rows[0]["ar_day0_pct"] == -15.0


def test_summary_markdown_without_new_events():
    summary = RunSummary(run_id="r2", status="success", warehouse="w", counts={})
    empty = pl.DataFrame(schema={"event_id": pl.String, "event_name": pl.String,
                                 "day0": pl.Date, "segment": pl.String, "ar_day0": pl.Float64})
    text = summary_markdown(summary, pl.DataFrame(), empty, "daily-refresh")
    assert "No event's day-0 prices were loaded by this run." in text


# --------------------------------------------------------------------------- a real backfill

TICKERS = ["NVDA", "AMD", "^GSPC", "^IXIC"]
RANGE = {"start": date(2024, 1, 1), "end": date(2024, 12, 31)}
CHUNKING = {"batch_size": 2, "chunk_days": 120}  # 4 windows x 2 batches = 8 chunks


def _content(path: str) -> dict:
    from warehouse.connection import connect_read_only, table_checksums

    con = connect_read_only(path)
    try:
        return table_checksums(con, ("core", "marts"), ignore=("run_id",))
    finally:
        con.close()


@pytest.mark.slow
def test_interrupted_backfill_resumes_where_it_stopped(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from flows import ops_cmds
    from warehouse.connection import connect_read_only

    clean = str(tmp_path / "clean.duckdb")
    whole = bf.backfill(tickers=TICKERS, source="demo", warehouse=clean, **RANGE, **CHUNKING)
    assert (whole.status, whole.chunks, whole.loaded, whole.skipped) == ("success", 8, 8, 0)
    assert whole.published["path"] == str(tmp_path / "serving" / "aftershock.duckdb")

    # the third chunk's load dies: two chunks are committed, the run is recorded as failed
    path = str(tmp_path / "w.duckdb")
    real_load, calls = bf.load_batch, []

    def dying_load(con, run_id, result):
        calls.append(run_id)
        if len(calls) == 3:
            raise RuntimeError("killed mid-backfill")
        return real_load(con, run_id, result)

    monkeypatch.setattr(bf, "load_batch", dying_load)
    with pytest.raises(RuntimeError, match="killed mid-backfill"):
        bf.backfill(tickers=TICKERS, source="demo", warehouse=path, **RANGE, **CHUNKING)
    monkeypatch.setattr(bf, "load_batch", real_load)
    con = connect_read_only(path)
    status, error = con.execute(
        "SELECT status, error FROM audit.etl_run WHERE flow = 'backfill'").fetchall()[0]
    loaded = con.execute("SELECT count(DISTINCT ticker) FROM core.fact_price_daily").fetchall()
    con.close()
    assert status == "failed" and "killed mid-backfill" in error
    assert loaded[0][0] == 4  # window 1 of both batches

    resumed = bf.backfill(tickers=TICKERS, source="demo", warehouse=path, **RANGE, **CHUNKING)
    assert (resumed.status, resumed.skipped, resumed.loaded) == ("success", 2, 6)
    assert _content(path) == _content(clean)

    # once more through the command line: everything is there already
    app = __import__("typer").Typer()
    app.command()(ops_cmds.backfill)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, [
        "backfill", "--start", "2024-01-01", "--end", "2024-12-31", "--tickers",
        ",".join(TICKERS), "--source", "demo", "--warehouse", path, "--batch-size", "2",
        "--chunk-days", "120"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "0 chunks loaded, 8 already there (of 8)" in " ".join(result.output.split())

    # the backfill published its artifacts
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["backfill-run-summary", "backfill-new-reactions"])))
    assert {a.key for a in found} == {"backfill-run-summary", "backfill-new-reactions"}
    assert any("## Rows per dataset" in (a.data or "") for a in found
               if a.key == "backfill-run-summary")


def test_command_rejects_bad_input_in_one_line(tmp_path):
    import typer
    from typer.testing import CliRunner

    from flows import ops_cmds

    app = typer.Typer()
    app.command()(ops_cmds.backfill)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    result = runner.invoke(app, ["backfill", "--start", "2024-13-01", "--end", "2024-12-31"])
    assert result.exit_code == 2 and "--start '2024-13-01' is not a date" in result.output
    result = runner.invoke(app, ["backfill", "--start", "2024-01-01", "--end", "2024-12-31",
                                 "--source", "bloomberg"])
    assert result.exit_code == 2 and "unknown source 'bloomberg'" in result.output
