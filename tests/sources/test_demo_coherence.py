"""The demo tells a coherent story: trackers move with what they track, no unclosed session."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from sources.demo import EPOCH, TRACKING_GROUPS, DemoSource
from transforms.calendar import event_day0, events_to_core, exchange_sessions
from warehouse.seeds import read_events, read_universe

STORY_DAY = date(2025, 1, 27)  # DeepSeek's app tops the US App Store
HISTORY_END = date(2025, 12, 31)
#: a frozen clock after the whole history, so the tests do not depend on today's date
AFTER_HISTORY = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
GROUPS = [(g.underlying, *g.trackers) for g in TRACKING_GROUPS]
SEEDS = (20250127, 11, 7)  # the default (make demo), the e2e run's, another


@pytest.fixture(scope="module")
def world():
    sec = read_universe()
    events = events_to_core(read_events())
    sess = exchange_sessions(sec["exchange_mic"].unique().to_list(), date(2020, 1, 1),
                             date(2026, 2, 15))
    return sec, sess, event_day0(events, sess), events


def _source(world, seed: int, now: datetime = AFTER_HISTORY) -> DemoSource:
    sec, sess, day0, events = world
    return DemoSource(sec, sess, day0, events, seed=seed, clock=lambda: now)


@pytest.fixture(scope="module")
def history(world) -> dict[int, pl.DataFrame]:
    tickers = [t for group in GROUPS for t in group]
    return {seed: _source(world, seed).prices(tickers, EPOCH, HISTORY_END).frame
            for seed in SEEDS}


def _closes(frame: pl.DataFrame, ticker: str) -> tuple[np.ndarray, np.ndarray]:
    one = frame.filter(pl.col("ticker") == ticker).sort("session_date")
    return one["session_date"].to_numpy(), one["close"].to_numpy()


def _daily_returns(frame: pl.DataFrame, ticker: str) -> tuple[np.ndarray, np.ndarray]:
    """(session dates, close-to-close return on each) of one ticker, its own grid."""
    dates, close = _closes(frame, ticker)
    return dates[1:], close[1:] / close[:-1] - 1.0


def _paired(frame: pl.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """Each ticker's own daily returns, on the dates both have one."""
    da, ra = _daily_returns(frame, a)
    db, rb = _daily_returns(frame, b)
    _, ia, ib = np.intersect1d(da, db, return_indices=True)
    return ra[ia], rb[ib]


def test_the_groups_are_in_the_universe():
    universe = set(read_universe()["ticker"])
    assert {t for group in GROUPS for t in group} <= universe
    assert [g[0] for g in GROUPS] == ["^NDX", "^GSPC", "NVDA"]


@pytest.mark.parametrize("seed", SEEDS)
def test_trackers_returns_correlate_with_their_underlying(history, seed):
    frame = history[seed]
    for underlying, *trackers in GROUPS:
        for tracker in trackers:
            a, b = _paired(frame, underlying, tracker)
            assert a.size > 1000
            assert np.corrcoef(a, b)[0, 1] > 0.98, (underlying, tracker)


@pytest.mark.parametrize("seed", SEEDS)
def test_trackers_prices_stay_locked_over_common_sessions(history, seed):
    """Over the sessions both trade, the log price paths move together (holidays included):
    a tracker catches up on what its underlying did while it was shut."""
    frame = history[seed]
    for underlying, *trackers in GROUPS:
        du, cu = _closes(frame, underlying)
        for tracker in trackers:
            dt, ct = _closes(frame, tracker)
            _, iu, it = np.intersect1d(du, dt, return_indices=True)
            gu, gt = np.diff(np.log(cu[iu])), np.diff(np.log(ct[it]))
            assert np.corrcoef(gu, gt)[0, 1] > 0.99, (underlying, tracker)
            # five years on, the ratio of the two prices has barely drifted
            ratio = (ct[it] / cu[iu]) / (ct[it][0] / cu[iu][0])
            assert np.abs(np.log(ratio)).max() < 0.15, (underlying, tracker)


