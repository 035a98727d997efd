"""YahooReferenceSource against a fake Yahoo at the HTTP boundary (real yfinance on top).

As in test_yahoo.py: ``curl_cffi.requests.Session.request`` is replaced by ``FakeYahoo``,
which answers the fundamentals-timeseries endpoint (share counts), the chart endpoint (time-zone
lookups and FX bars) and the cookie/crumb endpoints from tests/fixtures/yahoo_reference
(hand-written in the real wire shape, see the README there). Everything above it is the real
yfinance. Any other URL is recorded as unexpected and fails the test.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd
import polars as pl
import pytest
from yahoo_http import handshake, response

from sources.base import EXTRACT_STATUS
from sources.reference import RAW_FX, RAW_SHARES, ReferenceSource
from sources.yahoo import NO_DATA
from sources.yahoo_reference import NO_SHARES, YahooReferenceSource, fx_symbol

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "yahoo_reference"
FETCHED_AT = datetime(2025, 2, 1, 22, 0, tzinfo=UTC)
TOO_MANY = (FIXTURES / "too_many_requests.txt").read_bytes()
TS_PATH = "/ws/fundamentals-timeseries/v1/finance/timeseries/"


def doc(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _cut_chart(result: dict, keep: list[int]) -> None:
    if not keep:
        result.pop("timestamp", None)
        result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        return
    result["timestamp"] = [result["timestamp"][i] for i in keep]
    for block in [result["indicators"]["quote"][0], *result["indicators"].get("adjclose", [])]:
        for key, values in block.items():
            block[key] = [values[i] for i in keep]


class FakeYahoo:
    """Yahoo's chart and timeseries endpoints as yfinance sees them through curl_cffi."""

    def __init__(self) -> None:
        self.charts: dict[str, dict] = {}
        self.timeseries: dict[str, dict] = {}
        #: (kind, symbol) -> responses served first, one per request; None = serve normally
        self.script: dict[tuple[str, str], list[tuple[int, bytes] | None]] = {}
        self.log: list[tuple[str, str, dict, int]] = []  # (kind, symbol, params, status)
        self.unexpected: list[str] = []

    def requests(self, kind: str, symbol: str) -> list[tuple[dict, int]]:
        return [(p, s) for k, sym, p, s in self.log if (k, sym) == (kind, symbol)]

    def __call__(self, method: str, url: str, params: dict | None = None, **_: object):
        params = dict(params or {})
        parts = urlsplit(url)
        params |= {k: v[0] for k, v in parse_qs(parts.query).items()}  # timeseries: in the URL
        symbol = unquote(parts.path.rsplit("/", 1)[-1])
        if parts.path.startswith("/v8/finance/chart/"):
            kind, (status, body) = "chart", self._serve("chart", symbol, params)
        elif parts.path.startswith(TS_PATH):
            kind, (status, body) = "timeseries", self._serve("timeseries", symbol, params)
        elif step := handshake(parts):
            kind, status, body = step
        else:
            self.unexpected.append(f"{method} {url}")
            kind, status, body = "unexpected", 404, b"not faked"
        self.log.append((kind, symbol, params, status))
        return response(url, status, body)

    def _serve(self, kind: str, symbol: str, params: dict) -> tuple[int, bytes]:
        queue = self.script.get((kind, symbol))
        if queue:
            scripted = queue.pop(0)
            if scripted is not None:
                return scripted
        store = self.charts if kind == "chart" else self.timeseries
        if symbol not in store:
            return 404, (FIXTURES / "chart_not_found.json").read_bytes()
        body = copy.deepcopy(store[symbol])
        if kind == "chart":
            result = body["chart"]["result"][0]
            stamps = result["timestamp"]
            if "period1" in params:
                lo, hi = int(params["period1"]), int(params["period2"])
                keep = [i for i, t in enumerate(stamps) if lo <= t < hi]
            else:  # range=1d: the time-zone lookup; the server sends the latest bar
                keep = [len(stamps) - 1]
            _cut_chart(result, keep)
        else:
            result = body["timeseries"]["result"][0]
            if "timestamp" in result:  # cut to the window, as the server does
                lo, hi = int(params["period1"]), int(params["period2"])
                keep = [i for i, t in enumerate(result["timestamp"]) if lo <= t < hi]
                result["timestamp"] = [result["timestamp"][i] for i in keep]
                result["shares_out"] = [result["shares_out"][i] for i in keep]
        return 200, json.dumps(body).encode()


@pytest.fixture
def yahoo(yahoo_wire) -> FakeYahoo:
    return yahoo_wire(FakeYahoo())


