"""Bad price rows: each case is a clean week of one ticker with one bad row. All cases go
through the real conform -> validate -> load steps (see conftest) together, as one run of
one extract (each case has its own ticker, so they cannot interfere). Each case asserts the
bad row's exact fate -- quarantined with exactly these reasons, loaded with exactly these
quality flags, or loaded clean -- and that every other row of its week was loaded unchanged
and unflagged."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import pytest

NAN, INF = float("nan"), float("inf")
DAY = date(2025, 1, 23)  # the row each case spoils (the third session of the week)


@dataclass(frozen=True)
class Case:
    id: str
    #: (week rows, bar factory) -> the week with the bad row(s) in it
    spoil: object
    #: "quarantined" (reasons), "warned" (quality_flags) or "loaded" (no flags)
    fate: str
    names: tuple[str, ...] = ()
    #: the bad row's ticker when it is not the case's own (see ``ticker_of``)
    ticker: str | None = None
    day: date = DAY
    #: the bad key is absent from core afterwards (every copy quarantined)
    key_lost: bool = False


def replace(week, bar, **values):
    return [dict(r, **values) if r["session_date"] == DAY else r for r in week]


def add(week, row):
    return [*week, row]


def flat(week, **values):
    """The day's bar made flat (O=H=L=C)."""
    return [dict(r, open=r["close"], high=r["close"], low=r["close"], **values)
            if r["session_date"] == DAY else r for r in week]


CASES = [
    Case("nan_close", lambda w, b: replace(w, b, close=NAN), "quarantined",
         ("close_null", "value_not_finite")),
    Case("nan_open", lambda w, b: replace(w, b, open=NAN), "quarantined", ("value_not_finite",)),
    Case("inf_high", lambda w, b: replace(w, b, high=INF), "quarantined", ("value_not_finite",)),
    Case("minus_inf_adj_close", lambda w, b: replace(w, b, adj_close=-INF), "quarantined",
         ("adj_close_not_positive", "value_not_finite")),
    Case("negative_close", lambda w, b: replace(w, b, close=-5.0), "quarantined",
         ("close_not_positive", "close_below_low")),
    Case("zero_close", lambda w, b: replace(w, b, close=0.0), "quarantined",
         ("close_not_positive", "close_below_low")),
    Case("null_adj_close", lambda w, b: replace(w, b, adj_close=None), "quarantined",
         ("adj_close_null",)),
    Case("negative_volume", lambda w, b: replace(w, b, volume=-100.0), "quarantined",
         ("volume_negative",)),
    Case("null_volume", lambda w, b: replace(w, b, volume=None), "quarantined", ("volume_null",)),
    Case("close_above_high", lambda w, b: replace(w, b, high=140.0, close=150.0, adj_close=150.0,
                                                  open=139.0,
                                                  low=138.0),
         "quarantined", ("close_above_high",)),
    Case("close_below_low", lambda w, b: replace(w, b, low=145.0, close=141.0, open=146.0,
                                                 high=147.0),
         "quarantined", ("close_below_low",)),
    Case("open_above_high", lambda w, b: replace(w, b, open=200.0), "quarantined",
         ("open_above_high",)),
    # an exact copy loses nothing: one copy loads, flagged; copies that differ cannot be told
    # apart, so both stay quarantined
    Case("exact_duplicate_row", lambda w, b: add(w, next(r for r in w
                                                          if r["session_date"] == DAY)),
         "warned", ("duplicate_collapsed",)),
    Case("conflicting_duplicate_row", lambda w, b: add(w, b(DAY, 999.0)), "quarantined",
         ("duplicate_key",), key_lost=True),
    Case("saturday", lambda w, b: add(w, b(date(2025, 1, 25), 141.0)), "quarantined",
         ("not_exchange_session",), day=date(2025, 1, 25)),
    Case("market_holiday", lambda w, b: add(w, b(date(2025, 1, 9), 141.0)), "quarantined",
         ("not_exchange_session",), day=date(2025, 1, 9)),  # national day of mourning
    Case("ticker_not_in_universe", lambda w, b: add(w, b(DAY, 10.0, ticker="NOPE")),
         "quarantined", ("not_exchange_session",), ticker="NOPE"),
    # a finite, positive, OHLC-ordered bar that no instrument prints: never loaded, and the
    # next session is compared with the real level, so it loads unflagged
    Case("bar_at_1e308", lambda w, b: replace(w, b, open=1e308, high=1e308, low=1e308,
                                              close=1e308, adj_close=1e308), "quarantined",
         ("price_out_of_range",)),
    Case("hundredfold_one_day_jump", lambda w, b: [
        dict(r, open=r["open"] * 100, high=r["high"] * 100, low=r["low"] * 100,
             close=r["close"] * 100, adj_close=r["adj_close"] * 100)
        if r["session_date"] == DAY else r for r in w], "quarantined", ("implausible_level",)),
    Case("stale_placeholder_bar", lambda w, b: flat(w, volume=0.0), "warned", ("stale_price",)),
    Case("flat_bar_with_volume", lambda w, b: flat(w), "loaded"),
    Case("move_beyond_40pct", lambda w, b: [
        dict(r, open=r["close"] * 1.45, high=r["high"] * 1.45, low=r["low"] * 1.45,
             close=r["close"] * 1.45, adj_close=r["adj_close"] * 1.45)
        if r["session_date"] == DAY else r for r in w], "warned", ("extreme_move",)),
    Case("adj_ratio_jump", lambda w, b: [
        dict(r, adj_close=r["close"] * 0.9) if r["session_date"] >= DAY else r for r in w],
         "warned", ("adj_ratio_jump",)),
    Case("index_zero_volume", lambda w, b: add(w, b(DAY, 6000.0, ticker="^GSPC", volume=0.0)),
         "loaded", ticker="^GSPC"),
    Case("null_open_high_low", lambda w, b: replace(w, b, open=None, high=None, low=None),
         "loaded"),
    # 005930.KS 2020-12-18 in the snapshot: close one ulp below low after back-adjustment
    Case("back_adjustment_float_noise", lambda w, b: [
        dict(r, low=math.nextafter(r["close"], INF)) if r["session_date"] == DAY else r
        for r in w], "loaded"),
]


