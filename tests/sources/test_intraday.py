"""Hourly-bar sources: the snapshot twin on the real recording, Yahoo through yfinance against
a fake at the HTTP boundary (an hourly chart in Yahoo's wire shape), and the demo's bars
against its own daily bars."""

from __future__ import annotations

import csv
import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest
from yahoo_chart import FETCHED_AT, FakeYahoo

from contracts import RAW_INTRADAY
from flows.stages import prepare_reference
from sources.base import SourceError
from sources.demo import DemoSource
from sources.demo_intraday import DemoIntradaySource
from sources.intraday import INTRADAY_DIR, SnapshotIntradaySource, yahoo_window
from sources.yahoo_intraday import KEEP_DAYS, YahooIntradaySource

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


# -- snapshot ------------------------------------------------------------------------------


def test_snapshot_reads_every_recorded_bar(snapshot_dir):
    source = SnapshotIntradaySource(snapshot_dir)
    tickers = source.available()
    assert {"NQ=F", "ES=F"} <= set(tickers)
    result = source.intraday([*tickers, "NVDA"], date(2000, 1, 1), date(2100, 1, 1))
    assert result.frame.schema == pl.Schema(RAW_INTRADAY)
    status = {r["ticker"]: r for r in result.status.iter_rows(named=True)}
    assert status["NVDA"]["status"] == "empty" and status["NVDA"]["source"] == "snapshot.intraday"
    for ticker in tickers:  # every line of every file, read independently with csv
        lines = []
        for path in source.files(ticker):
            with path.open() as f:
                lines += list(csv.DictReader(f))
        got = result.frame.filter(pl.col("ticker") == ticker).sort("bar_start_utc")
        assert status[ticker]["rows"] == len(lines) == got.height
        first = min(lines, key=lambda r: r["datetime_utc"])
        assert got["bar_start_utc"][0] == datetime.fromisoformat(
            first["datetime_utc"]).replace(tzinfo=UTC)
        assert got["close"][0] == float(first["close"])


def test_snapshot_window_is_by_utc_date(snapshot_dir):
    result = SnapshotIntradaySource(snapshot_dir).intraday(["NQ=F"], date(2025, 1, 27),
                                                           date(2025, 1, 27))
    days = result.frame["bar_start_utc"].dt.date().unique().to_list()
    assert days == [date(2025, 1, 27)] and result.frame.height > 0


@pytest.mark.parametrize(("body", "needle"), [
    ("datetime_utc,open,high,low,close,volume\n2025-01-27 14:00:00,1,2,0.5,abc,1\n",
     "line 2: column 'close' has unparseable value 'abc'"),
    ("datetime_utc,open,high,low,close,volume\n27/01/2025 14:00,1,2,0.5,1,1\n",
     "line 2: column 'datetime_utc' has unparseable value '27/01/2025 14:00'"),
    ("when,open,high,low,close\n", "missing column(s) datetime_utc, volume"),
])
def test_a_bad_file_is_an_error_for_its_ticker_only(tmp_path, body, needle):
    (tmp_path / INTRADAY_DIR).mkdir()
    (tmp_path / INTRADAY_DIR / "NQ=F_1h_x.csv").write_text(body)
    (tmp_path / INTRADAY_DIR / "ES=F_1h_x.csv").write_text(
        "datetime_utc,open,high,low,close,volume\n2025-01-27 14:00:00+00:00,1,2,0.5,1,1\n")
    result = SnapshotIntradaySource(tmp_path).intraday(["NQ=F", "ES=F"], date(2025, 1, 1),
                                                       date(2025, 12, 31))
    status = {r["ticker"]: r for r in result.status.iter_rows(named=True)}
    assert status["NQ=F"]["status"] == "error" and needle in status["NQ=F"]["message"]
    assert "NQ=F_1h_x.csv" in status["NQ=F"]["message"]
    assert status["ES=F"]["status"] == "ok" and result.frame["ticker"].to_list() == ["ES=F"]


def test_missing_folder_is_one_line():
    with pytest.raises(SourceError, match="snapshot folder not found: /nope"):
        SnapshotIntradaySource("/nope")


# -- Yahoo ---------------------------------------------------------------------------------

