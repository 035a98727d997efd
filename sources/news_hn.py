"""Hacker News stories from the Algolia search API: the history source.

yfinance and RSS feeds only hold recent items; HN's Algolia index holds every story since
2007, searchable by text and time, so attention around past events can be backfilled.

One request per query and page::

    GET https://hn.algolia.com/api/v1/search_by_date
        ?query=<text>&tags=story&numericFilters=created_at_i>=<start>,created_at_i<=<end>
        &hitsPerPage=<n>&page=<p>

answers ``{"hits": [{"objectID", "title", "url", "author", "points", "num_comments",
"created_at", "created_at_i", "story_text"?}], "nbHits", "page", "nbPages", "hitsPerPage"}``.
Pages are followed up to ``max_pages``; a truncated query says so in its status.

A story without a ``url`` (Ask HN, text posts) gets its HN page
``https://news.ycombinator.com/item?id=<objectID>``; its publisher is "Hacker News".
Fetched with ``requests`` (timeout, ``sources.retry`` on timeouts, dropped connections, 429
and 5xx); one status row per query (channel ``hn:<query>``), and a failing query never stops
the others.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import requests

from sources.news_base import (
    NewsQuery,
    NewsResult,
    describe,
    from_epoch,
    news_frame,
    news_status_frame,
    status_row,
    utc_now,
)
from sources.retry import RetryPolicy

log = logging.getLogger(__name__)

SOURCE = "hn"
ENDPOINT = "https://hn.algolia.com/api/v1/search_by_date"
ITEM_URL = "https://news.ycombinator.com/item?id="


class AlgoliaError(RuntimeError):
    """The API answered an error status."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:200] or '(empty body)'}")
        self.status = status


class AlgoliaRetryable(AlgoliaError):
    """HTTP 429 or 5xx."""


RETRYABLE: tuple[type[BaseException], ...] = (
    AlgoliaRetryable,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
)


class HackerNewsSource:
    """``NewsSource`` over HN stories matching each query in its own time window.

    ``news(start, end)`` clips every query's window to [start, end]."""

    name = SOURCE

    def __init__(
        self,
        queries: Sequence[NewsQuery],
        *,
        session: requests.Session | None = None,
        hits_per_page: int = 100,
        max_pages: int = 5,
        timeout: float = 20.0,
        attempts: int = 3,
        base_delay: float = 2.0,
        max_delay: float = 30.0,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        if hits_per_page < 1 or max_pages < 1 or attempts < 1:
            raise ValueError("hits_per_page, max_pages and attempts must be >= 1")
        self.queries = list(queries)
        self.session = session or requests.Session()
        self.hits_per_page = hits_per_page
        self.max_pages = max_pages
        self.timeout = timeout
        self.retry = RetryPolicy(attempts=attempts, base_delay=base_delay, max_delay=max_delay,
                                 sleep=sleep, rng=rng)
        self._clock = clock

    def news(self, start: datetime | None = None, end: datetime | None = None) -> NewsResult:
        rows: list[dict] = []
        statuses: list[dict] = []
        for query in self.queries:
            q_start = max(query.start, start) if start else query.start
            q_end = min(query.end, end) if end else query.end
            channel = f"{SOURCE}:{query.text}"
            if q_start > q_end:
                statuses.append(status_row(SOURCE, channel, "empty", 0, "window outside the run"))
                continue
            items, status = self._query(query.text, q_start, q_end, channel)
            rows += items
            statuses.append(status)
        return NewsResult(frame=news_frame(rows, SOURCE), status=news_status_frame(statuses))

    def _query(self, text: str, start: datetime, end: datetime, channel: str):
        rows: list[dict] = []
        window = f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"
        page, pages = 0, 1
        while page < min(pages, self.max_pages):
            params = {
                "query": text,
                "tags": "story",
                "numericFilters": f"created_at_i>={int(start.timestamp())},"
                                  f"created_at_i<={int(end.timestamp())}",
                "hitsPerPage": self.hits_per_page,
                "page": page,
            }
            try:
                body = self.retry(lambda p=params: self._get(p), retry_on=RETRYABLE,
                                  what=f"hn {text!r}", logger=log)
                hits = body["hits"]
                pages = int(body.get("nbPages", 1))
            except RETRYABLE as exc:
                return rows, self._failed(channel, rows, page, self.retry.gave_up(exc))
            except (AlgoliaError, ValueError, KeyError, TypeError,
                    requests.exceptions.RequestException) as exc:
                return rows, self._failed(channel, rows, page, describe(exc))
            fetched_at = self._clock()
            rows += [_item(hit, channel, fetched_at) for hit in hits if isinstance(hit, dict)]
            page += 1
        note = f"{window}"
        if pages > self.max_pages:
            note += f"; truncated: read {self.max_pages} of {pages} pages"
        return rows, status_row(SOURCE, channel, "ok" if rows else "empty", len(rows), note)

    def _failed(self, channel: str, rows: list, page: int, reason: str) -> dict:
        kept = f"; kept {len(rows)} item(s) of the {page} page(s) read" if rows else ""
        return status_row(SOURCE, channel, "error", len(rows), reason + kept)

    def _get(self, params: dict) -> dict:
        response = self.session.get(ENDPOINT, params=params, timeout=self.timeout)
        if response.status_code == 429 or response.status_code >= 500:
            raise AlgoliaRetryable(response.status_code, response.text)
        if response.status_code >= 400:
            raise AlgoliaError(response.status_code, response.text)
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("hits"), list):
            raise ValueError("Algolia answer has no 'hits' list")
        return body


def _item(hit: dict, channel: str, fetched_at: datetime) -> dict:
    object_id = str(hit.get("objectID")) if hit.get("objectID") is not None else None
    url = hit.get("url") or (ITEM_URL + object_id if object_id else None)
    return {
        "source": SOURCE,
        "channel": channel,
        "item_id": object_id,
        "title": hit.get("title"),
        "summary": hit.get("story_text"),
        "url": url,
        "publisher": "Hacker News",
        "published_raw": hit.get("created_at"),
        "published_at": from_epoch(hit.get("created_at_i")),
        "related_tickers": [],
        "fetched_at": fetched_at,
    }
