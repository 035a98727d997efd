"""YahooSource against fakes at the HTTP boundary (real yfinance on top) and the library boundary.

HTTP boundary: ``curl_cffi.requests.Session.request`` -- the one call every request yfinance
1.7 makes goes through (its default backend is curl_cffi) -- is replaced by ``FakeYahoo``,
which answers the chart endpoint from the files in tests/fixtures/yahoo and the cookie/crumb
endpoints yfinance touches first (fc.yahoo.com, /v1/test/getcrumb). Everything above it is
the real yfinance: its time-zone lookup, crumb handling, JSON parsing, date handling and
exceptions. Any other URL is recorded as unexpected and fails the test.

Library boundary: ``yfinance.Ticker.history`` is replaced by a function returning frames in
the shape real yfinance returns (checked by ``test_library_fake_has_the_shape_of_real_yfinance``),
for the cases the wire cannot produce (yfinance always fills 'Adj Close').
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime

import pandas as pd
import polars as pl
import pytest
import yfinance as yf
from yahoo_chart import FETCHED_AT, TOO_MANY, FakeYahoo, chart, epoch

from contracts import RAW_ACTIONS, RAW_PRICES
from sources.base import EXTRACT_STATUS, PriceSource
from sources.yahoo import NO_DATA, YahooSource

# yfinance 1.7 calls pandas APIs that pandas 3.1 deprecates (inplace=...); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

@pytest.fixture
def yahoo(yahoo_wire) -> FakeYahoo:
    return yahoo_wire(FakeYahoo())


def make_source(**settings) -> tuple[YahooSource, list[float]]:
    sleeps: list[float] = []
    source = YahooSource(
        sleep=sleeps.append, rng=random.Random(2025), clock=lambda: FETCHED_AT, **settings
    )
    return source, sleeps


def by_ticker(status: pl.DataFrame) -> dict[str, dict]:
    return {row["ticker"]: row for row in status.to_dicts()}


def day(frame: pl.DataFrame, ticker: str, when: date) -> dict:
    return frame.filter(pl.col("ticker") == ticker, pl.col("session_date") == when).row(
        0, named=True
    )


# -- HTTP boundary -----------------------------------------------------------------------


def test_happy_path_values_land_in_their_columns(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = chart("NVDA")
    source, sleeps = make_source()

    result = source.prices(["NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    frame = result.frame
    assert frame.schema == pl.Schema(RAW_PRICES)
    # end is inclusive: the 27th is in, the 28th (in the file) is not
    assert frame["session_date"].to_list() == [
        date(2025, 1, 21),
        date(2025, 1, 22),
        date(2025, 1, 23),
        date(2025, 1, 24),
        date(2025, 1, 27),
    ]
    fri = day(frame, "NVDA", date(2025, 1, 24))
    assert fri["open"] == pytest.approx(148.37, abs=1e-4)
    assert fri["high"] == pytest.approx(148.97, abs=1e-4)
    assert fri["low"] == pytest.approx(141.88, abs=1e-4)
    assert fri["close"] == pytest.approx(142.62, abs=1e-4)
    assert fri["adj_close"] == pytest.approx(142.59, abs=1e-4)  # Yahoo's adjclose, not close
    assert fri["volume"] == 234657600.0
    mon = day(frame, "NVDA", date(2025, 1, 27))
    assert mon["close"] == pytest.approx(118.42, abs=1e-4)
    assert mon["volume"] == 818830900.0
    assert frame["ticker"].unique().to_list() == ["NVDA"]
    assert frame["source"].unique().to_list() == ["yahoo"]
    assert frame["fetched_at"].unique().to_list() == [FETCHED_AT]

    assert result.status.schema == pl.Schema(EXTRACT_STATUS)
    assert result.status.to_dicts() == [
        {"ticker": "NVDA", "source": "yahoo", "status": "ok", "rows": 5, "message": ""}
    ]
    # what went over the wire: one time-zone lookup, then the bars for the local-date window
    (tz_lookup, _), (bars, _) = yahoo.chart_log("NVDA")
    assert tz_lookup["range"] == "1d"
    assert bars["period1"] == epoch("2025-01-21 00:00")
    assert bars["period2"] == epoch("2025-01-28 00:00")
    assert bars["interval"] == "1d"
    assert sleeps == []


def test_dividends_and_splits_in_the_chart_events_become_actions(yahoo: FakeYahoo):
    """The recorded chart with an ``events`` block in Yahoo's wire shape (a dividend on the
    23rd, a 10-for-1 split on the 24th): the prices are untouched, the actions come out by
    local ex-date."""
    doc = chart("NVDA")
    thu, fri = epoch("2025-01-23 09:30"), epoch("2025-01-24 09:30")
    doc["chart"]["result"][0]["events"] = {
        "dividends": {str(thu): {"amount": 0.01, "date": thu}},
        "splits": {str(fri): {"date": fri, "numerator": 10.0, "denominator": 1.0,
                              "splitRatio": "10:1"}},
    }
    yahoo.charts["NVDA"] = doc
    plain = YahooSource(sleep=lambda _: None, clock=lambda: FETCHED_AT)
    result = plain.prices(["NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    assert result.frame.height == 5 and result.status["status"].to_list() == ["ok"]
    assert result.actions.schema == pl.Schema(RAW_ACTIONS)
    assert result.actions.select("ticker", "ex_date", "action", "value").rows() == [
        ("NVDA", date(2025, 1, 23), "dividend", 0.01),
        ("NVDA", date(2025, 1, 24), "split", 10.0),
    ]
    assert set(result.actions["source"]) == {"yahoo"}


def test_a_chart_without_events_has_no_actions(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = chart("NVDA")
    result = make_source()[0].prices(["NVDA"], date(2025, 1, 21), date(2025, 1, 27))
    assert result.actions.height == 0 and result.actions.schema == pl.Schema(RAW_ACTIONS)


def test_session_date_is_the_exchange_local_date(yahoo: FakeYahoo):
    yahoo.charts["NXT.AX"] = chart("NXT.AX")
    utc_days = [
        datetime.fromtimestamp(t, UTC).date()
        for t in yahoo.charts["NXT.AX"]["chart"]["result"][0]["timestamp"]
    ]
    assert utc_days == [date(2025, 1, 22), date(2025, 1, 23), date(2025, 1, 27)]
    source, _ = make_source()

    result = source.prices(["NXT.AX"], date(2025, 1, 23), date(2025, 1, 28))

    assert result.frame["session_date"].to_list() == [
        date(2025, 1, 23),
        date(2025, 1, 24),
        date(2025, 1, 28),  # Sydney dates; 27th a holiday
    ]
    assert day(result.frame, "NXT.AX", date(2025, 1, 28))["close"] == pytest.approx(15.02)


def test_ticker_yahoo_does_not_know_is_empty_and_the_rest_goes_on(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = chart("NVDA")
    source, sleeps = make_source()

    result = source.prices(["NOTAREALTICKER", "NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    status = by_ticker(result.status)
    assert status["NOTAREALTICKER"]["status"] == "empty"
    assert status["NOTAREALTICKER"]["rows"] == 0
    assert status["NOTAREALTICKER"]["message"].startswith(NO_DATA)
    assert "No data found, symbol may be delisted" in status["NOTAREALTICKER"]["message"]
    assert status["NVDA"] == {
        "ticker": "NVDA",
        "source": "yahoo",
        "status": "ok",
        "rows": 5,
        "message": "",
    }
    assert result.frame["ticker"].unique().to_list() == ["NVDA"]
    # the 404 is taken at its word: one request, no cookie-strategy retry, no quote lookups
    assert [s for _, s in yahoo.chart_log("NOTAREALTICKER")] == [404]
    assert sleeps == []


def test_window_without_bars_is_empty(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = chart("NVDA")
    source, _ = make_source()

    saturday = date(2025, 1, 25)
    result = source.prices(["NVDA"], saturday, saturday)

    assert result.frame.height == 0
    assert result.frame.schema == pl.Schema(RAW_PRICES)
    row = by_ticker(result.status)["NVDA"]
    assert (row["status"], row["rows"]) == ("empty", 0)
    assert row["message"].startswith(NO_DATA)
    assert "no price data found" in row["message"]


def test_rate_limited_twice_then_served(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = chart("NVDA")
    yahoo.script["NVDA"] = [(429, TOO_MANY), (429, TOO_MANY)]
    source, sleeps = make_source(attempts=4, base_delay=1.0, max_delay=1.5)

    result = source.prices(["NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    assert by_ticker(result.status)["NVDA"]["status"] == "ok"
    assert result.frame.height == 5
    # three attempts: two refused at the time-zone lookup, the third gets tz and bars
    assert [s for _, s in yahoo.chart_log("NVDA")] == [429, 429, 200, 200]
    # the waits: cap min(1.5, 1.0 * 2**k), jittered down by up to half, from the seeded RNG
    rng = random.Random(2025)
    assert sleeps == pytest.approx([1.0 * (1 - 0.5 * rng.random()), 1.5 * (1 - 0.5 * rng.random())])
    assert 0.5 <= sleeps[0] <= 1.0
    assert 0.75 <= sleeps[1] <= 1.5  # capped: uncapped it would be drawn from [1, 2]


def test_rate_limited_on_the_bars_request_itself(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = chart("NVDA")
    yahoo.script["NVDA"] = [None, (429, TOO_MANY)]  # tz lookup fine, then the bars refused
    source, sleeps = make_source()

    result = source.prices(["NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    assert by_ticker(result.status)["NVDA"]["rows"] == 5
    # second attempt: the tz answer comes from yfinance's in-memory cache, the bars are re-asked
    assert [s for _, s in yahoo.chart_log("NVDA")] == [200, 429, 200]
    assert len(sleeps) == 1


def test_persistent_server_error_fails_its_batch_and_the_next_batch_goes_on(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = chart("NVDA")
    yahoo.charts["TSM"] = chart("NVDA")  # would be served, but must never be asked for
    yahoo.script["AMD"] = [(503, b"<html><body>Service Unavailable</body></html>")] * 10
    source, sleeps = make_source(batch_size=2, attempts=3, base_delay=0.5, max_delay=4)

    result = source.prices(["AMD", "TSM", "NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    status = by_ticker(result.status)
    assert [r["ticker"] for r in result.status.to_dicts()] == ["AMD", "TSM", "NVDA"]
    assert status["AMD"]["status"] == "error"
    assert "HTTP 503" in status["AMD"]["message"]
    assert "gave up after 3 attempts" in status["AMD"]["message"]
    assert status["TSM"]["status"] == "error"
    assert status["TSM"]["message"].startswith("not fetched: batch abandoned after AMD")
    assert yahoo.chart_log("TSM") == []
    assert (status["NVDA"]["status"], status["NVDA"]["rows"]) == ("ok", 5)
    assert result.frame["ticker"].unique().to_list() == ["NVDA"]
    assert [s for _, s in yahoo.chart_log("AMD")] == [503, 503, 503]
    assert len(sleeps) == 2


def test_permanent_error_is_reported_once_and_not_retried(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = chart("NVDA")
    yahoo.script["AVGO"] = [(200, b"<html>this is not JSON</html>")]
    source, sleeps = make_source()

    result = source.prices(["AVGO", "NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    status = by_ticker(result.status)
    assert status["AVGO"]["status"] == "error"
    assert "JSONDecodeError" in status["AVGO"]["message"]
    assert len(yahoo.chart_log("AVGO")) == 1
    assert sleeps == []
    assert (status["NVDA"]["status"], status["NVDA"]["rows"]) == ("ok", 5)  # same batch


def test_refused_request_is_an_error_not_an_empty_ticker(yahoo: FakeYahoo):
    invalid_crumb = json.dumps(
        {
            "chart": {
                "result": None,
                "error": {"code": "Unauthorized", "description": "Invalid Crumb"},
            }
        }
    ).encode()
    yahoo.charts["NVDA"] = chart("NVDA")
    yahoo.script["NVDA"] = [None, (401, invalid_crumb), (401, invalid_crumb)]
    source, sleeps = make_source()

    result = source.prices(["NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    row = by_ticker(result.status)["NVDA"]
    assert (row["status"], row["rows"]) == ("error", 0)
    assert row["message"] == "Yahoo refused the request (HTTP 401): Invalid Crumb"
    # yfinance tried its other cookie strategy once, then gave up; we do not retry a refusal
    assert [s for _, s in yahoo.chart_log("NVDA")] == [200, 401, 401]
    assert any("guce.yahoo.com" in url for url, _, _ in yahoo.log)
    assert sleeps == []


def test_bars_without_prices_are_left_out_and_counted(yahoo: FakeYahoo):
    doc = chart("NVDA")
    quote = doc["chart"]["result"][0]["indicators"]["quote"][0]
    adj = doc["chart"]["result"][0]["indicators"]["adjclose"][0]["adjclose"]
    for key in quote:  # 2025-01-23 comes back all null
        quote[key][2] = None
    adj[2] = None
    quote["open"][1] = None  # 2025-01-22 lacks only its open
    yahoo.charts["NVDA"] = doc
    source, _ = make_source()

    result = source.prices(["NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    row = by_ticker(result.status)["NVDA"]
    assert (row["status"], row["rows"]) == ("ok", 4)
    assert row["message"] == "left out 1 bar(s) with no prices: 2025-01-23"
    assert date(2025, 1, 23) not in result.frame["session_date"].to_list()
    wed = day(result.frame, "NVDA", date(2025, 1, 22))
    assert wed["open"] is None  # a missing value is null, not NaN
    assert wed["close"] == pytest.approx(147.07, abs=1e-4)


def test_only_blank_bars_is_empty_with_the_count(yahoo: FakeYahoo):
    doc = chart("NVDA")
    indicators = doc["chart"]["result"][0]["indicators"]
    for block in [indicators["quote"][0], indicators["adjclose"][0]]:
        for key in block:
            block[key] = [None] * len(block[key])
    yahoo.charts["NVDA"] = doc
    source, _ = make_source()

    result = source.prices(["NVDA"], date(2025, 1, 21), date(2025, 1, 27))

    row = by_ticker(result.status)["NVDA"]
    assert (row["status"], row["rows"]) == ("empty", 0)
    assert row["message"].startswith(NO_DATA)
    assert "left out 5 bar(s) with no prices" in row["message"]
    assert result.frame.height == 0


def test_no_adjclose_on_the_wire_means_adj_close_is_close(yahoo: FakeYahoo):
    doc = chart("NVDA")
    del doc["chart"]["result"][0]["indicators"]["adjclose"]
    yahoo.charts["NVDA"] = doc
    source, _ = make_source()

    frame = source.prices(["NVDA"], date(2025, 1, 21), date(2025, 1, 27)).frame

    assert frame.height == 5
    assert frame["adj_close"].to_list() == frame["close"].to_list()


# -- library boundary --------------------------------------------------------------------


def yf_history_frame(
    columns: dict[str, list], dates: list[str], tz: str = "America/New_York"
) -> pd.DataFrame:
    """A frame shaped like ``yf.Ticker.history(..., auto_adjust=False, actions=False)``."""
    index = pd.DatetimeIndex(pd.to_datetime(dates)).as_unit("s").tz_localize(tz)
    frame = pd.DataFrame(columns, index=index.rename("Date"))
    frame["Volume"] = frame["Volume"].astype("int64")
    return frame


FULL = {
    "Open": [10.0, 11.0],
    "High": [12.0, 13.0],
    "Low": [9.0, 10.0],
    "Close": [11.0, 12.0],
    "Adj Close": [10.5, 11.5],
    "Volume": [1000, 2000],
}


@pytest.fixture
def fake_history(monkeypatch: pytest.MonkeyPatch, yahoo: FakeYahoo):
    """Replace ``yf.Ticker.history``; returns the list of calls, set ``.frame`` to answer."""

    class Calls(list):
        frame: pd.DataFrame = yf_history_frame(FULL, ["2025-01-23", "2025-01-24"])

    calls = Calls()

    def history(self, **kwargs):
        calls.append(
            {
                "ticker": self.ticker,
                **kwargs,
                "hide_exceptions": yf.config.debug.hide_exceptions,
                "retries": yf.config.network.retries,
            }
        )
        return calls.frame

    monkeypatch.setattr(yf.Ticker, "history", history)
    yield calls
    assert yahoo.log == []  # the library fake never reaches the network


def test_library_fake_has_the_shape_of_real_yfinance(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = chart("NVDA")
    real = yf.Ticker("NVDA").history(
        start=date(2025, 1, 23),
        end=date(2025, 1, 25),
        auto_adjust=False,
        actions=False,
        keepna=True,
    )
    fake = yf_history_frame(FULL, ["2025-01-23", "2025-01-24"])
    assert list(real.columns) == list(fake.columns)
    assert real.dtypes.to_dict() == fake.dtypes.to_dict()
    assert real.index.dtype == fake.index.dtype
    assert real.index.name == fake.index.name == "Date"
    assert list(real.index) == list(fake.index)


@pytest.fixture
def yf_config():
    """yfinance's global config, put back after the test (monkeypatch cannot undo it)."""
    saved = (yf.config.debug.hide_exceptions, yf.config.network.retries)
    yield yf.config
    yf.config.debug.hide_exceptions, yf.config.network.retries = saved


