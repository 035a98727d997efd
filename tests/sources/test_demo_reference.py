"""The demo share counts and FX: deterministic, stepwise, plausible against the demo prices."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from sources.base import EXTRACT_STATUS
from sources.demo import EPOCH, DemoSource
from sources.demo_reference import (
    FX_LEVELS,
    START_CAP_USD,
    DemoReferenceSource,
    start_price,
)
from sources.reference import RAW_FX, RAW_SHARES, ReferenceSource
from warehouse.seeds import read_universe

SEED = 7


@pytest.fixture(scope="module")
def securities() -> pl.DataFrame:
    return read_universe()


def weekday_sessions(mics: list[str], start: date, end: date) -> pl.DataFrame:
    """A weekday grid per venue: enough for DemoSource without building real calendars."""
    days = pl.date_range(start, end, "1d", eager=True)
    days = days.filter(days.dt.weekday() <= 5)
    return pl.DataFrame({"exchange_mic": [mics], "session_date": [days]}).explode(
        "exchange_mic"
    ).explode("session_date")


def demo_prices(securities: pl.DataFrame, tickers: list[str], start: date, end: date):
    no_events = pl.DataFrame(schema={"event_id": pl.String, "kind": pl.String,
                                     "lab_country": pl.String})
    no_day0 = pl.DataFrame(schema={"event_id": pl.String, "exchange_mic": pl.String,
                                   "day0": pl.Date})
    sessions = weekday_sessions(securities["exchange_mic"].unique().to_list(), EPOCH, end)
    return DemoSource(securities, sessions, no_day0, no_events, seed=SEED).prices(
        tickers, start, end
    ).frame


def test_same_seed_same_data_and_history_never_changes(securities: pl.DataFrame):
    a = DemoReferenceSource(securities, seed=SEED)
    b = DemoReferenceSource(securities, seed=SEED)
    long = a.shares(["NVDA", "8035.T"], EPOCH, date(2026, 12, 31)).frame.drop("fetched_at")
    short = b.shares(["NVDA", "8035.T"], date(2023, 1, 1), date(2024, 12, 31)).frame
    overlap = long.filter(pl.col("as_of_date").is_between(date(2023, 1, 1), date(2024, 12, 31)))
    assert overlap.equals(short.drop("fetched_at"))
    fx_long = a.fx(["JPY"], EPOCH, date(2026, 12, 31)).frame.drop("fetched_at")
    fx_short = b.fx(["JPY"], date(2024, 1, 1), date(2024, 1, 31)).frame.drop("fetched_at")
    assert fx_long.filter(pl.col("session_date").is_between(date(2024, 1, 1), date(2024, 1, 31))
                          ).equals(fx_short)
    other = DemoReferenceSource(securities, seed=SEED + 1).shares(["NVDA"], EPOCH, EPOCH).frame
    assert other["shares_outstanding"][0] != long["shares_outstanding"][0]


def test_share_counts_are_stepwise_with_a_few_small_changes_a_year(securities: pl.DataFrame):
    result = DemoReferenceSource(securities, seed=SEED).shares(
        ["NVDA", "2330.TW", "AAPL"], EPOCH, date(2025, 12, 31)
    )
    frame = result.frame
    assert frame.schema == pl.Schema(RAW_SHARES)
    assert set(frame["source"]) == {"demo"}
    per_ticker = frame.group_by("ticker").agg(
        pl.len().alias("n"),
        pl.col("as_of_date").min().alias("first"),
        (pl.col("shares_outstanding") / pl.col("shares_outstanding").shift(1) - 1)
        .abs()
        .max()
        .alias("largest_change"),
    )
    for row in per_ticker.iter_rows(named=True):
        assert row["first"] == EPOCH  # a count is in force from the first demo day
        assert 18 <= row["n"] <= 22  # one change a quarter over five years
        assert row["largest_change"] < 0.03
    assert (frame["shares_outstanding"] == frame["shares_outstanding"].round()).all()
    assert result.status.schema == pl.Schema(EXTRACT_STATUS)
    assert set(result.status["source"]) == {"demo.shares"}


def test_start_price_is_the_demo_markets_own(securities: pl.DataFrame):
    """Guards the coupling to sources.demo: the first close is p0 moved by one day's return."""
    tickers = ["NVDA", "8035.T", "000660.KS", "ASML.AS"]
    prices = demo_prices(securities, tickers, EPOCH, EPOCH)
    currency = dict(securities.select("ticker", "currency").iter_rows())
    for ticker, close in prices.select("ticker", "close").iter_rows():
        assert close / start_price(SEED, ticker, currency[ticker]) == pytest.approx(1.0, abs=0.1)