#: US listings of the universe on the XNYS calendar: one per case
_TICKERS = ["NVDA", "AMD", "AVGO", "INTC", "QCOM", "MU", "TXN", "AMAT", "LRCX", "KLAC", "SMCI",
            "DELL", "HPE", "ANET", "CSCO", "VST", "CEG", "NRG", "NEE", "MSFT", "GOOGL", "GOOG",
            "AMZN", "META", "ORCL", "AAPL", "PLTR", "CRM", "ADBE", "NOW", "IBM"]


def ticker_of(case: Case) -> str:
    return _TICKERS[CASES.index(case)]


def _rows(case: Case, kit) -> list[dict]:
    mine = ticker_of(case)
    week = kit.good_week(ticker=mine)
    bar = lambda day, close, ticker=mine, **kw: kit.bar(day, close, ticker=ticker, **kw)  # noqa: E731
    return case.spoil(week, bar)


@pytest.fixture(scope="module")
def loaded(kit, load_prices):
    rows = [row for case in CASES for row in _rows(case, kit)]
    return load_prices(kit.raw_frame(rows))


def test_cases_have_their_own_tickers(kit):
    assert len(CASES) <= len(_TICKERS)
    universe = set(kit.securities()["ticker"])
    assert set(_TICKERS) <= universe


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_price_row(case: Case, kit, loaded):
    rows = _rows(case, kit)
    ticker = case.ticker or ticker_of(case)

    quarantined = loaded.reasons(ticker, case.day)
    row = loaded.core_row(ticker, case.day)
    if case.fate == "quarantined":
        copies = 2 if case.key_lost else 1  # a duplicated key: every copy, none loaded
        assert quarantined == [list(case.names)] * copies
        assert row is None
    else:
        assert quarantined == []
        assert row is not None, "the row must load"
        assert row["quality_flags"] == list(case.names)
    # every other row of the case's input arrived, unchanged and unflagged
    others = [r for r in rows if (r["ticker"], r["session_date"]) != (ticker, case.day)]
    kit.assert_good_rows_loaded(loaded, others)
    mine = loaded.quarantine.filter(
        loaded.quarantine["row_key"].str.starts_with(f"{ticker}|")
    )
    assert mine.height == (2 if case.key_lost else int(case.fate == "quarantined"))


def test_nothing_else_was_quarantined(loaded):
    expected = sum(2 if c.key_lost else int(c.fate == "quarantined") for c in CASES)
    assert loaded.quarantine.height == expected