def test_what_yfinance_is_asked_and_that_its_config_is_restored(fake_history, yf_config):
    yf_config.debug.hide_exceptions = True
    yf_config.network.retries = 2
    source, _ = make_source()

    result = source.prices(["NVDA"], date(2025, 1, 23), date(2025, 1, 24))

    assert result.frame.height == 2
    (call,) = fake_history
    assert call["ticker"] == "NVDA"
    assert call["start"] == date(2025, 1, 23)
    assert call["end"] == date(2025, 1, 25)  # yfinance's end is exclusive
    assert (call["interval"], call["auto_adjust"], call["actions"]) == ("1d", False, True)
    assert (call["keepna"], call["repair"]) == (True, False)
    assert (call["hide_exceptions"], call["retries"]) == (False, 0)  # during the call
    assert yf.config.debug.hide_exceptions is True  # and put back after it
    assert yf.config.network.retries == 2


def test_frame_without_adj_close_column_uses_close(fake_history):
    fake_history.frame = yf_history_frame(
        {k: v for k, v in FULL.items() if k != "Adj Close"}, ["2025-01-23", "2025-01-24"]
    )
    source, _ = make_source()

    frame = source.prices(["NVDA"], date(2025, 1, 23), date(2025, 1, 24)).frame

    assert frame["adj_close"].to_list() == [11.0, 12.0]
    assert frame["close"].to_list() == [11.0, 12.0]