#: NVDA's regular session on 2025-01-27 and 28, in hourly bars (NYSE: 9:30-16:00 New York)
_DAYS = ("2025-01-27", "2025-01-28")


def _hourly_chart() -> dict:
    """An hourly chart in the shape Yahoo sends for ``interval=1h&includePrePost=false``:
    bars aligned to the open (9:30, 10:30, ... 15:30 New York), ``tradingPeriods`` per day,
    and -- as Yahoo sometimes does -- one pre-market bar it was not asked for."""
    stamps, price = [], []
    for day in _DAYS:
        stamps.append(int(pd.Timestamp(f"{day} 08:00", tz="America/New_York").timestamp()))
        stamps += [int(pd.Timestamp(f"{day} {h}:30", tz="America/New_York").timestamp())
                   for h in range(9, 16)]
    price = [120.0 + i for i in range(len(stamps))]
    periods = [[{"timezone": "EST", "gmtoffset": -18000,
                 "start": int(pd.Timestamp(f"{d} 09:30", tz="America/New_York").timestamp()),
                 "end": int(pd.Timestamp(f"{d} 16:00", tz="America/New_York").timestamp())}]
               for d in _DAYS]
    meta = {"currency": "USD", "symbol": "NVDA", "exchangeName": "NMS",
            "instrumentType": "EQUITY", "firstTradeDate": 917015400,
            "regularMarketTime": stamps[-1], "gmtoffset": -18000, "timezone": "EST",
            "exchangeTimezoneName": "America/New_York", "regularMarketPrice": price[-1],
            "chartPreviousClose": 142.62, "priceHint": 2, "dataGranularity": "1h",
            "range": "", "tradingPeriods": periods,
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "ytd", "max"]}
    quote = {"open": price, "high": [p + 0.5 for p in price], "low": [p - 0.5 for p in price],
             "close": [p + 0.25 for p in price], "volume": [1_000_000] * len(price)}
    return {"chart": {"result": [{"meta": meta, "timestamp": stamps,
                                  "indicators": {"quote": [quote]}}], "error": None}}


def _yahoo(today: datetime = FETCHED_AT) -> YahooIntradaySource:
    return YahooIntradaySource(sleep=lambda s: None, rng=random.Random(1), clock=lambda: today)


def test_yahoo_hourly_bars_land_in_utc(yahoo_wire):
    fake = yahoo_wire(FakeYahoo())
    fake.charts["NVDA"] = _hourly_chart()
    result = _yahoo().intraday(["NVDA", "NOPE"], date(2025, 1, 27), date(2025, 1, 28))
    status = {r["ticker"]: r for r in result.status.iter_rows(named=True)}
    assert status["NVDA"]["status"] == "ok" and status["NOPE"]["status"] == "empty"
    assert status["NVDA"]["source"] == "yahoo.intraday"
    bars = result.frame.sort("bar_start_utc")
    # 7 regular bars a day; the unrequested 08:00 pre-market bar is dropped by yfinance
    assert bars.height == 14 and status["NVDA"]["rows"] == 14
    first = bars.row(0, named=True)
    assert first["bar_start_utc"] == datetime(2025, 1, 27, 14, 30, tzinfo=UTC)
    assert (first["open"], first["high"], first["low"], first["close"]) == (121.0, 121.5,
                                                                            120.5, 121.25)
    assert bars["interval"].unique().to_list() == ["1h"]
    (params, _), *_ = [x for x in fake.chart_log("NVDA") if "period1" in x[0]]
    assert params["interval"] == "1h" and params.get("includePrePost") in (False, "false")


def test_yahoo_is_not_asked_beyond_its_730_days(yahoo_wire):
    fake = yahoo_wire(FakeYahoo())
    fake.charts["NVDA"] = _hourly_chart()
    today = datetime(2026, 1, 20, 12, tzinfo=UTC)  # 2025-01-27 is 358 days back
    result = _yahoo(today).intraday(["NVDA"], date(2020, 1, 1), date(2025, 1, 28))
    first = today.date() - timedelta(days=KEEP_DAYS - 1)
    period1 = [p["period1"] for p, _ in fake.chart_log("NVDA") if "period1" in p]
    assert period1 and all(p >= int(datetime(first.year, first.month, first.day,
                                             tzinfo=UTC).timestamp()) - 86400 for p in period1)
    assert "730-day limit" in result.status["message"][0]
    # a window entirely before the limit is not requested at all
    old = _yahoo(datetime(2030, 1, 1, tzinfo=UTC)).intraday(["NVDA"], date(2025, 1, 27),
                                                              date(2025, 1, 28))
    assert old.frame.height == 0 and old.status["status"].to_list() == ["empty"]
    assert yahoo_window(date(2025, 1, 1), date(2025, 1, 2), date(2030, 1, 1), KEEP_DAYS) is None


