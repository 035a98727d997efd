"""HackerNewsSource against a fake Algolia API at ``requests.Session.request``."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from requests.models import Response

from sources.news_base import NewsQuery
from sources.news_hn import ENDPOINT, HackerNewsSource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "news"
FETCHED_AT = datetime(2025, 2, 1, tzinfo=UTC)
QUERY = NewsQuery("DeepSeek", datetime(2025, 1, 18, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))


def page(n: int) -> bytes:
    return (FIXTURES / f"hn_search_DeepSeek_page{n}.json").read_bytes()


class FakeAlgolia:
    def __init__(self) -> None:
        self.answers: list = []  # served in order; the last one repeats
        self.calls: list[dict] = []

    def __call__(self, method: str, url: str, params=None, timeout=None, **_):
        assert url == ENDPOINT and method == "GET" and timeout
        self.calls.append(dict(params))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        response = Response()
        response.status_code, response._content, response.url = status, body, url
        response.headers["Content-Type"] = "application/json"
        return response


@pytest.fixture
def algolia(monkeypatch: pytest.MonkeyPatch) -> FakeAlgolia:
    fake = FakeAlgolia()
    monkeypatch.setattr(requests.Session, "request",
                        lambda self, method, url, **kw: fake(method, url, **kw))
    return fake


def make(queries=(QUERY,), **settings) -> tuple[HackerNewsSource, list[float]]:
    sleeps: list[float] = []
    source = HackerNewsSource(list(queries), sleep=sleeps.append, rng=random.Random(1),
                              clock=lambda: FETCHED_AT, hits_per_page=2, **settings)
    return source, sleeps


def test_pages_are_followed_and_hits_reshaped(algolia: FakeAlgolia):
    algolia.answers = [page(0), page(1)]
    source, sleeps = make()

    result = source.news()

    assert [c["page"] for c in algolia.calls] == [0, 1]
    first = algolia.calls[0]
    assert first == {
        "query": "DeepSeek", "tags": "story", "hitsPerPage": 2, "page": 0,
        "numericFilters": "created_at_i>=1737158400,created_at_i<=1738368000",
    }
    rows = result.frame.to_dicts()
    assert [r["item_id"] for r in rows] == ["42800001", "42790002", "42770003"]
    story = rows[0]
    assert story["url"] == "https://www.markets.example.com/2025/01/27/nvidia-plunge?utm_source=hn"
    assert story["published_raw"] == "2025-01-27T15:32:10Z"
    assert story["published_at"] == datetime(2025, 1, 27, 15, 32, 10, tzinfo=UTC)
    assert story["publisher"] == "Hacker News"
    assert story["channel"] == "hn:DeepSeek" and story["source"] == "hn"
    ask = rows[1]
    assert ask["url"] == "https://news.ycombinator.com/item?id=42790002"  # no url: its HN page
    assert ask["summary"].startswith("<p>The paper claims")
    assert result.status.to_dicts() == [{"source": "hn", "channel": "hn:DeepSeek",
                                         "status": "ok", "rows": 3,
                                         "message": "2025-01-18..2025-02-01"}]
    assert sleeps == []


def test_windows_are_clipped_to_the_run_and_pages_capped(algolia: FakeAlgolia):
    algolia.answers = [page(0)]
    source, _ = make(max_pages=1)

    result = source.news(datetime(2025, 1, 25, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC))

    assert algolia.calls[0]["numericFilters"] == (
        "created_at_i>=1737763200,created_at_i<=1738368000"
    )
    (status,) = result.status.to_dicts()
    assert status["rows"] == 2
    assert status["message"] == "2025-01-25..2025-02-01; truncated: read 1 of 2 pages"


def test_a_window_outside_the_run_asks_nothing(algolia: FakeAlgolia):
    algolia.answers = [page(0)]
    source, _ = make()

    result = source.news(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))

    assert algolia.calls == []
    assert result.status["status"].to_list() == ["empty"]


def test_server_errors_are_retried_and_failures_keep_what_was_read(algolia: FakeAlgolia):
    algolia.answers = [(503, b"busy"), page(0), requests.exceptions.ReadTimeout("slow")]
    other = NewsQuery("Nvidia", QUERY.start, QUERY.end)
    source, sleeps = make([QUERY, other], attempts=2, base_delay=1.0)

    result = source.news()

    status = {r["channel"]: r for r in result.status.to_dicts()}
    assert status["hn:DeepSeek"]["status"] == "error"
    assert status["hn:DeepSeek"]["rows"] == 2  # page 0 is kept
    assert "ReadTimeout" in status["hn:DeepSeek"]["message"]
    assert "kept 2 item(s) of the 1 page(s) read" in status["hn:DeepSeek"]["message"]
    assert status["hn:Nvidia"]["status"] == "error"
    assert result.frame.height == 2
    assert len(sleeps) == 3


def test_a_malformed_answer_is_reported(algolia: FakeAlgolia):
    algolia.answers = [(200, json.dumps({"message": "oops"}).encode())]
    source, sleeps = make()

    (status,) = source.news().status.to_dicts()

    assert status["status"] == "error"
    assert status["message"] == "ValueError: Algolia answer has no 'hits' list"
    assert sleeps == []


def test_client_errors_are_not_retried(algolia: FakeAlgolia):
    algolia.answers = [(400, b'{"message":"invalid numericFilters"}')]
    source, sleeps = make()

    (status,) = source.news().status.to_dicts()

    assert status["status"] == "error" and "HTTP 400" in status["message"]
    assert len(algolia.calls) == 1 and sleeps == []