def make_source(**settings) -> tuple[YahooReferenceSource, list[float]]:
    sleeps: list[float] = []
    source = YahooReferenceSource(
        sleep=sleeps.append, rng=random.Random(2025), clock=lambda: FETCHED_AT, **settings
    )
    return source, sleeps


def by_ticker(status: pl.DataFrame) -> dict[str, dict]:
    return {row["ticker"]: row for row in status.to_dicts()}


def serve_nvda_and_tel(yahoo: FakeYahoo) -> None:
    yahoo.charts["NVDA"] = doc("chart_NVDA")
    yahoo.charts["8035.T"] = doc("chart_8035.T")
    yahoo.timeseries["NVDA"] = doc("timeseries_NVDA")
    yahoo.timeseries["8035.T"] = doc("timeseries_8035.T")


# -- shares ------------------------------------------------------------------------------


def test_share_counts_land_with_their_dates(yahoo: FakeYahoo):
    serve_nvda_and_tel(yahoo)
    source, sleeps = make_source()

    result = source.shares(["NVDA", "8035.T"], date(2024, 1, 1), date(2025, 1, 31))

    frame = result.frame
    assert frame.schema == pl.Schema(RAW_SHARES)
    nvda = frame.filter(pl.col("ticker") == "NVDA")
    # the 2025-02-27 count is past `end` and not asked for
    assert nvda["as_of_date"].to_list() == [
        date(2024, 6, 11), date(2024, 8, 29), date(2024, 11, 21)
    ]
    assert nvda["shares_outstanding"].to_list() == [24598999040.0, 24530000896.0, 24490000384.0]
    tel = frame.filter(pl.col("ticker") == "8035.T")
    # Tokyo: yfinance localises Yahoo's UTC stamps to Asia/Tokyo without shifting the date
    assert tel["as_of_date"].to_list() == [date(2024, 5, 14), date(2024, 11, 13)]
    assert tel["shares_outstanding"].to_list() == [471632864.0, 459842272.0]
    assert set(frame["source"]) == {"yahoo"}
    assert set(frame["fetched_at"]) == {FETCHED_AT}

    assert result.status.schema == pl.Schema(EXTRACT_STATUS)
    assert result.status.to_dicts() == [
        {"ticker": "NVDA", "source": "yahoo.shares", "status": "ok", "rows": 3, "message": ""},
        {"ticker": "8035.T", "source": "yahoo.shares", "status": "ok", "rows": 2, "message": ""},
    ]
    # what went over the wire: the time-zone lookup, then one timeseries request whose window
    # is [start, end + 1 day) in the exchange's time zone
    (tz_lookup, _), = yahoo.requests("chart", "NVDA")
    assert tz_lookup["range"] == "1d"
    (ts, status), = yahoo.requests("timeseries", "NVDA")
    assert status == 200
    assert ts["symbol"] == "NVDA"
    assert int(ts["period1"]) == int(pd.Timestamp("2024-01-01", tz="America/New_York").timestamp())
    assert int(ts["period2"]) == int(pd.Timestamp("2025-02-01", tz="America/New_York").timestamp())
    assert sleeps == []


def test_unknown_ticker_is_empty_and_the_rest_goes_on(yahoo: FakeYahoo):
    serve_nvda_and_tel(yahoo)
    source, sleeps = make_source()

    result = source.shares(["NOTAREALTICKER", "NVDA"], date(2024, 1, 1), date(2025, 1, 31))

    status = by_ticker(result.status)
    assert (status["NOTAREALTICKER"]["status"], status["NOTAREALTICKER"]["rows"]) == ("empty", 0)
    assert status["NOTAREALTICKER"]["message"].startswith(NO_DATA)
    assert "symbol may be delisted" in status["NOTAREALTICKER"]["message"]
    # Yahoo's 404 at the time-zone lookup is taken at its word: no share-count request
    assert [s for _, s in yahoo.requests("chart", "NOTAREALTICKER")] == [404]
    assert yahoo.requests("timeseries", "NOTAREALTICKER") == []
    assert (status["NVDA"]["status"], status["NVDA"]["rows"]) == ("ok", 3)
    assert result.frame["ticker"].unique().to_list() == ["NVDA"]
    assert sleeps == []