def test_market_caps_are_plausible_given_the_demo_prices(securities: pl.DataFrame):
    tickers = ["NVDA", "8035.T", "000660.KS", "AAPL", "ASML.AS"]
    ref = DemoReferenceSource(securities, seed=SEED)
    shares = ref.shares(tickers, EPOCH, date(2025, 12, 31)).frame.sort("as_of_date")
    fx = ref.fx(["JPY", "KRW", "EUR"], EPOCH, date(2025, 12, 31)).frame.sort("session_date")
    prices = demo_prices(securities, tickers, EPOCH, date(2025, 1, 31)).sort("session_date")
    caps = (
        prices.join(securities.select("ticker", "currency"), on="ticker")
        .join_asof(shares.select("ticker", "as_of_date", "shares_outstanding"),
                   left_on="session_date", right_on="as_of_date", by="ticker",
                   check_sortedness=False)
        .join_asof(fx.select("currency", "session_date", "usd_per_unit"),
                   on="session_date", by="currency", check_sortedness=False)
        .with_columns(
            cap=pl.col("close") * pl.col("shares_outstanding")
            * pl.when(pl.col("currency") == "USD").then(1.0).otherwise(pl.col("usd_per_unit"))
        )
    )
    first = caps.filter(pl.col("session_date") == EPOCH)
    for ticker, cap in first.select("ticker", "cap").iter_rows():
        # within a day's return and the FX draw of the rough January-2021 cap
        assert cap / (START_CAP_USD[ticker] * 1e9) == pytest.approx(1.0, abs=0.12), ticker
    # four years on, the cap has followed the demo price path: still a sane size, not the
    # 24.5e9 real shares times a demo price of several hundred dollars
    nvda = caps.filter(pl.col("ticker") == "NVDA", pl.col("session_date") == date(2025, 1, 24))
    assert 1e11 < nvda["cap"][0] < 1e13


def test_fx_wanders_around_realistic_levels_on_weekdays(securities: pl.DataFrame):
    result = DemoReferenceSource(securities, seed=SEED).fx(
        ["JPY", "KRW", "TWD", "HKD", "CNY", "EUR", "USD"], EPOCH, date(2030, 12, 31)
    )
    frame = result.frame
    assert frame.schema == pl.Schema(RAW_FX)
    assert set(frame["currency"]) == {"JPY", "KRW", "TWD", "HKD", "CNY", "EUR"}
    assert frame["session_date"].dt.weekday().max() <= 5
    ranges = frame.group_by("currency").agg(
        pl.col("usd_per_unit").min().alias("lo"),
        pl.col("usd_per_unit").max().alias("hi"),
        pl.len().alias("n"),
    )
    for ccy, lo, hi, n in ranges.iter_rows():
        level = FX_LEVELS[ccy]
        band = 0.02 if ccy == "HKD" else 0.35
        assert level * (1 - band) < lo and hi < level * (1 + band), ccy
        assert hi > lo  # it moves
        assert n == frame.filter(pl.col("currency") == ccy).height
    jpy = frame.filter(pl.col("currency") == "JPY", pl.col("session_date") == date(2025, 1, 24))
    assert 0.004 < jpy["usd_per_unit"][0] < 0.01
    assert set(result.status["source"]) == {"demo.fx"}


def test_indices_and_unknowns_are_reported_not_invented(securities: pl.DataFrame):
    src: ReferenceSource = DemoReferenceSource(securities, seed=SEED)
    shares = src.shares(["^GSPC", "ES=F", "SPY", "NOPE"], EPOCH, date(2025, 1, 31))
    fx = src.fx(["XYZ"], EPOCH, date(2025, 1, 31))

    assert shares.frame.height == 0 and fx.frame.height == 0
    status = {r["ticker"]: r for r in shares.status.to_dicts()}
    assert status["^GSPC"]["status"] == "empty"
    assert status["^GSPC"]["message"] == "index: no shares outstanding (not applicable)"
    assert status["ES=F"]["message"].startswith("future:")
    assert status["SPY"]["message"].startswith("etf:")
    assert (status["NOPE"]["status"], status["NOPE"]["message"]) == (
        "error", "not in the demo universe"
    )
    assert fx.status.row(0, named=True)["message"] == "no demo rate for currency XYZ"


def test_a_window_between_changes_has_no_rows(securities: pl.DataFrame):
    src = DemoReferenceSource(securities, seed=SEED)
    dates = src.shares(["NVDA"], EPOCH, date(2022, 12, 31)).frame["as_of_date"].to_list()
    gap_start = dates[3] + timedelta(days=1)
    gap_end = dates[4] - timedelta(days=1)
    result = src.shares(["NVDA"], gap_start, gap_end)
    assert result.frame.height == 0
    assert result.status.row(0, named=True)["status"] == "empty"
