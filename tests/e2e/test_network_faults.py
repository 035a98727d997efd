"""Network faults at the Yahoo boundary, through the WHOLE daily flow (``--source yahoo``).

The fake is the one of ``tests/sources/test_yahoo.py`` (loaded from that file, not copied):
``curl_cffi.requests.Session.request`` -- the one call every yfinance request goes through --
answers the chart endpoint from generated chart documents in the real wire shape, plus the
cookie/crumb endpoints; here it also answers the fundamentals-timeseries endpoint (share
counts: "no data") and can time out. Everything above it is real: yfinance, the Yahoo
sources with their retries, the Prefect flow, the warehouse.

Run 1 (end 2025-01-17), per ticker:
  ^GSPC, NVDA        served
  AMD                HTTP 429 twice, then served (bounded retry with backoff and jitter)
  QCOM               served, but no bar in the window (an empty frame)
  MU                 HTTP 404: a ticker Yahoo no longer knows
  INTC               every request times out
  AVGO               HTTP 429 forever
-> the run ends 'partial' and audit.extract_status names each failure and why.
Run 2 (end 2025-01-31), Yahoo healthy again (MU and QCOM known): the run ends 'success'; the
tickers that had nothing loaded are fetched from the history start, and every row of run 1
is still there.

Backoff sleeps are recorded, not slept (the sources take a ``sleep`` callable); the sources
are built one ticker per batch so that each fault's own outcome is visible (abandoning the
rest of a batch after a refusal is tested in tests/sources/test_yahoo.py).
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest
from curl_cffi import requests as curl_requests
from yahoo_http import response
from yfinance.data import YfData

from warehouse.connection import query_frame

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")]

TESTS = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("_yahoo_http_fake",
                                               TESTS / "sources" / "test_yahoo.py")
_fake_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fake_module)
NO_SHARES = (TESTS / "fixtures" / "yahoo_reference" / "timeseries_no_data.json").read_bytes()
TOO_MANY = _fake_module.TOO_MANY

TICKERS = ["^GSPC", "NVDA", "AMD", "QCOM", "MU", "INTC", "AVGO"]
HISTORY_START = date(2018, 1, 1)
FIRST_BAR, LAST_BAR = date(2024, 9, 3), date(2025, 1, 31)
RUN1_END, RUN2_END = date(2025, 1, 17), date(2025, 1, 31)
#: NVDA's chart carries a dividend with this ex-date, inside both runs' windows
DIVIDEND_DAY = date(2025, 1, 14)
ATTEMPTS = 4  # YahooSource's default
HOURLY_ASKED_AT = datetime(2030, 1, 1, tzinfo=UTC)


class FakeYahoo(_fake_module.FakeYahoo):
    """test_yahoo's fake, plus the timeseries endpoint, timeouts and refusals by symbol."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: set[str] = set()
        self.refused: set[str] = set()

    def __call__(self, method: str, url: str, params: dict | None = None, **kw: object):
        path = url.split("?")[0]
        symbol = path.rsplit("/", 1)[-1]
        if "/ws/fundamentals-timeseries/" in path:
            self.log.append((url, dict(params or {}), 200))
            return response(url, 200, NO_SHARES)
        if "/v8/finance/chart/" in path:
            if symbol in self.timeouts:
                self.log.append((url, dict(params or {}), 0))
                raise curl_requests.exceptions.Timeout("Operation timed out after 20000 ms")
            if symbol in self.refused:
                self.log.append((url, dict(params or {}), 429))
                return response(url, 429, TOO_MANY)
        return super().__call__(method, url, params=params, **kw)

    def bars_requests(self, symbol: str) -> list[dict]:
        """The params of each bars request (not the time-zone lookups) for ``symbol``."""
        return [p for p, _ in self.chart_log(symbol) if "period1" in p]


def _sessions() -> list[date]:
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS")
    return [d.date() for d in cal.sessions_in_range(str(FIRST_BAR), str(LAST_BAR))]


def chart(symbol: str, days: list[date]) -> dict:
    """A chart document for ``symbol`` with one bar per day (09:30 New York), in the shape
    of tests/fixtures/yahoo/chart_NVDA.json; prices a seeded random walk."""
    doc = copy.deepcopy(_fake_module.chart("NVDA"))
    result = doc["chart"]["result"][0]
    result["meta"]["symbol"] = symbol
    rng = random.Random(symbol)
    price, quote = 100.0 + rng.random() * 50, {k: [] for k in
                                              ("open", "high", "low", "close", "volume")}
    adj = []
    for _ in days:
        price *= 1 + rng.gauss(0, 0.015)
        close = round(price, 2)
        quote["open"].append(round(close * (1 + rng.gauss(0, 0.003)), 2))
        quote["high"].append(round(max(close, quote["open"][-1]) * 1.01, 2))
        quote["low"].append(round(min(close, quote["open"][-1]) * 0.99, 2))
        quote["close"].append(close)
        quote["volume"].append(1_000_000 + rng.randrange(1_000_000))
        adj.append(close)
    result["timestamp"] = [
        int(pd.Timestamp(f"{d} 09:30", tz="America/New_York").timestamp()) for d in days
    ]
    result["indicators"] = {"quote": [quote], "adjclose": [{"adjclose": adj}]}
    return doc