def test_rate_limited_then_served(yahoo: FakeYahoo):
    serve_nvda_and_tel(yahoo)
    yahoo.script[("timeseries", "NVDA")] = [(429, TOO_MANY)]
    source, sleeps = make_source(attempts=3, base_delay=1.0, max_delay=4.0)

    result = source.shares(["NVDA"], date(2024, 1, 1), date(2025, 1, 31))

    assert by_ticker(result.status)["NVDA"]["status"] == "ok"
    assert result.frame.height == 3
    assert [s for _, s in yahoo.requests("timeseries", "NVDA")] == [429, 200]
    # one jittered wait from the seeded RNG, within [base/2, base]
    assert sleeps == pytest.approx([1.0 * (1 - 0.5 * random.Random(2025).random())])


def test_persistent_server_error_abandons_the_batch_only(yahoo: FakeYahoo):
    serve_nvda_and_tel(yahoo)
    yahoo.charts["AMD"] = doc("chart_NVDA")
    yahoo.script[("timeseries", "AMD")] = [(503, b"<html>Service Unavailable</html>")] * 5
    source, sleeps = make_source(batch_size=2, attempts=2, base_delay=0.5, max_delay=1.0)

    result = source.shares(["AMD", "8035.T", "NVDA"], date(2024, 1, 1), date(2025, 1, 31))

    status = by_ticker(result.status)
    assert status["AMD"]["status"] == "error"
    assert "timeseries endpoint answered HTTP 503" in status["AMD"]["message"]
    assert "gave up after 2 attempts" in status["AMD"]["message"]
    assert status["8035.T"]["message"].startswith("not fetched: batch abandoned after AMD")
    assert yahoo.requests("timeseries", "8035.T") == []
    assert (status["NVDA"]["status"], status["NVDA"]["rows"]) == ("ok", 3)  # next batch
    assert len(sleeps) == 1


