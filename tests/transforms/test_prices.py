"""Core conformance and returns, checked by hand."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from transforms.prices import daily_returns, to_core

SEC = pl.DataFrame({"ticker": ["A", "B"], "currency": ["USD", "KRW"],
                    "exchange_mic": ["XNYS", "XKRX"]})
SESS = pl.DataFrame(
    {
        "exchange_mic": ["XNYS"] * 4 + ["XKRX"] * 2,
        "session_date": [date(2025, 1, d) for d in (2, 3, 6, 7)] + [date(2025, 1, 2),
                                                                     date(2025, 1, 3)],
        "session_idx": [0, 1, 2, 3, 0, 1],
    }
)


def _raw(rows):
    return pl.DataFrame(
        [
            {"ticker": t, "session_date": d, "open": c, "high": c, "low": c, "close": c,
             "adj_close": c, "volume": 1.0, "source": "test",
             "fetched_at": datetime(2025, 1, 8, tzinfo=UTC), "unparsed": None}
            for t, d, c in rows
        ]
    )


def test_to_core_adds_currency_and_marks_sessions():
    raw = _raw([("A", date(2025, 1, 2), 10.0), ("A", date(2025, 1, 4), 11.0),
                ("B", date(2025, 1, 3), 5.0), ("Z", date(2025, 1, 2), 1.0)])
    core = to_core(raw, SEC, SESS).sort("ticker", "session_date")
    assert core["currency"].to_list() == ["USD", "USD", "KRW", None]
    # 2025-01-04 is a Saturday; Z is unknown to the master
    assert core["is_exchange_session"].to_list() == [True, False, True, False]
    assert core.height == raw.height  # nothing dropped


def test_returns_are_null_across_a_missing_session():
    prices = _raw([("A", date(2025, 1, 2), 100.0), ("A", date(2025, 1, 3), 110.0),
                   ("A", date(2025, 1, 7), 99.0)])
    ret = daily_returns(prices, SEC, SESS).sort("session_idx")
    assert ret["session_idx"].to_list() == [0, 1, 3]
    assert ret["ret"][0] is None
    assert ret["ret"][1] == pytest.approx(0.10)
    assert ret["ret"][2] is None  # 2025-01-06 is missing: no two-day return passed off as one