@pytest.fixture(scope="module")
def yahoo(install_yahoo_wire):
    """The fake at the HTTP boundary, and the two Yahoo sources with recorded sleeps."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _faked(monkeypatch, install_yahoo_wire)


def _faked(monkeypatch, install_yahoo_wire):
    import sources.yahoo
    import sources.yahoo_intraday
    import sources.yahoo_reference

    fake = install_yahoo_wire(monkeypatch, FakeYahoo())
    fake.sleeps = []
    seeds = itertools.count(2025)  # one seeded random stream per source built

    def settings(kw):
        return {"batch_size": 1, "sleep": fake.sleeps.append, "rng": random.Random(next(seeds)),
                **kw}

    class Prices(sources.yahoo.YahooSource):
        def __init__(self, **kw):
            super().__init__(**settings(kw))

    class Reference(sources.yahoo_reference.YahooReferenceSource):
        def __init__(self, **kw):
            super().__init__(**settings(kw))

    class Hourly(sources.yahoo_intraday.YahooIntradaySource):
        """Asked in 2030: these windows are beyond Yahoo's 730 days of hourly bars, so the
        hourly source sends nothing and the faults here stay the daily ones (its own faults
        are tested in tests/sources/test_intraday.py)."""

        def __init__(self, **kw):
            super().__init__(**settings({"clock": lambda: HOURLY_ASKED_AT, **kw}))

    monkeypatch.setattr(sources.yahoo, "YahooSource", Prices)
    monkeypatch.setattr(sources.yahoo_intraday, "YahooIntradaySource", Hourly)
    monkeypatch.setattr(sources.yahoo_reference, "YahooReferenceSource", Reference)
    yield fake
    YfData.cache_get.cache_clear()


def _read(path, sql, params=None) -> pl.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return query_frame(con, sql, params)
    finally:
        con.close()


def _epoch(day: date) -> int:
    return int(pd.Timestamp(str(day), tz="America/New_York").timestamp())


def _run(warehouse, end: date) -> tuple[int, str]:
    from typer.testing import CliRunner

    from flows.cli import app

    args = ["run", "--source", "yahoo", "--tickers", ",".join(TICKERS), "--end",
            end.isoformat(), "--warehouse", str(warehouse), "--top", "0", "--no-news"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def two_runs(yahoo, tmp_path_factory):
    """Run 1 with faults, then run 2 with a healthy Yahoo; returns what each left behind."""
    days = _sessions()
    for symbol in ("^GSPC", "NVDA", "AMD", "INTC", "AVGO"):
        yahoo.charts[symbol] = chart(symbol, days)
    ex = _epoch(DIVIDEND_DAY) + 9 * 3600 + 1800  # 09:30 New York, as Yahoo stamps events
    yahoo.charts["NVDA"]["chart"]["result"][0]["events"] = {
        "dividends": {str(ex): {"amount": 0.01, "date": ex}}}
    yahoo.charts["QCOM"] = chart("QCOM", [d for d in days if d > RUN1_END])  # nothing yet
    yahoo.script["AMD"] = [(429, TOO_MANY), (429, TOO_MANY)]
    yahoo.timeouts.add("INTC")
    yahoo.refused.add("AVGO")  # MU: no chart at all -> 404
    warehouse = tmp_path_factory.mktemp("faults") / "w.duckdb"

    code1, out1 = _run(warehouse, RUN1_END)
    sleeps1, log1 = list(yahoo.sleeps), len(yahoo.log)

    yahoo.timeouts.clear()
    yahoo.refused.clear()
    yahoo.charts["MU"] = chart("MU", days)
    yahoo.charts["QCOM"] = chart("QCOM", days)
    code2, out2 = _run(warehouse, RUN2_END)
    return {
        "warehouse": warehouse, "days": days, "run1": (code1, out1), "run2": (code2, out2),
        "sleeps1": sleeps1, "requests2": yahoo.log[log1:], "fake": yahoo,
    }


def _status(warehouse, run_id: str) -> dict[tuple[str, str], dict]:
    frame = _read(warehouse, "SELECT * FROM audit.extract_status WHERE run_id = ?", [run_id])
    return {(r["source"], r["ticker"]): r for r in frame.to_dicts()}


def _runs(warehouse) -> list[dict]:
    return _read(warehouse, "SELECT run_id, status FROM audit.etl_run "
                            "WHERE flow = 'daily-refresh' ORDER BY started_at").to_dicts()


def test_faulty_yahoo_gives_a_partial_run_naming_each_failure(two_runs):
    code, output = two_runs["run1"]
    assert code == 0, output
    assert ": partial into" in output
    warehouse = two_runs["warehouse"]
    run1 = _runs(warehouse)[0]
    assert run1["status"] == "partial"

    status = _status(warehouse, run1["run_id"])
    price = {t: status[("yahoo", t)] for t in TICKERS}
    ok_days = [d for d in two_runs["days"] if d <= RUN1_END]
    for ticker in ("^GSPC", "NVDA", "AMD"):
        assert (price[ticker]["status"], price[ticker]["rows"]) == ("ok", len(ok_days)), ticker
    assert price["QCOM"]["status"] == "empty"
    assert price["MU"]["status"] == "empty"
    assert "possibly delisted or unknown to Yahoo" in price["MU"]["message"]
    assert "HTTP 404" in price["MU"]["message"]
    assert price["INTC"]["status"] == "error"
    assert price["INTC"]["message"] == (
        f"Timeout: Operation timed out after 20000 ms (gave up after {ATTEMPTS} attempts)")
    assert price["AVGO"]["status"] == "error"
    assert price["AVGO"]["message"].startswith("YFRateLimitError")
    assert price["AVGO"]["message"].endswith(f"(gave up after {ATTEMPTS} attempts)")
    for ticker in ("QCOM", "MU", "INTC", "AVGO"):
        assert f"{ticker}" in output.split("tickers not fetched:")[1]

    # bounded retries with backoff and jitter: AMD 2 waits; INTC and AVGO 3 each (prices),
    # and 3 each again for their share counts; every wait within [base/2, max]
    sleeps = two_runs["sleeps1"]
    assert len(sleeps) == 2 + 3 + 3 + 3 + 3
    assert all(1.0 <= s <= 30.0 for s in sleeps)
    assert len(set(sleeps)) == len(sleeps)  # jittered: no two waits alike

    # what loaded is exactly what was served; nothing of the failed tickers
    core = _read(warehouse, "SELECT ticker, count(*) AS n FROM core.fact_price_daily "
                            "WHERE run_id = ? GROUP BY 1", [run1["run_id"]])
    assert dict(core.iter_rows()) == {"^GSPC": len(ok_days), "NVDA": len(ok_days),
                                      "AMD": len(ok_days)}


def test_next_run_fetches_what_is_missing_and_loses_nothing(two_runs):
    code, output = two_runs["run2"]
    assert code == 0, output
    warehouse = two_runs["warehouse"]
    run1, run2 = _runs(warehouse)
    assert run2["status"] == "success"
    status = _status(warehouse, run2["run_id"])
    assert {t: status[("yahoo", t)]["status"] for t in TICKERS} == dict.fromkeys(TICKERS, "ok")

    # every ticker now holds every served session; run 1's rows are untouched
    days = two_runs["days"]
    counts = _read(warehouse, "SELECT ticker, count(*) AS n, min(session_date) AS first, "
                              "max(session_date) AS last FROM core.fact_price_daily GROUP BY 1")
    for row in counts.to_dicts():
        assert (row["n"], row["first"], row["last"]) == (len(days), days[0], days[-1]), row
    kept = _read(warehouse, "SELECT count(*) AS n FROM core.fact_price_daily WHERE run_id = ?",
                 [run1["run_id"]])["n"].item()
    assert kept == 3 * len([d for d in days if d <= RUN1_END])

    # the tickers that had nothing were fetched from the history start
    fake = two_runs["fake"]
    for ticker in ("QCOM", "MU", "INTC", "AVGO"):
        (bars,) = [p for p in fake.bars_requests(ticker) if p in _params(two_runs, ticker)]
        assert bars["period1"] == _epoch(HISTORY_START), ticker


def _params(two_runs, ticker: str) -> list[dict]:
    return [p for url, p, _ in two_runs["requests2"]
            if url.endswith(f"/v8/finance/chart/{ticker}") and "period1" in p]


def test_a_dividend_in_the_chart_events_is_loaded_once(two_runs):
    """Corporate actions ride along with the prices through the whole run; run 2 fetches
    the dividend again (it re-reads the last 10 days) and changes nothing."""
    warehouse = two_runs["warehouse"]
    run1, _ = _runs(warehouse)
    rows = _read(warehouse, "SELECT ticker, ex_date, action, value, run_id "
                            "FROM core.fact_corporate_action").rows()
    assert rows == [("NVDA", DIVIDEND_DAY, "dividend", 0.01, run1["run_id"])]


def test_next_run_does_not_refetch_the_others_history(two_runs):
    expected = _epoch(RUN1_END.replace(day=RUN1_END.day - 10))  # watermark - REFETCH_DAYS
    for ticker in ("^GSPC", "NVDA", "AMD"):
        (bars,) = _params(two_runs, ticker)
        assert bars["period1"] == expected, ticker


def test_extract_status_is_json_clean(two_runs):
    """audit.extract_status messages are one line each (they are shown in the CLI)."""
    frame = _read(two_runs["warehouse"], "SELECT message FROM audit.extract_status")
    assert all("\n" not in (m or "") for m in frame["message"])
    json.dumps(frame.to_dicts())