def test_nothing_in_range_is_empty_not_an_error(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = doc("chart_NVDA")
    yahoo.timeseries["NVDA"] = doc("timeseries_no_data")
    source, _ = make_source()

    result = source.shares(["NVDA"], date(2024, 1, 1), date(2025, 1, 31))

    row = by_ticker(result.status)["NVDA"]
    assert (row["status"], row["rows"], row["message"]) == ("empty", 0, NO_SHARES)
    assert result.frame.height == 0
    assert result.frame.schema == pl.Schema(RAW_SHARES)


def test_bad_request_is_an_error_and_not_retried(yahoo: FakeYahoo):
    yahoo.charts["NVDA"] = doc("chart_NVDA")
    bad_request = (FIXTURES / "timeseries_bad_request.json").read_bytes()
    yahoo.script[("timeseries", "NVDA")] = [(400, bad_request)] * 2
    source, sleeps = make_source()

    row = by_ticker(source.shares(["NVDA"], date(2024, 1, 1), date(2025, 1, 31)).status)["NVDA"]

    assert row["status"] == "error"
    assert "Bad Request" in row["message"]
    # yfinance asks once more with its other cookie strategy; we do not retry on top
    assert [s for _, s in yahoo.requests("timeseries", "NVDA")] == [400, 400]
    assert sleeps == []


def test_refused_request_is_an_error_naming_the_status(yahoo: FakeYahoo):
    serve_nvda_and_tel(yahoo)
    invalid_crumb = json.dumps(
        {"finance": {"result": None,
                     "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}}
    ).encode()
    yahoo.script[("timeseries", "NVDA")] = [(401, invalid_crumb), (401, invalid_crumb)]
    source, sleeps = make_source()

    row = by_ticker(source.shares(["NVDA"], date(2024, 1, 1), date(2025, 1, 31)).status)["NVDA"]

    assert (row["status"], row["rows"]) == ("error", 0)
    assert row["message"] == "Yahoo refused the request (HTTP 401)"
    # yfinance retried once with its other cookie strategy; we do not retry a refusal
    assert [s for _, s in yahoo.requests("timeseries", "NVDA")] == [401, 401]
    assert sleeps == []


def test_two_counts_for_one_date_are_passed_on_and_noted(yahoo: FakeYahoo):
    serve_nvda_and_tel(yahoo)
    series = yahoo.timeseries["NVDA"]["timeseries"]["result"][0]
    series["timestamp"].insert(3, series["timestamp"][2])  # Yahoo's known duplicate-date bug
    series["shares_out"].insert(3, 2449000038)
    source, _ = make_source()

    result = source.shares(["NVDA"], date(2024, 1, 1), date(2025, 1, 31))

    assert result.frame.filter(pl.col("as_of_date") == date(2024, 11, 21)).height == 2
    row = by_ticker(result.status)["NVDA"]
    assert (row["status"], row["rows"]) == ("ok", 4)
    assert row["message"] == "1 date(s) carry more than one share count (all passed on)"


# -- fx ----------------------------------------------------------------------------------


def test_fx_is_usd_per_unit_inverted_from_yahoos_units_per_usd(yahoo: FakeYahoo):
    yahoo.charts["JPY=X"] = doc("chart_JPY=X")
    yahoo.charts["EUR=X"] = doc("chart_EUR=X")
    source, sleeps = make_source()

    result = source.fx(["JPY", "USD", "EUR", "JPY"], date(2025, 1, 23), date(2025, 1, 28))

    frame = result.frame
    assert frame.schema == pl.Schema(RAW_FX)
    jpy = frame.filter(pl.col("currency") == "JPY")
    assert jpy["session_date"].to_list() == [
        date(2025, 1, 23), date(2025, 1, 24), date(2025, 1, 27), date(2025, 1, 28)
    ]
    # JPY=X closed at 156.02 JPY per USD on the 24th: one yen was 1/156.02 dollars
    assert jpy["usd_per_unit"][1] == pytest.approx(1 / 156.02, rel=1e-6)
    assert 0.0063 < jpy["usd_per_unit"].min() and jpy["usd_per_unit"].max() < 0.0066
    eur = frame.filter(pl.col("currency") == "EUR")
    assert eur["usd_per_unit"][0] == pytest.approx(1 / 0.9601, rel=1e-6)  # ~1.04 USD per EUR
    assert set(frame["source"]) == {"yahoo"}
    assert "USD" not in frame["currency"].to_list()  # never fetched: 1 by definition
    assert result.status.schema == pl.Schema(EXTRACT_STATUS)
    assert result.status.to_dicts() == [
        {"ticker": "JPY=X", "source": "yahoo.fx", "status": "ok", "rows": 4, "message": ""},
        {"ticker": "EUR=X", "source": "yahoo.fx", "status": "ok", "rows": 4, "message": ""},
    ]
    assert yahoo.requests("chart", "USD=X") == []
    assert sleeps == []


def test_fx_rate_limited_then_served_and_unknown_currency_is_empty(yahoo: FakeYahoo):
    yahoo.charts["JPY=X"] = doc("chart_JPY=X")
    yahoo.script[("chart", "JPY=X")] = [(429, TOO_MANY)]
    source, sleeps = make_source()

    result = source.fx(["JPY", "XXX"], date(2025, 1, 23), date(2025, 1, 28))

    status = by_ticker(result.status)
    assert (status["JPY=X"]["status"], status["JPY=X"]["rows"]) == ("ok", 4)
    assert status["XXX=X"]["status"] == "empty"
    assert len(sleeps) == 1
    assert set(result.frame["currency"]) == {"JPY"}


def test_fx_bar_without_a_usable_close_gives_a_null_rate(yahoo: FakeYahoo):
    chart = doc("chart_JPY=X")
    chart["chart"]["result"][0]["indicators"]["quote"][0]["close"][3] = 0.0  # the 24th
    yahoo.charts["JPY=X"] = chart
    source, _ = make_source()

    result = source.fx(["JPY"], date(2025, 1, 23), date(2025, 1, 28))

    rates = dict(zip(result.frame["session_date"], result.frame["usd_per_unit"], strict=True))
    assert rates[date(2025, 1, 24)] is None
    assert rates[date(2025, 1, 27)] == pytest.approx(1 / 155.31, rel=1e-6)
    row = by_ticker(result.status)["JPY=X"]
    assert row["message"] == "1 bar(s) with no usable close: rate left null"


# -- the protocol ------------------------------------------------------------------------


def test_implements_reference_source_and_rejects_nonsense(yahoo: FakeYahoo):
    source: ReferenceSource = YahooReferenceSource()
    assert source.name == "yahoo"
    assert fx_symbol("krw") == "KRW=X"
    nothing = source.shares([], date(2025, 1, 1), date(2025, 1, 2))
    assert nothing.frame.schema == pl.Schema(RAW_SHARES) and nothing.frame.height == 0
    only_usd = source.fx(["USD"], date(2025, 1, 1), date(2025, 1, 2))
    assert only_usd.frame.schema == pl.Schema(RAW_FX) and only_usd.status.height == 0
    with pytest.raises(TypeError):
        source.shares("NVDA", date(2025, 1, 1), date(2025, 1, 2))
    with pytest.raises(ValueError):
        source.fx(["JPY"], date(2025, 1, 2), date(2025, 1, 1))
    with pytest.raises(ValueError):
        YahooReferenceSource(attempts=0)
    assert yahoo.log == []
