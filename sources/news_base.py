"""The small protocol every news source implements, its result type, and shared helpers.

A news source is configured when it is built (tickers, queries, feeds, events) and asked for
one time window: ``news(start, end)`` returns every item it can see published in that window
(sources that cannot filter by time, such as RSS feeds and yfinance, return what they hold and
the transforms keep what matters) plus one status row per channel. A channel that fails is
reported, never raised: only a source that cannot run at all raises ``SourceError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import polars as pl

from contracts import conform, empty
from contracts.news import NEWS_FETCH_STATUS, RAW_NEWS
from sources.retry import describe  # noqa: F401 - the news sources describe errors with it


@dataclass(frozen=True)
class NewsResult:
    """Rows fetched (``contracts.news.RAW_NEWS``) and one status row per channel."""

    frame: pl.DataFrame
    status: pl.DataFrame

    @staticmethod
    def combine(results: list[NewsResult]) -> NewsResult:
        """Concatenate several results (e.g. of several sources) into one."""
        frames = [r.frame for r in results if r.frame.height]
        statuses = [r.status for r in results if r.status.height]
        return NewsResult(
            frame=pl.concat(frames) if frames else empty(RAW_NEWS),
            status=pl.concat(statuses) if statuses else empty(NEWS_FETCH_STATUS),
        )


@dataclass(frozen=True)
class NewsQuery:
    """One search: the text, and the UTC window of publication times wanted."""

    text: str
    start: datetime
    end: datetime


class NewsSource(Protocol):
    """Fetches news items published in [start, end] (UTC) from its configured channels."""

    name: str

    def news(self, start: datetime, end: datetime) -> NewsResult: ...


def news_frame(rows: list[dict], source: str) -> pl.DataFrame:
    """Build a RAW_NEWS frame from plain dicts (missing keys become null)."""
    if not rows:
        return empty(RAW_NEWS)
    frame = pl.DataFrame(
        [{c: row.get(c) for c in RAW_NEWS} for row in rows], schema=RAW_NEWS, strict=False
    )
    return conform(frame, RAW_NEWS, source)


def status_row(source: str, channel: str, status: str, rows: int, message: str = "") -> dict:
    """One NEWS_FETCH_STATUS row as a dict."""
    return {"source": source, "channel": channel, "status": status, "rows": rows,
            "message": message}


def news_status_frame(rows: list[dict]) -> pl.DataFrame:
    """Build a NEWS_FETCH_STATUS frame from plain dicts (one per channel)."""
    return pl.DataFrame(rows, schema=NEWS_FETCH_STATUS)


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_epoch(seconds: object) -> datetime | None:
    """Epoch seconds (int, float or numeric string) as an aware UTC datetime, else None."""
    try:
        return datetime.fromtimestamp(float(seconds), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def from_iso(text: object) -> datetime | None:
    """An ISO-8601 timestamp with a zone ('Z' or offset) as aware UTC, else None."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def in_window(published: datetime | None, start: datetime, end: datetime) -> bool:
    """True when ``published`` is unknown (kept: the transforms date it) or in [start, end]."""
    return published is None or start <= published <= end
