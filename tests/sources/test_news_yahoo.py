"""YahooNewsSource against a fake Yahoo at the HTTP boundary, real yfinance on top.

As in test_yahoo.py, ``curl_cffi.requests.Session.request`` is replaced: it serves the ticker
news endpoint (``POST finance.yahoo.com/xhr/ncp``, the nested ``content`` shape) and the search
endpoint (``GET query2.finance.yahoo.com/v1/finance/search``, the flat shape) from recorded
bodies, plus the cookie/crumb endpoints yfinance touches first. Any other URL fails the test.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pytest
from yahoo_http import handshake, response

from contracts.news import RAW_NEWS
from sources.news_yahoo import YahooNewsSource

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "news"
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "news"
FETCHED_AT = datetime(2025, 1, 30, 12, 0, tzinfo=UTC)
START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)


class FakeYahoo:
    def __init__(self) -> None:
        self.ticker_news: dict[str, list] = {}  # symbol -> queue of (status, body)
        self.search_news: dict[str, list] = {}  # query -> queue of (status, body)
        self.log: list[tuple[str, str]] = []
        self.unexpected: list[str] = []

    def __call__(self, method: str, url: str, params=None, json=None, **_):
        parts = urlsplit(url)
        if parts.path == "/xhr/ncp":
            key = (json or {}).get("serviceConfig", {}).get("s", ["?"])[0]
            status, body = self._next(self.ticker_news, key)
        elif parts.path == "/v1/finance/search":
            key = (params or {}).get("q")
            status, body = self._next(self.search_news, key)
        elif step := handshake(parts):
            key, status, body = step
        else:
            self.unexpected.append(f"{method} {url}")
            key, status, body = "?", 404, b"not faked"
        self.log.append((parts.path, str(key)))
        return response(url, status, body)

    @staticmethod
    def _next(routes: dict, key) -> tuple[int, bytes]:
        queue = routes.get(key)
        if not queue:
            return 404, b'{"error": "unknown"}'
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def yahoo(yahoo_wire) -> FakeYahoo:
    return yahoo_wire(FakeYahoo())


def make(tickers=(), queries=(), **settings) -> tuple[YahooNewsSource, list[float]]:
    sleeps: list[float] = []
    source = YahooNewsSource(tickers, queries, sleep=sleeps.append, rng=random.Random(3),
                             clock=lambda: FETCHED_AT, **settings)
    return source, sleeps


def ncp(stream: list) -> bytes:
    return json.dumps({"data": {"tickerStream": {"stream": stream}}}).encode()


def test_ticker_news_nested_shape(yahoo: FakeYahoo):
    yahoo.ticker_news["NVDA"] = [(200, (FIXTURES / "yahoo_ncp_NVDA.json").read_bytes())]
    source, sleeps = make(["NVDA"])

    result = source.news(START, END)

    assert result.frame.schema == pl.Schema(RAW_NEWS)
    rows = result.frame.to_dicts()
    assert [r["item_id"] for r in rows] == [
        "7c1d0c1e-0001-3b7a-9f43-1a2b3c4d5e01", "7c1d0c1e-0002-3b7a-9f43-1a2b3c4d5e02",
        "7c1d0c1e-0003-3b7a-9f43-1a2b3c4d5e03",
    ]
    story = rows[0]
    assert story["title"] == "Nvidia shares plunge 17% as DeepSeek rattles AI trade"
    assert story["summary"] == "Nvidia lost nearly $600 billion in market value on Monday."
    assert story["url"] == ("https://finance.yahoo.com/news/"
                            "nvidia-shares-plunge-17-210500123.html?.tsrc=rss")
    assert story["publisher"] == "Reuters"
    assert story["published_raw"] == "2025-01-27T21:05:00Z"
    assert story["published_at"] == datetime(2025, 1, 27, 21, 5, tzinfo=UTC)
    assert story["related_tickers"] == ["NVDA", "ANTH.PVT"]
    assert story["channel"] == "ticker:NVDA" and story["source"] == "yahoo"
    video = rows[1]
    assert video["summary"].startswith("<p>Analysts say")  # HTML description when no summary
    assert video["related_tickers"] == []  # the queried ticker is not attached
    wsj = rows[2]
    assert wsj["url"].startswith("https://www.wsj.com/tech/ai/")  # no clickThroughUrl
    assert result.status.to_dicts() == [
        {"source": "yahoo", "channel": "ticker:NVDA", "status": "ok", "rows": 3, "message": ""}
    ]
    assert ("/xhr/ncp", "NVDA") in yahoo.log
    assert sleeps == []


def test_search_news_flat_shape_and_window(yahoo: FakeYahoo):
    yahoo.search_news["DeepSeek"] = [(200, (FIXTURES / "yahoo_search_DeepSeek.json").read_bytes())]
    source, _ = make(queries=["DeepSeek"])

    result = source.news(datetime(2025, 1, 1, tzinfo=UTC), END)

    rows = result.frame.to_dicts()
    assert [r["title"] for r in rows] == [
        "DeepSeek\u2019s R1 sparks global tech stock rout",
        "Nvidia shares plunge 17% as DeepSeek rattles AI trade",
    ]
    assert rows[0]["published_at"] == datetime(2025, 1, 27, 10, 15, tzinfo=UTC)
    assert rows[0]["published_raw"] == "1737972900"
    assert rows[0]["related_tickers"] == ["NVDA", "TSM", "AVGO"]
    assert rows[1]["related_tickers"] == []
    assert rows[0]["channel"] == "search:DeepSeek"
    (status,) = result.status.to_dicts()
    assert (status["status"], status["rows"]) == ("ok", 2)
    assert status["message"] == "1 item(s) outside the window or not news"


def test_rate_limit_is_retried_then_reported_and_others_go_on(yahoo: FakeYahoo):
    yahoo.ticker_news["NVDA"] = [(429, b"Too Many Requests")]
    yahoo.ticker_news["AMD"] = [(200, ncp([]))]
    yahoo.search_news["DeepSeek"] = [(502, b"<html>Bad gateway</html>"),
                                     (200, (FIXTURES / "yahoo_search_DeepSeek.json").read_bytes())]
    source, sleeps = make(["NVDA", "AMD"], ["DeepSeek"], attempts=2, base_delay=1.0)

    result = source.news(START, END)

    status = {r["channel"]: r for r in result.status.to_dicts()}
    assert status["ticker:NVDA"]["status"] == "error"
    assert "YFRateLimitError" in status["ticker:NVDA"]["message"]
    assert "gave up after 2 attempts" in status["ticker:NVDA"]["message"]
    assert status["ticker:AMD"]["status"] == "empty"
    assert (status["search:DeepSeek"]["status"], status["search:DeepSeek"]["rows"]) == ("ok", 3)
    assert len(sleeps) == 2  # one retry for NVDA, one for the 502


def test_a_non_json_answer_is_an_error_for_that_channel(yahoo: FakeYahoo):
    yahoo.ticker_news["NVDA"] = [(200, b"<html>Will be right back</html>")]
    source, _ = make(["NVDA"])

    (status,) = source.news(START, END).status.to_dicts()

    assert status["status"] == "error"
    assert "YAHOO! FINANCE IS CURRENTLY DOWN" in status["message"]


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"real yfinance payloads not found at {SAMPLES}")
def test_real_yfinance_payloads_in_both_shapes(yahoo: FakeYahoo):
    stream = json.loads((SAMPLES / "yfinance-ticker-news-NVDA-2026-09-17.json").read_text())
    yahoo.ticker_news["NVDA"] = [(200, ncp(stream))]
    search = json.loads((SAMPLES / "yfinance-search-endpoint-news-deepseek-2025-02-25.json")
                        .read_text())["response"]["bodyJson"]
    yahoo.search_news["DeepSeek"] = [(200, json.dumps(search).encode())]
    source, _ = make(["NVDA"], ["DeepSeek"])

    result = source.news(START, END)

    counts = {r["channel"]: (r["status"], r["rows"]) for r in result.status.to_dicts()}
    assert counts == {"ticker:NVDA": ("ok", 50), "search:DeepSeek": ("ok", 4)}
    frame = result.frame
    assert frame.filter(pl.col("url").is_null()).height == 0
    wsj = frame.filter(pl.col("publisher") == "The Wall Street Journal").row(0, named=True)
    assert wsj["url"].startswith("https://www.wsj.com/")
    reuters = frame.filter(pl.col("title") == "DeepSeek rushes to launch new AI model as China "
                                              "goes all in").row(0, named=True)
    assert reuters["published_at"] == datetime(2025, 2, 25, 11, 8, 9, tzinfo=UTC)
    assert frame.filter(pl.col("channel") == "ticker:NVDA")["published_at"].null_count() == 0