def test_yahoo_rate_limit_is_retried_then_served(yahoo_wire):
    fake = yahoo_wire(FakeYahoo())
    fake.charts["NVDA"] = _hourly_chart()
    too_many = (429, b"Too Many Requests")
    fake.script["NVDA"] = [None, too_many]  # the time-zone lookup passes, then one 429
    result = _yahoo().intraday(["NVDA"], date(2025, 1, 27), date(2025, 1, 28))
    assert result.status["status"].to_list() == ["ok"] and result.frame.height == 14


# -- demo ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    ref = prepare_reference(date(2025, 6, 30))
    daily = DemoSource(ref.securities, ref.sessions, ref.day0, ref.events,
                       clock=lambda: FETCHED_AT)
    return ref, daily, DemoIntradaySource(daily, ref.securities, ref.sessions, ref.day0)


def test_demo_hours_agree_with_the_demo_days(demo):
    ref, daily, source = demo
    tickers = ["NVDA", "NQ=F", "8035.T", "ASML.AS", "^GSPC"]
    bars = source.intraday(tickers, date(2025, 1, 1), date(2025, 3, 31)).frame
    days = daily.prices(tickers, date(2024, 12, 1), date(2025, 4, 30)).frame
    assert bars.height > 0 and set(bars["ticker"]) == set(tickers)
    located = bars.join(ref.securities.select("ticker", "exchange_mic"), on="ticker").sort(
        "bar_start_utc").join_asof(
        ref.sessions.select("exchange_mic", "session_date", "open_utc").sort("open_utc"),
        left_on="bar_start_utc", right_on="open_utc", by="exchange_mic", check_sortedness=False)
    per_day = located.sort("bar_start_utc").group_by("ticker", "session_date").agg(
        pl.col("open").first(), pl.col("close").last(), pl.col("high").max(),
        pl.col("low").min(), n=pl.len())
    both = per_day.join(days, on=["ticker", "session_date"], suffix="_day")
    assert both.height == per_day.height
    for col in ("open", "close", "high", "low"):
        np.testing.assert_allclose(both[col], both[f"{col}_day"], rtol=1e-12)
    assert (bars["low"] <= bars[["open", "close"]].min_horizontal()).all()
    assert (bars["high"] >= bars[["open", "close"]].max_horizontal()).all()
    # NYSE bars start at the open, on the half hour; CME's run round the clock
    nvda = bars.filter(pl.col("ticker") == "NVDA")["bar_start_utc"].dt.minute().unique()
    assert nvda.to_list() == [30]
    assert both.filter(pl.col("ticker") == "NQ=F")["n"].max() == 24


def test_demo_bars_do_not_depend_on_what_else_was_asked(demo):
    _, _, source = demo
    alone = source.intraday(["NVDA"], date(2025, 1, 27), date(2025, 1, 27)).frame
    many = source.intraday(["AMD", "NVDA", "NQ=F"], date(2025, 1, 1), date(2025, 2, 28)).frame
    # every ticker over two years: thousands of bars drawn before NVDA's, bit for bit equal
    every = source.intraday(sorted(source.securities["ticker"], reverse=True),
                            date(2024, 1, 1), date(2025, 12, 31)).frame
    again = source.intraday(["NVDA"], date(2025, 1, 27), date(2025, 1, 27)).frame
    assert alone.height > 0 and alone.equals(again)
    for other in (many, every):
        assert alone.drop("fetched_at").equals(
            other.filter(pl.col("ticker") == "NVDA", pl.col("bar_start_utc").dt.date()
                         == date(2025, 1, 27)).drop("fetched_at"))