def test_frame_without_a_price_column_is_an_error_naming_it(fake_history):
    fake_history.frame = yf_history_frame(
        {k: v for k, v in FULL.items() if k != "Open"}, ["2025-01-23", "2025-01-24"]
    )
    source, _ = make_source()

    result = source.prices(["NVDA"], date(2025, 1, 23), date(2025, 1, 24))

    row = by_ticker(result.status)["NVDA"]
    assert row["status"] == "error"
    assert "lacks column(s) Open" in row["message"]
    assert result.frame.height == 0


def test_duplicate_tickers_are_fetched_once(fake_history):
    source, _ = make_source()
    result = source.prices(["NVDA", "NVDA"], date(2025, 1, 23), date(2025, 1, 24))
    assert len(fake_history) == 1
    assert result.status["ticker"].to_list() == ["NVDA"]
    assert result.frame.height == 2


# -- the protocol ----------------------------------------------------------------------


def test_implements_price_source_and_rejects_nonsense(yahoo: FakeYahoo):
    source: PriceSource = YahooSource()
    assert source.name == "yahoo"
    nothing = source.prices([], date(2025, 1, 1), date(2025, 1, 2))
    assert nothing.frame.schema == pl.Schema(RAW_PRICES)
    assert nothing.status.schema == pl.Schema(EXTRACT_STATUS)
    assert nothing.frame.height == nothing.status.height == 0
    with pytest.raises(TypeError):
        source.prices("NVDA", date(2025, 1, 1), date(2025, 1, 2))
    with pytest.raises(ValueError):
        source.prices(["NVDA"], date(2025, 1, 2), date(2025, 1, 1))
    for nonsense in [{"batch_size": 0}, {"attempts": 0}, {"base_delay": -1}, {"timeout": 0}]:
        with pytest.raises(ValueError):
            YahooSource(**nonsense)
    assert yahoo.log == []