@pytest.mark.parametrize("seed", SEEDS)
def test_day0_moves_on_the_story_day_agree(history, seed):
    frame = history[seed]
    for underlying, *trackers in GROUPS:
        moves = {}
        for ticker in (underlying, *trackers):
            dates, ret = _daily_returns(frame, ticker)
            moves[ticker] = float(ret[dates == np.datetime64(STORY_DAY)][0])
        for tracker in trackers:
            assert abs(moves[tracker] - moves[underlying]) < 0.005, (seed, moves)
    nvda = {t: float(r[d == np.datetime64(STORY_DAY)][0])
            for t in ("NVDA", "NVD.DE") for d, r in [_daily_returns(frame, t)]}
    assert all(move < -0.05 for move in nvda.values())  # the sell-off shows on both listings


def test_ohlc_stays_ordered_except_the_planted_defects(history):
    frame = history[SEEDS[0]]
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    ordered = (lo <= o) & (lo <= c) & (o <= h) & (c <= h)
    assert ordered.mean() > 0.995
    assert np.allclose(h[~ordered], c[~ordered] * 0.995)  # only "close above the high"


def test_a_session_that_has_not_closed_is_not_written(world):
    sec, sess, _, _ = world
    now = datetime(2025, 3, 5, 15, 0, tzinfo=UTC)  # a Wednesday, 15:00 UTC
    today = now.date()
    tickers = ["NVDA", "SPY", "ES=F", "NVD.DE", "8035.T", "005930.KS", "ASML.AS"]
    frame = _source(world, SEEDS[0], now).prices(tickers, date(2025, 2, 24), today).frame
    dates = {t: set(frame.filter(pl.col("ticker") == t)["session_date"]) for t in tickers}
    assert today not in dates["NVDA"] and today not in dates["SPY"]  # New York closes 21:00
    assert today not in dates["ES=F"] and today not in dates["NVD.DE"]  # CME, Xetra: later
    assert today in dates["8035.T"] and today in dates["005930.KS"]  # Tokyo, Seoul: closed
    assert date(2025, 3, 4) in dates["NVDA"]  # yesterday's session is written
    # in general: exactly the venue's sessions in range whose calendar close is not after now
    mic = dict(sec.select("ticker", "exchange_mic").iter_rows())
    for ticker in tickers:
        expected = sess.filter(
            pl.col("exchange_mic") == mic[ticker],
            pl.col("session_date").is_between(date(2025, 2, 24), today),
            pl.col("close_utc") <= now,
        )["session_date"]
        assert dates[ticker] == set(expected), ticker


def test_an_unclosed_session_appears_once_closed_and_history_is_unchanged(world):
    day = date(2025, 3, 5)
    before = _source(world, 11, datetime(2025, 3, 5, 20, 59, tzinfo=UTC)).prices(
        ["QQQ"], date(2025, 3, 1), day).frame
    after = _source(world, 11, datetime(2025, 3, 5, 21, 0, tzinfo=UTC)).prices(
        ["QQQ"], date(2025, 3, 1), day).frame
    assert day not in before["session_date"].to_list()
    assert after["session_date"].to_list()[-1] == day  # closed at 21:00 UTC sharp
    cols = ["ticker", "session_date", "open", "high", "low", "close", "volume"]
    assert after.select(cols).head(before.height).equals(before.select(cols))


def test_two_calls_give_the_same_frames(world):
    tickers = [t for group in GROUPS for t in group]
    a = _source(world, 11).prices(tickers, date(2024, 1, 1), HISTORY_END)
    b = _source(world, 11).prices(tickers, date(2024, 1, 1), HISTORY_END)
    assert a.frame.height > 0
    assert a.frame.equals(b.frame)
    assert a.status.equals(b.status)
