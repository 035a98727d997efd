"""RSS 2.0 / Atom 1.0 feeds, fetched with ``requests`` and parsed with ``feedparser``.

The feed list is ``warehouse/seeds/feeds.toml`` (or a ``--feeds FILE``; read by
``warehouse.news_load.read_news_seeds``). An entry is an http(s) URL or a local file path, so
a recorded feed replays offline.

How a feed is read, and why this way:

* Bytes are fetched here (``requests.Session.get``, streamed, with a connect/read timeout, a
  total deadline and a size cap), never by feedparser: feedparser's own fetching has no
  timeout, no size cap and reports HTTP failures as a "bozo" flag, and one place doing HTTP is
  one place to fake in tests. ``feedparser.parse`` then gets the bytes and the response's
  Content-Type, so it can find the encoding (a Latin-1 feed with no XML declaration, a GB2312
  one) as it would have.
* Retries (``sources.retry``) on what may pass: timeouts, dropped connections, HTTP 429 and
  5xx. Not on what will not: HTTP 404/410 ("gone"), other 4xx, a body over the size cap, a
  feed slower than its total deadline, a file that does not exist.
* Outcome per feed (``NEWS_FETCH_STATUS``, channel ``feed:<name>``): 'ok' with its items
  (the message notes a parse warning such as an encoding override); 'empty' for a valid feed
  with no items; 'error' with the reason (malformed XML, timeout, HTTP status, too large,
  too slow, not found). A failing feed never stops the others.

No validity rules live here: items are reshaped, never judged. Every item is kept (feeds
hold recent items only; the transforms date and window them), with its date text as on the
wire and feedparser's reading of it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote_plus

import feedparser
import requests

from sources.news_base import (
    NewsResult,
    describe,
    news_frame,
    news_status_frame,
    status_row,
    utc_now,
)
from sources.retry import RetryPolicy

log = logging.getLogger(__name__)

SOURCE = "feed"
USER_AGENT = "Aftershock/0.1 (+news research ETL; feedparser)"
#: A feed larger than this is refused (real feeds are well under 1 MiB).
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


class FeedHTTPError(RuntimeError):
    """The server answered an HTTP error status."""

    def __init__(self, status: int, url: str):
        meaning = {404: "not found (gone)", 410: "gone"}.get(status, "")
        super().__init__(f"HTTP {status}{' ' + meaning if meaning else ''} for {url}")
        self.status = status


class FeedServerError(FeedHTTPError):
    """HTTP 429 or 5xx: worth another attempt."""


class FeedTooLarge(ValueError):
    """The body is over the size cap."""


class FeedTooSlow(TimeoutError):
    """The body did not arrive within the feed's total deadline (not retried)."""


