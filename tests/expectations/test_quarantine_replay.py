"""Quarantine listing and replay against a real (temporary) warehouse, without Prefect.

The warehouse is filled through the same loaders a run uses (``warehouse.load``): good rows
upserted, rejected rows written with ``load.quarantine`` under their run.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import polars as pl
import pytest

from expectations.prices import PRICES_COLUMNS
from flows.quarantine_cmd import replay_quarantine
from sources.reference import RAW_FX, RAW_SHARES
from warehouse import load
from warehouse.connection import connect, query_frame
from warehouse.quarantine import list_quarantine

D = dt.date
PRICE_KEY = ["ticker", "session_date"]
SCHEMA = PRICES_COLUMNS


def price(day, close, *, ticker="NVDA", high=None, low=None, open_=None, volume=1e6):
    return {
        "ticker": ticker,
        "session_date": day,
        "open": close if open_ is None else open_,
        "high": close * 1.01 if high is None else high,
        "low": close * 0.99 if low is None else low,
        "close": close,
        "adj_close": close,
        "volume": volume,
        "source": "test",
        "currency": "USD",
        "is_exchange_session": True,
    }


def _run(con, run_id: str, *, good=(), rejected=(), reasons=(), dataset="prices",
         key=PRICE_KEY, schema=SCHEMA, started: dt.datetime | None = None):
    load.start_run(con, run_id, "daily-refresh", "test", {})
    if started is not None:
        con.execute("UPDATE audit.etl_run SET started_at = ? WHERE run_id = ?", [started, run_id])
    with load.transaction(con):
        if good:
            frame = pl.DataFrame(list(good), schema=schema).with_columns(
                quality_flags=pl.lit([], pl.List(pl.String))
            )
            load.upsert_prices(con, frame.drop("is_exchange_session"), run_id)
        if rejected:
            frame = pl.DataFrame(list(rejected), schema=schema).with_columns(
                reasons=pl.Series(list(reasons), dtype=pl.List(pl.String))
            )
            load.quarantine(con, frame, dataset, key, run_id)
    load.finish_run(con, run_id, "success")


T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def warehouse(tmp_path):
    path = str(tmp_path / "w.duckdb")
    con = connect(path)
    # run 1: two good days; a row quarantined by a rule that has since been removed
    # ("legacy_rule": passes today's suite); a row still bad; a NaN open; a key that run 2
    # loads afresh; and a key quarantined again (newer copy) by run 2
    _run(
        con, "r1",
        good=[price(D(2025, 1, 21), 140.0), price(D(2025, 1, 22), 142.0)],
        rejected=[
            price(D(2025, 1, 23), 143.0),                       # fixed rule -> replayed
            price(D(2025, 1, 24), 150.0, high=145.0, low=140.0, open_=144.0),  # close > high
            price(D(2025, 1, 27), 118.0, open_=float("nan")),   # NaN open: still rejected
            price(D(2025, 1, 28), 120.0),                       # core gets it in r2: superseded
            price(D(2025, 1, 29), 121.0),                       # r2 quarantines a newer copy
        ],
        reasons=[["legacy_rule"], ["close_above_high"], ["value_not_finite"], ["legacy_rule"],
                 ["legacy_rule"]],
        started=T0,
    )
    _run(
        con, "r2",
        good=[price(D(2025, 1, 28), 128.0)],
        rejected=[price(D(2025, 1, 29), 123.0)],
        reasons=[["legacy_rule"]],
        started=T0 + dt.timedelta(days=1),
    )
    con.close()
    return path


def _core(path) -> dict:
    con = duckdb.connect(path, read_only=True)
    try:
        frame = query_frame(con, "SELECT session_date, close, run_id FROM core.fact_price_daily")
        return {r["session_date"]: (r["close"], r["run_id"]) for r in frame.to_dicts()}
    finally:
        con.close()


def _quarantine(path) -> list[dict]:
    con = duckdb.connect(path, read_only=True)
    try:
        return query_frame(
            con,
            "SELECT run_id, row_key, resolution, resolved_run_id FROM audit.quarantine "
            "ORDER BY row_key, run_id",
        ).to_dicts()
    finally:
        con.close()


def test_list_filters_by_dataset_and_run(warehouse):
    con = duckdb.connect(warehouse, read_only=True)
    try:
        everything = list_quarantine(con)
        assert everything.height == 6
        assert set(everything["status"]) == {"open"}
        assert list_quarantine(con, run_id="r2")["row_key"].to_list() == ["NVDA|2025-01-29"]
        assert list_quarantine(con, dataset="fx").height == 0
        row = list_quarantine(con, run_id="r1").filter(
            pl.col("row_key") == "NVDA|2025-01-24"
        ).row(0, named=True)
        assert row["reasons"] == "close_above_high"
        assert json.loads(row["row_json"])["high"] == 145.0
    finally:
        con.close()


def _add_legacy_nan_row(path) -> None:
    """A row quarantined before NaN was kept beside the JSON: its open is a bare null."""
    row = price(D(2025, 1, 30), 119.0)
    row["session_date"] = "2025-01-30"
    row["open"] = None
    con = connect(path)
    con.execute(
        "INSERT INTO audit.quarantine (run_id, dataset, row_key, row_json, reasons, "
        "quarantined_at) VALUES ('r1', 'prices', 'NVDA|2025-01-30', ?, ['value_not_finite'], "
        "TIMESTAMPTZ '2025-01-01 00:00:00+00')", [json.dumps(row)],
    )
    con.close()


def test_replay_loads_what_now_passes_and_leaves_the_rest_open(warehouse):
    _add_legacy_nan_row(warehouse)
    before = _core(warehouse)
    summary = replay_quarantine(warehouse, ["prices"], today=D(2025, 2, 1))

    assert summary.status == "success"
    counts = summary.counts["prices"]
    assert counts == {
        "open": 7,
        "candidates": 5,  # 23, 24, 27, 28 and the newest copy of 29 (30 lost its NaN)
        "replayed": 2,  # 23, and r2's copy of 29
        "superseded": 2,  # 28 (core has r2's newer row), r1's older copy of 29
        "still_rejected": 2,  # 24, and 27: its NaN open came back from the quarantine
        "not_replayable": 1,  # 30
        "inserted": 2,
        "updated": 0,
    }
    assert summary.still_rejected.to_dicts() == [
        {"dataset": "prices", "row_key": "NVDA|2025-01-24", "reasons": "close_above_high"},
        {"dataset": "prices", "row_key": "NVDA|2025-01-27", "reasons": "value_not_finite"},
    ]
    after = _core(warehouse)
    assert after[D(2025, 1, 23)] == (143.0, summary.run_id)
    assert after[D(2025, 1, 29)] == (123.0, summary.run_id)  # the newer quarantined copy
    assert after[D(2025, 1, 28)] == before[D(2025, 1, 28)] == (128.0, "r2")  # not overwritten
    # the runs' derived step ran in the replay's transaction, over the replayed rows
    assert summary.marts_rebuilt
    con = duckdb.connect(warehouse, read_only=True)
    try:
        gaps = con.execute("SELECT first_session, last_session, present FROM audit.gap_report "
                           "WHERE run_id = ? AND ticker = 'NVDA'", [summary.run_id]).fetchall()
        suites = {r[0] for r in con.execute(
            "SELECT DISTINCT suite FROM audit.validation_result WHERE run_id = ?",
            [summary.run_id]).fetchall()}
        securities = con.execute("SELECT count(*) FROM core.dim_security").fetchall()[0][0]
    finally:
        con.close()
    loaded = sorted(after)
    assert gaps == [(loaded[0], loaded[-1], len(loaded))]
    assert {"price_gaps", "mart_event_reaction", "mart_event_window"} <= suites, suites
    assert securities == 80
    for day in (D(2025, 1, 21), D(2025, 1, 22)):
        assert after[day] == before[day]  # no good row touched
    assert D(2025, 1, 24) not in after and D(2025, 1, 27) not in after

    states = {(r["run_id"], r["row_key"]): (r["resolution"], r["resolved_run_id"])
              for r in _quarantine(warehouse)}
    rid = summary.run_id
    assert states == {
        ("r1", "NVDA|2025-01-23"): ("replayed", rid),
        ("r1", "NVDA|2025-01-24"): (None, None),
        ("r1", "NVDA|2025-01-27"): (None, None),
        ("r1", "NVDA|2025-01-28"): ("superseded", rid),
        ("r1", "NVDA|2025-01-29"): ("superseded", rid),
        ("r1", "NVDA|2025-01-30"): (None, None),
        ("r2", "NVDA|2025-01-29"): ("replayed", rid),
    }

    con = duckdb.connect(warehouse, read_only=True)
    try:
        run = con.execute(
            "SELECT flow, source, status FROM audit.etl_run WHERE run_id = ?", [rid]
        ).fetchall()
        assert run == [("quarantine-replay", "quarantine", "success")]
        results = query_frame(
            con, "SELECT expectation, unexpected_count FROM audit.validation_result "
            "WHERE run_id = ? AND NOT success ORDER BY expectation", [rid]
        ).to_dicts()
        assert results == [  # the replayed suite, then the rebuilt gap report (24, 27 absent)
            {"expectation": "close_above_high", "unexpected_count": 1},
            {"expectation": "missing_sessions", "unexpected_count": 1},
            {"expectation": "value_not_finite", "unexpected_count": 1},
        ]
        counted = dict(con.execute(
            "SELECT stage, rows FROM audit.etl_run_count WHERE run_id = ? "
            "AND dataset = 'quarantine.prices'", [rid]).fetchall())
        assert counted["replayed"] == 2 and counted["still_rejected"] == 2
        assert list_quarantine(con).height == 3  # open: 24, 27 and 30
        assert list_quarantine(con, include_resolved=True).height == 7
    finally:
        con.close()

    # a second replay finds nothing new to load
    again = replay_quarantine(warehouse, ["prices"], today=D(2025, 2, 1))
    assert again.counts["prices"]["replayed"] == 0
    assert _core(warehouse) == after


def test_replay_of_reference_data(tmp_path):
    path = str(tmp_path / "w.duckdb")
    con = connect(path)
    shares = [
        {"ticker": "NVDA", "as_of_date": D(2025, 1, 2), "shares_outstanding": 24.49e9,
         "source": "test", "fetched_at": T0},
        {"ticker": "NVDA", "as_of_date": D(2025, 1, 3), "shares_outstanding": -1.0,
         "source": "test", "fetched_at": T0},
    ]
    _run(con, "r1", rejected=shares, reasons=[["old_rule"], ["shares_not_positive"]],
         dataset="shares", key=["ticker", "as_of_date"], schema=RAW_SHARES)
    fx = [{"currency": "JPY", "session_date": D(2025, 1, 2), "usd_per_unit": 0.0064,
           "source": "test", "fetched_at": T0}]
    _run(con, "r2", rejected=fx, reasons=[["old_rule"]], dataset="fx",
         key=["currency", "session_date"], schema=RAW_FX)
    con.close()

    summary = replay_quarantine(path, today=D(2025, 2, 1))

    assert summary.counts["shares"]["replayed"] == 1
    assert summary.counts["shares"]["still_rejected"] == 1
    assert summary.counts["fx"]["replayed"] == 1
    assert summary.still_rejected["reasons"].to_list() == ["shares_not_positive"]
    con = duckdb.connect(path, read_only=True)
    try:
        assert con.execute(
            "SELECT shares_outstanding FROM core.fact_shares_outstanding").fetchall() == [
            (24.49e9,)]
        assert con.execute("SELECT usd_per_unit FROM core.fact_fx_daily").fetchall() == [
            (0.0064,)]
    finally:
        con.close()


def test_a_failed_replay_rolls_back_and_says_why(warehouse):
    before = (_core(warehouse), _quarantine(warehouse))

    def broken(con, run_id):
        raise RuntimeError("mart step exploded")

    with pytest.raises(RuntimeError, match="mart step exploded"):
        replay_quarantine(warehouse, ["prices"], rebuild_marts=broken, today=D(2025, 2, 1))

    assert (_core(warehouse), _quarantine(warehouse)) == before
    con = duckdb.connect(warehouse, read_only=True)
    try:
        status, error = con.execute(
            "SELECT status, error FROM audit.etl_run WHERE flow = 'quarantine-replay'"
        ).fetchall()[0]
    finally:
        con.close()
    assert status == "failed" and "mart step exploded" in error


def test_unknown_dataset_is_refused(warehouse):
    from contracts import ContractError

    with pytest.raises(ContractError, match="cannot replay dataset\\(s\\) news"):
        replay_quarantine(warehouse, ["news"])


def test_a_row_whose_text_did_not_parse_stays_quarantined(tmp_path):
    """A null open is allowed, so a row whose open was ``N/A`` must keep its ``unparsed``
    text through the quarantine: the replay judges it again and leaves it open, never loads
    it with the value silently missing."""
    path = str(tmp_path / "w.duckdb")
    con = connect(path)
    _run(con, "r1", good=[price(D(2025, 1, 21), 140.0)],
         rejected=[{**price(D(2025, 1, 22), 141.0), "open": None,
                    "unparsed": '{"open":"N/A"}'}],
         reasons=[["value_unparseable"]], started=T0)
    con.close()
    summary = replay_quarantine(path, ["prices"], today=D(2025, 2, 1))
    assert summary.counts["prices"]["still_rejected"] == 1
    assert summary.counts["prices"]["replayed"] == 0
    assert summary.still_rejected.to_dicts() == [
        {"dataset": "prices", "row_key": "NVDA|2025-01-22", "reasons": "value_unparseable"}]
    assert D(2025, 1, 22) not in _core(path)


def test_non_finite_values_survive_the_quarantine_json():
    from flows.quarantine_cmd import _decode, _price_schema

    rows = pl.DataFrame(
        [price(D(2025, 1, 27), 118.0, open_=float("nan"), high=float("inf"),
               low=float("-inf")), price(D(2025, 1, 28), 120.0)],
        schema=SCHEMA,
    ).drop("is_exchange_session")
    stored = load.row_json(rows)
    first = json.loads(stored[0])
    assert (first["open"], first["high"], first["low"]) == (None, None, None)  # valid JSON
    assert first["_non_finite"] == {"open": "NaN", "high": "Infinity", "low": "-Infinity",
                                    "close": None, "adj_close": None, "volume": None}
    back = _decode(pl.DataFrame({"qid": [1, 2], "row_key": ["a", "b"], "_stamp": [T0, T0],
                                 "row_json": stored}), _price_schema())
    assert back.drop("qid", "row_key", "_stamp").equals(rows)  # NaN == NaN for equals
