"""The prices suite's previous-session rules, the gap report, and Data Docs."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest

from expectations.docs import build_data_docs, index_path
from expectations.prices import (
    GAP_REPORT,
    HELPER_COLUMNS,
    PRICES_COLUMNS,
    gap_report,
    validate_gaps,
    validate_prices,
)

D = dt.date
SHARED = Path(
    os.environ.get("AFTERSHOCK_SHARED", Path(__file__).resolve().parents[2].parent / "shared")
)
SNAPSHOT = SHARED / "market-snapshot"


def _row(ticker, day, close, *, adj=None, volume=1e6):
    return {"ticker": ticker, "session_date": day, "open": close, "high": close * 1.01,
            "low": close * 0.99, "close": close, "adj_close": close if adj is None else adj,
            "volume": volume, "source": "t", "currency": "USD", "is_exchange_session": True}


def _frame(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PRICES_COLUMNS)


def test_moves_are_measured_from_the_previous_usable_row_in_date_order():
    rows = [
        _row("A", D(2025, 1, 24), 150.0),  # out of order on purpose
        _row("A", D(2025, 1, 21), 100.0),
        _row("A", D(2025, 1, 22), -1.0),  # unusable: never anyone's previous
        _row("A", D(2025, 1, 23), 141.0),  # +41 % over the 21st -> flagged
        _row("B", D(2025, 1, 21), 10.0),  # another ticker does not count
    ]
    out = validate_prices(_frame(rows))
    flags = {(r["ticker"], r["session_date"]): r["quality_flags"] for r in out.good.to_dicts()}
    assert flags == {("A", D(2025, 1, 24)): [], ("A", D(2025, 1, 21)): [],
                     ("A", D(2025, 1, 23)): ["extreme_move"], ("B", D(2025, 1, 21)): []}
    assert out.rejected["session_date"].to_list() == [D(2025, 1, 22)]
    assert set(HELPER_COLUMNS).isdisjoint(out.good.columns)  # helpers never leave the suite
    sample = json.loads(out.results.filter(pl.col("expectation") == "extreme_move")["sample"][0])
    assert sample == [{"ticker": "A", "session_date": "2025-01-23",
                       "day_move": pytest.approx(0.41)}]


def test_context_rows_give_the_first_row_its_previous_session():
    frame = _frame([_row("A", D(2025, 1, 23), 150.0), _row("A", D(2025, 1, 24), 151.0)])
    context = pl.DataFrame({
        "ticker": ["A", "A"], "session_date": [D(2025, 1, 22), D(2025, 1, 23)],
        "close": [100.0, 999.0], "adj_close": [100.0, 999.0],
    })
    assert validate_prices(frame).flagged.height == 0  # nothing to compare the 23rd with
    out = validate_prices(frame, context=context)
    assert out.flagged.select("session_date", "quality_flags").to_dicts() == [
        {"session_date": D(2025, 1, 23), "quality_flags": ["extreme_move"]}]
    # the context's own copy of the 23rd is ignored (the frame's row wins), none is returned
    assert out.good.height == 2 and out.good["close"].to_list() == [150.0, 151.0]


def test_adj_ratio_jump_and_its_threshold():
    rows = [_row("A", D(2025, 1, 21), 100.0), _row("A", D(2025, 1, 22), 100.0, adj=96.0),
            _row("A", D(2025, 1, 23), 100.0, adj=100.0)]
    out = validate_prices(_frame(rows))
    assert [r["quality_flags"] for r in out.good.to_dicts()] == [[], [], []]  # 4 %, +4.2 %
    rows[1] = _row("A", D(2025, 1, 22), 100.0, adj=94.0)
    out = validate_prices(_frame(rows))
    assert [r["quality_flags"] for r in out.good.to_dicts()] == [
        [], ["adj_ratio_jump"], ["adj_ratio_jump"]]


@pytest.fixture(scope="module")
def sessions():
    from transforms.calendar import exchange_sessions

    return exchange_sessions(["XNYS", "XKRX"], D(2025, 1, 1), D(2025, 3, 1))


SECURITIES = pl.DataFrame({"ticker": ["NVDA", "000660.KS", "LATE"],
                           "exchange_mic": ["XNAS", "XKRX", "XNYS"]})


def test_gap_report_counts_missing_sessions_within_each_tickers_span(sessions):
    nyse = sessions.filter(pl.col("exchange_mic") == "XNYS")["session_date"].to_list()
    krx = sessions.filter(pl.col("exchange_mic") == "XKRX")["session_date"].to_list()
    assert D(2025, 1, 9) not in nyse and D(2025, 1, 28) not in krx  # holidays are no gaps
    nvda = [d for d in nyse if d <= D(2025, 1, 31) and d not in (D(2025, 1, 14), D(2025, 1, 15))]
    hynix = [d for d in krx if d <= D(2025, 1, 31)]
    prices = pl.DataFrame({
        "ticker": ["NVDA"] * len(nvda) + ["000660.KS"] * len(hynix) + ["LATE", "LATE", "NOPE"],
        "session_date": nvda + hynix + [D(2025, 1, 29), D(2025, 1, 25), D(2025, 1, 2)],
    })
    # NVDA is XNAS in this master: sessions are keyed by MIC, and XNAS is not in `sessions`
    report = gap_report(prices, sessions.with_columns(
        exchange_mic=pl.when(pl.col("exchange_mic") == "XNYS").then(pl.lit("XNAS"))
        .otherwise(pl.col("exchange_mic"))).vstack(sessions.filter(
            pl.col("exchange_mic") == "XNYS")), SECURITIES)
    assert report.schema == pl.Schema(GAP_REPORT)
    rows = {r["ticker"]: r for r in report.to_dicts()}
    assert set(rows) == {"NVDA", "000660.KS", "LATE"}  # unknown tickers have no row
    assert (rows["NVDA"]["missing"], rows["NVDA"]["missing_dates"]) == (
        2, [D(2025, 1, 14), D(2025, 1, 15)])
    assert rows["NVDA"]["expected_sessions"] == rows["NVDA"]["present"] + 2
    assert (rows["000660.KS"]["missing"], rows["000660.KS"]["first_missing"]) == (0, None)
    # a Saturday row is ignored; the span is the one session
    assert (rows["LATE"]["first_session"], rows["LATE"]["expected_sessions"]) == (
        D(2025, 1, 29), 1)

    gaps = validate_gaps(report)
    assert gaps.flagged["ticker"].to_list() == ["NVDA"]
    assert gaps.results["unexpected_count"].to_list() == [1]


@pytest.mark.snapshot
@pytest.mark.skipif(not SNAPSHOT.is_dir(), reason=f"market snapshot not found at {SNAPSHOT}")
def test_snapshot_warnings_are_the_known_real_cases():
    """Every warning the whole snapshot raises is a documented real case (SOURCES.md)."""
    from sources.snapshot import SnapshotSource
    from transforms import calendar, prices
    from warehouse import seeds

    securities = seeds.read_universe()
    source = SnapshotSource(SNAPSHOT)
    tickers = [t for t in securities["ticker"] if t in set(source.available())]
    raw = source.prices(tickers, D(2018, 1, 1), D(2026, 12, 31)).frame
    sessions = calendar.exchange_sessions(securities["exchange_mic"].unique().to_list(),
                                          D(2017, 1, 1), D(2026, 12, 31))
    out = validate_prices(prices.to_core(raw, securities, sessions))
    # nothing is lost: every row read is loaded or quarantined
    assert out.good.height + out.rejected.height == raw.height
    rejected = {(r["ticker"], r["session_date"]): r["reasons"] for r in out.rejected.to_dicts()}
    # SOURCES.md's documented cases are quarantined with their reason ...
    documented = {
        ("000660.KS", D(2023, 2, 2)): ["close_below_low"],
        ("000660.KS", D(2023, 2, 9)): ["close_above_high"],
        ("000660.KS", D(2024, 10, 14)): ["close_below_low"],
        ("005930.KS", D(2024, 10, 14)): ["close_below_low"],
    }
    assert {k: rejected.get(k) for k in documented} == documented
    # ... and every quarantined row has a reason the raw values show, checked here directly
    bars = {(r["ticker"], r["session_date"]): r for r in raw.to_dicts()}
    for key, reasons in rejected.items():
        bar = bars[key]
        assert set(reasons) <= {"close_below_low", "close_above_high", "not_exchange_session"}
        assert ("close_below_low" in reasons) == (bar["close"] < bar["low"]), key
        assert ("close_above_high" in reasons) == (bar["close"] > bar["high"]), key
        if "not_exchange_session" in reasons:
            mic = securities.filter(pl.col("ticker") == key[0])["exchange_mic"].item()
            assert key[1] not in set(sessions.filter(pl.col("exchange_mic") == mic)
                                     ["session_date"]), key
    assert len(rejected) < raw.height / 1000  # a real recording is overwhelmingly clean
    flags = out.flagged.explode("quality_flags")
    assert set(flags["quality_flags"]) <= {"stale_price", "extreme_move"}
    stale = flags.filter(pl.col("quality_flags") == "stale_price")
    # SOURCES.md's Korean and Hong Kong placeholder rows are all flagged, and every stale
    # flag is a flat bar (open = high = low = close) in the file
    counts = dict(stale.group_by("ticker").len().iter_rows())
    for ticker, n in {"000660.KS": 15, "005930.KS": 16, "0700.HK": 8}.items():
        assert counts.get(ticker, 0) >= n, ticker
    for row in stale.select("ticker", "session_date").to_dicts():
        bar = bars[(row["ticker"], row["session_date"])]
        assert bar["open"] == bar["high"] == bar["low"] == bar["close"], row
    moves = flags.filter(pl.col("quality_flags") == "extreme_move")
    # VIX spikes, ARM's earnings day (+48 %) and SMCI's 2018-10-04 fall (-41 %)
    assert set(moves["ticker"]) >= {"^VIX", "ARM", "SMCI"}
    # ^SOX / ^VIX carry volume 0 on every row and load unflagged unless flat
    assert out.good.filter(pl.col("ticker") == "^SOX").height > 2000


def test_data_docs_are_built_from_the_runs_own_results(tmp_path):
    rows = [_row("A", D(2025, 1, 21), 100.0), _row("A", D(2025, 1, 22), 150.0),
            {**_row("A", D(2025, 1, 23), 150.0), "close": 999.0}]
    prices_outcome = validate_prices(_frame(rows))
    index = build_data_docs([prices_outcome], "run-1", root=tmp_path,
                            run_time=dt.datetime(2025, 1, 24, tzinfo=dt.UTC))
    assert index == index_path(tmp_path) and index.is_file()
    pages = list((index.parent / "validations" / "core_prices" / "run-1").rglob("*.html"))
    assert len(pages) == 1
    html = pages[0].read_text()
    assert "[reject] close_above_high" in html and "[warn] extreme_move" in html
    assert "run-1" in html
    assert (index.parent / "expectations" / "core_prices.html").is_file()

    # a second run adds its page; the first stays
    build_data_docs([prices_outcome], "run-2", root=tmp_path)
    runs = sorted(p.name for p in (index.parent / "validations" / "core_prices").iterdir())
    assert runs == ["run-1", "run-2"]