#: Failures worth another attempt.
RETRYABLE: tuple[type[BaseException], ...] = (
    FeedServerError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class FeedSpec:
    """One feed: a name, where it is (URL or file path) and what it is."""

    name: str
    url: str
    kind: str = "other"
    lab: str | None = None
    timeout: float | None = None
    max_bytes: int | None = None

    @classmethod
    def from_dict(cls, entry: dict) -> FeedSpec:
        return cls(
            name=str(entry["name"]), url=str(entry["url"]), kind=str(entry.get("kind", "other")),
            lab=entry.get("lab"), timeout=entry.get("timeout"), max_bytes=entry.get("max_bytes"),
        )

    @property
    def is_remote(self) -> bool:
        return self.url.startswith(("http://", "https://"))

    @property
    def channel(self) -> str:
        return f"{SOURCE}:{self.name}"


def search_feeds(template: str | None, terms: Iterable[str]) -> list[FeedSpec]:
    """One search feed per term from a URL template holding ``{query}``."""
    if not template:
        return []
    return [
        FeedSpec(name=f"search:{term}", url=template.format(query=quote_plus(term)),
                 kind="search")
        for term in dict.fromkeys(terms)
    ]


class FeedSource:
    """``NewsSource`` over a list of RSS/Atom feeds, with retries and per-feed status."""

    name = SOURCE

    def __init__(
        self,
        feeds: Sequence[FeedSpec],
        *,
        session: requests.Session | None = None,
        timeout: float = 20.0,
        total_timeout: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        attempts: int = 3,
        base_delay: float = 2.0,
        max_delay: float = 20.0,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if attempts < 1 or timeout <= 0 or total_timeout <= 0 or max_bytes <= 0:
            raise ValueError("attempts, timeouts and max_bytes must be positive")
        self.feeds = list(feeds)
        self.session = session or requests.Session()
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.retry = RetryPolicy(attempts=attempts, base_delay=base_delay, max_delay=max_delay,
                                 sleep=sleep, rng=rng)
        self._clock = clock
        self._monotonic = monotonic

    # -- NewsSource ------------------------------------------------------------------------

    def news(self, start: datetime | None = None, end: datetime | None = None) -> NewsResult:
        """Every item of every feed (the window is not applied: see the module docstring)."""
        rows: list[dict] = []
        statuses: list[dict] = []
        for spec in self.feeds:
            items, status = self.read(spec)
            rows += items
            statuses.append(status)
        return NewsResult(frame=news_frame(rows, SOURCE), status=news_status_frame(statuses))

    def read(self, spec: FeedSpec) -> tuple[list[dict], dict]:
        """(item rows, status row) of one feed; never raises for a feed's own failure."""
        try:
            body, headers = self._fetch(spec)
        except RETRYABLE as exc:
            return [], self._status(spec, "error", 0, self.retry.gave_up(exc))
        except (FeedHTTPError, FeedTooLarge, FeedTooSlow, OSError) as exc:
            return [], self._status(spec, "error", 0, describe(exc))
        except requests.exceptions.RequestException as exc:  # invalid URL, too many redirects
            return [], self._status(spec, "error", 0, describe(exc))
        fetched_at = self._clock()
        try:
            parsed = feedparser.parse(body, response_headers=headers)
        except Exception as exc:  # feedparser rarely raises; a bug in it must not stop the run
            return [], self._status(spec, "error", 0, f"feedparser failed: {describe(exc)}")
        warning = describe(parsed.bozo_exception) if parsed.get("bozo") else ""
        entries = parsed.get("entries") or []
        if not entries:
            if parsed.get("bozo") and not parsed.get("version"):
                return [], self._status(spec, "error", 0, f"malformed feed: {warning}")
            if not parsed.get("version"):  # e.g. an HTML error page served as 200 text/xml
                kind = "an empty body" if not body.strip() else "neither RSS nor Atom"
                return [], self._status(spec, "error", 0, f"not a feed: {kind}")
            note = "feed has no items" + (f" ({warning})" if warning else "")
            return [], self._status(spec, "empty", 0, note)
        publisher = (parsed.get("feed") or {}).get("title") or spec.name
        rows = [_item(spec, entry, publisher, fetched_at) for entry in entries]
        message = f"parsed with a warning: {warning}" if warning else ""
        if parsed.get("encoding") and parsed["encoding"].lower() not in ("utf-8", "us-ascii"):
            message = "; ".join(m for m in (message, f"encoding {parsed['encoding']}") if m)
        return rows, self._status(spec, "ok", len(rows), message)

    # -- internals -------------------------------------------------------------------------

    def _status(self, spec: FeedSpec, status: str, rows: int, message: str) -> dict:
        if status == "error":
            log.warning("feed %s: %s", spec.name, message)
        return status_row(SOURCE, spec.channel, status, rows, message)

    def _fetch(self, spec: FeedSpec) -> tuple[bytes, dict]:
        limit = spec.max_bytes or self.max_bytes
        if not spec.is_remote:
            path = Path(spec.url)
            if not path.is_file():
                raise FileNotFoundError(f"feed file {path} not found")
            if path.stat().st_size > limit:
                raise FeedTooLarge(f"{path.stat().st_size} bytes, over the {limit}-byte limit")
            return path.read_bytes(), {}
        return self.retry(lambda: self._get(spec, limit), retry_on=RETRYABLE,
                          what=f"feed {spec.name}", logger=log)

    def _get(self, spec: FeedSpec, limit: int) -> tuple[bytes, dict]:
        timeout = spec.timeout or self.timeout
        deadline = self._monotonic() + max(timeout, self.total_timeout)
        response = self.session.get(
            spec.url, timeout=timeout, stream=True,
            headers={"User-Agent": USER_AGENT,
                     "Accept": "application/rss+xml, application/atom+xml, application/xml, "
                               "text/xml;q=0.9, */*;q=0.8"},
        )
        try:
            status = response.status_code
            if status == 429 or status >= 500:
                raise FeedServerError(status, spec.url)
            if status >= 400:
                raise FeedHTTPError(status, spec.url)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise FeedTooLarge(f"Content-Length {declared} is over the {limit}-byte limit")
            chunks, size = [], 0
            for chunk in response.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise FeedTooLarge(f"body over the {limit}-byte limit; not parsed")
                if self._monotonic() > deadline:
                    raise FeedTooSlow(
                        f"body not complete after {max(timeout, self.total_timeout):.0f}s "
                        f"({size} bytes read)"
                    )
                chunks.append(chunk)
            # feedparser looks headers up in lower case (content-type: media type and charset)
            return b"".join(chunks), {k.lower(): v for k, v in response.headers.items()}
        finally:
            response.close()


def _parsed_time(text: str | None) -> datetime | None:
    """The instant the feed's own date text states, read by the two standards feeds use
    (RFC 822 for RSS, ISO 8601 / W3C-DTF for Atom); None for anything else. Never
    feedparser's ``*_parsed`` guess: for a text it cannot read (e.g. "2020/1/10 14:33:00")
    that guess depends on the day the pipeline runs. Other layouts are read in core from
    ``published_raw`` (transforms.news.parse_wire_time)."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:  # a date with no zone is not an instant: core decides
        return None
    return parsed.astimezone(UTC)


def _item(spec: FeedSpec, entry: dict, publisher: str, fetched_at: datetime) -> dict:
    content = entry.get("content") or []
    summary = entry.get("summary") or (content[0].get("value") if content else None)
    link = entry.get("link")
    item_id = entry.get("id")
    if not link and isinstance(item_id, str) and item_id.startswith(("http://", "https://")):
        link = item_id
    carried_by = (entry.get("source") or {}).get("title")  # Google News: the real publisher
    published_raw = (dict.get(entry, "published") or dict.get(entry, "updated")
                     or dict.get(entry, "created"))
    return {
        "source": SOURCE,
        "channel": spec.channel,
        "item_id": item_id,
        "title": entry.get("title"),
        "summary": summary,
        "url": link,
        "publisher": carried_by or publisher,
        "published_raw": published_raw,
        "published_at": _parsed_time(published_raw),
        "related_tickers": [],
        "fetched_at": fetched_at,
    }
