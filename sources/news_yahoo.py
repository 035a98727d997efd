"""News from Yahoo Finance through yfinance (>= 1.7), shaped into ``RAW_NEWS``.

Two endpoints, two wire shapes:

* ``yf.Ticker(t).get_news(count, tab="news")`` POSTs to ``finance.yahoo.com/xhr/ncp`` and
  returns the stream's items in the **nested** shape: ``{"id", "content": {"title",
  "summary", "description" (HTML), "pubDate" (ISO 8601 Z), "provider": {"displayName"},
  "canonicalUrl": {"url"}, "clickThroughUrl": {"url"} | null, "previewUrl",
  "finance": {"stockTickers": [{"symbol"}]}?}}``. The stream is the ticker's page, which is
  mostly general market news (of 50 items for NVDA, 13 name Nvidia), so the queried ticker is
  *not* attached to its items: tagging is the transforms' job. Channel ``ticker:<T>``.
* ``yf.Search(query).news`` GETs ``query2.finance.yahoo.com/v1/finance/search`` and returns
  the **flat** shape: ``{"uuid", "title", "publisher", "link", "providerPublishTime" (epoch
  seconds), "type", "relatedTickers"?}``. Yahoo's own ``relatedTickers`` are kept.
  Channel ``search:<query>``.

As in ``sources.yahoo``: yfinance is given a curl_cffi session (its documented ``session=``
hook) that turns these endpoints' HTTP 429 into ``YFRateLimitError`` and 5xx into
``YahooServerError``, both retried with backoff by ``sources.retry`` (yfinance's own retries
are switched off during a call); yfinance is made to raise rather than log. A channel whose
retries run out, or that fails otherwise, is reported 'error' and the others go on.
Items published outside [start, end] are dropped here (an undated item is kept).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import urlsplit

import yfinance as yf
from curl_cffi import requests as curl_requests
from yfinance.exceptions import YFRateLimitError

from sources.news_base import (
    NewsResult,
    describe,
    from_epoch,
    from_iso,
    in_window,
    news_frame,
    news_status_frame,
    status_row,
    utc_now,
)
from sources.retry import RetryPolicy
from sources.yahoo import RETRYABLE, YahooServerError, _yfinance_raises

log = logging.getLogger(__name__)

SOURCE = "yahoo"
_NEWS_PATHS = ("/xhr/ncp", "/v1/finance/search")


class _NewsStatusSession(curl_requests.Session):
    """A curl_cffi session whose news-endpoint answers raise on 429 and 5xx."""

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        path = urlsplit(str(url)).path
        if any(path.endswith(p) for p in _NEWS_PATHS):
            status = response.status_code
            if status == 429:
                raise YFRateLimitError()
            if status >= 500:
                body = (response.text or "").strip()[:200] or "(empty body)"
                raise YahooServerError(status, path, body)
        return response


class YahooNewsSource:
    """``NewsSource`` over Yahoo Finance news: per-ticker streams and per-query searches."""

    name = SOURCE

    def __init__(
        self,
        tickers: Sequence[str] = (),
        queries: Sequence[str] = (),
        *,
        count: int = 50,
        search_count: int = 20,
        attempts: int = 3,
        base_delay: float = 2.0,
        max_delay: float = 30.0,
        timeout: float = 20.0,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        if isinstance(tickers, str) or isinstance(queries, str):
            raise TypeError("tickers and queries must be sequences, not one string")
        self.tickers = list(dict.fromkeys(tickers))
        self.queries = list(dict.fromkeys(queries))
        self.count = count
        self.search_count = search_count
        self.timeout = timeout
        self.retry = RetryPolicy(attempts=attempts, base_delay=base_delay, max_delay=max_delay,
                                 sleep=sleep, rng=rng)
        self._clock = clock
        self._session: _NewsStatusSession | None = None

    def news(self, start: datetime, end: datetime) -> NewsResult:
        rows: list[dict] = []
        statuses: list[dict] = []
        with _yfinance_raises():
            for ticker in self.tickers:
                self._channel(f"ticker:{ticker}", lambda t=ticker: self._ticker_news(t),
                              _nested_item, start, end, rows, statuses)
            for query in self.queries:
                self._channel(f"search:{query}", lambda q=query: self._search_news(q),
                              _flat_item, start, end, rows, statuses)
        return NewsResult(frame=news_frame(rows, SOURCE), status=news_status_frame(statuses))

    # -- internals -------------------------------------------------------------------------

    def _channel(self, channel, fetch, reshape, start, end, rows, statuses) -> None:
        try:
            items = self.retry(fetch, retry_on=RETRYABLE, what=f"yahoo news {channel}",
                               logger=log)
        except RETRYABLE as exc:
            message = self.retry.gave_up(exc)
            statuses.append(status_row(SOURCE, channel, "error", 0, message))
            return
        except Exception as exc:  # anything else from yfinance: report, go on
            statuses.append(status_row(SOURCE, channel, "error", 0, describe(exc)))
            return
        if not isinstance(items, list):
            statuses.append(status_row(SOURCE, channel, "error", 0,
                                       f"unexpected news payload {type(items).__name__}"))
            return
        fetched_at = self._clock()
        shaped = [reshape(item, channel, fetched_at) for item in items if isinstance(item, dict)]
        kept = [r for r in shaped if r is not None and in_window(r["published_at"], start, end)]
        left_out = len(items) - len(kept)
        note = f"{left_out} item(s) outside the window or not news" if left_out else ""
        statuses.append(status_row(SOURCE, channel, "ok" if kept else "empty", len(kept), note))
        rows.extend(kept)

    def _session_(self) -> _NewsStatusSession:
        if self._session is None:
            self._session = _NewsStatusSession(impersonate="chrome")
        return self._session

    def _ticker_news(self, ticker: str) -> list:
        return yf.Ticker(ticker, session=self._session_()).get_news(count=self.count, tab="news")

    def _search_news(self, query: str) -> list:
        return yf.Search(
            query, max_results=0, news_count=self.search_count, lists_count=0,
            include_cb=False, recommended=0, session=self._session_(), timeout=self.timeout,
        ).news


def _url(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("url")
    return value if isinstance(value, str) and value.strip() else None


def _nested_item(item: dict, channel: str, fetched_at: datetime) -> dict | None:
    """An item of ``Ticker.get_news`` (the nested ``content`` shape) as a RAW_NEWS row."""
    content = item.get("content")
    if not isinstance(content, dict):
        return None
    provider = content.get("provider") or {}
    tickers = (content.get("finance") or {}).get("stockTickers") or []
    pub = content.get("pubDate") or content.get("displayTime") or None
    return {
        "source": SOURCE,
        "channel": channel,
        "item_id": item.get("id") or content.get("id"),
        "title": content.get("title"),
        "summary": content.get("summary") or content.get("description") or None,
        # the publisher's own page first; Yahoo's copy when it has none (WSJ items)
        "url": _url(content.get("canonicalUrl")) or _url(content.get("clickThroughUrl"))
        or _url(content.get("previewUrl")),
        "publisher": provider.get("displayName") if isinstance(provider, dict) else None,
        "published_raw": pub,
        "published_at": from_iso(pub),
        "related_tickers": [t["symbol"] for t in tickers
                            if isinstance(t, dict) and isinstance(t.get("symbol"), str)],
        "fetched_at": fetched_at,
    }


def _flat_item(item: dict, channel: str, fetched_at: datetime) -> dict | None:
    """An item of ``Search(...).news`` (the flat shape) as a RAW_NEWS row."""
    stamp = item.get("providerPublishTime")
    related = item.get("relatedTickers") or []
    return {
        "source": SOURCE,
        "channel": channel,
        "item_id": item.get("uuid"),
        "title": item.get("title"),
        "summary": None,
        "url": _url(item.get("link")),
        "publisher": item.get("publisher"),
        "published_raw": None if stamp is None else str(stamp),
        "published_at": from_epoch(stamp),
        "related_tickers": [t for t in related if isinstance(t, str)],
        "fetched_at": fetched_at,
    }
