"""The demo market: deterministic, on real session grids, shocked on day 0."""

from datetime import date

import polars as pl
import pytest

from sources.demo import DemoSource
from transforms.calendar import event_day0, events_to_core, exchange_sessions
from warehouse.seeds import read_events, read_universe


@pytest.fixture(scope="module")
def world():
    sec = read_universe()
    events = events_to_core(read_events())
    sess = exchange_sessions(sec["exchange_mic"].unique().to_list(), date(2020, 1, 1),
                             date(2026, 1, 31))
    return sec, sess, event_day0(events, sess), events


def _source(world, seed=7):
    sec, sess, day0, events = world
    return DemoSource(sec, sess, day0, events, seed=seed)


def test_same_seed_same_data_and_history_never_changes(world):
    a = _source(world).prices(["NVDA", "000660.KS"], date(2024, 1, 1), date(2025, 3, 1)).frame
    b = _source(world).prices(["NVDA", "000660.KS"], date(2024, 6, 1), date(2025, 6, 1)).frame
    overlap = (date(2024, 6, 1), date(2025, 3, 1))
    pick = ["ticker", "session_date", "open", "high", "low", "close", "volume"]
    assert a.filter(pl.col("session_date").is_between(*overlap)).select(pick).equals(
        b.filter(pl.col("session_date").is_between(*overlap)).select(pick)
    )
    c = _source(world, seed=8).prices(["NVDA"], date(2024, 1, 1), date(2024, 2, 1)).frame
    assert not c["close"].equals(a.filter(pl.col("ticker") == "NVDA").head(c.height)["close"])


def test_rows_only_on_venue_sessions_and_marked_demo(world):
    sec, sess, _, _ = world
    frame = _source(world).prices(["000660.KS"], date(2025, 1, 1), date(2025, 2, 28)).frame
    krx = sess.filter(pl.col("exchange_mic") == "XKRX")["session_date"]
    assert frame["session_date"].is_in(krx.implode()).all()
    assert date(2025, 1, 28) not in frame["session_date"].to_list()  # Lunar New Year
    assert set(frame["source"]) == {"demo"}


def test_deepseek_app_day_is_a_selloff_in_accelerators(world):
    frame = _source(world).prices(["NVDA", "AMD", "AVGO"], date(2025, 1, 20),
                                  date(2025, 1, 31)).frame.sort("ticker", "session_date")
    ret = frame.with_columns(ret=pl.col("close") / pl.col("close").shift(1).over("ticker") - 1)
    day0 = ret.filter(pl.col("session_date") == date(2025, 1, 27))["ret"]
    others = ret.filter(pl.col("session_date") != date(2025, 1, 27))["ret"].drop_nulls()
    assert (day0 < -0.05).all()
    assert day0.abs().min() > others.abs().max()


def test_unknown_ticker_is_reported(world):
    result = _source(world).prices(["NOPE"], date(2025, 1, 1), date(2025, 1, 10))
    assert result.status.row(0, named=True)["status"] == "error"
