"""The hourly-bar suite: the real recorded bars pass; each broken bar is quarantined with the
rule it broke named, and nothing else is."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from expectations.intraday import validate_intraday
from flows.stages import prepare_reference
from sources.intraday import SnapshotIntradaySource
from transforms.intraday import intraday_to_core


@pytest.fixture(scope="module")
def placed(snapshot_dir):
    ref = prepare_reference(date(2025, 3, 1))
    source = SnapshotIntradaySource(snapshot_dir)
    tickers = [t for t in source.available() if t in set(ref.securities["ticker"])]
    bars = source.intraday(tickers, date(2000, 1, 1), date(2100, 1, 1)).frame
    return intraday_to_core(bars, ref.securities, ref.sessions), ref


def test_real_bars_pass(placed):
    bars, _ = placed
    out = validate_intraday(bars)
    assert bars.height > 0 and out.rejected.height == 0 and out.good.height == bars.height


SPOILS = {
    "close_above_high": lambda f: f.with_columns(close=pl.col("high") * 1.01),
    "open_below_low": lambda f: f.with_columns(open=pl.col("low") * 0.99),
    "close_not_positive": lambda f: f.with_columns(close=pl.lit(-1.0), low=pl.lit(-2.0)),
    "close_null": lambda f: f.with_columns(close=pl.lit(None, pl.Float64)),
    "interval_unknown": lambda f: f.with_columns(interval=pl.lit("5m")),
    "volume_negative": lambda f: f.with_columns(volume=pl.lit(-5.0)),
    "bar_outside_session": lambda f: f.with_columns(session_date=pl.lit(None, pl.Date)),
    "ticker_unknown": lambda f: f.with_columns(exchange_mic=pl.lit(None, pl.String)),
}


@pytest.mark.parametrize("rule", list(SPOILS))
def test_a_broken_bar_is_quarantined_with_its_rule(placed, rule):
    bars, _ = placed
    spoilt = pl.concat([SPOILS[rule](bars.head(1)), bars.slice(1)])
    out = validate_intraday(spoilt)
    assert out.rejected.height == 1 and out.good.height == bars.height - 1
    assert rule in out.rejected["reasons"][0].to_list()


def test_a_bar_sent_twice_is_not_kept(placed):
    bars, _ = placed
    out = validate_intraday(pl.concat([bars, bars.head(1)]))
    assert out.rejected.height == 2 and out.good.height == bars.height - 1
    assert all("duplicate_key" in r for r in out.rejected["reasons"].to_list())


def test_local_time_stamped_as_utc_falls_outside_the_session(placed):
    """Xetra's 09:00 Berlin bar stamped as if it were 09:00 UTC still fits; the last bars of
    the day shifted by the wrong offset land after the close."""
    bars, ref = placed
    dax = bars.filter(pl.col("ticker") == "^GDAXI").drop("exchange_mic", "session_date")
    shifted = dax.with_columns(pl.col("bar_start_utc") + pl.duration(hours=2))
    out = validate_intraday(intraday_to_core(shifted, ref.securities, ref.sessions))
    assert out.rejected.height > 0
    assert all("bar_outside_session" in r for r in out.rejected["reasons"].to_list())
