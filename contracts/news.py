"""Data contracts for news: what each news arrow carries (see ``contracts`` for prices).

The path of a story: a source delivers ``RAW_NEWS`` rows (one per item per channel, text as
fetched) and one ``NEWS_FETCH_STATUS`` row per channel (feed, ticker, query); the transforms
clean them into ``CLEAN_NEWS`` (one row per raw row), deduplicate them into ``CORE_NEWS`` (one
row per story) plus ``NEWS_SOURCE`` (one row per story and channel that carried it), tag
entities into ``NEWS_ENTITY`` and build the marts ``NEWS_ATTENTION`` and ``TICKER_NEWS_DAILY``.
Every timestamp is UTC.
"""

from __future__ import annotations

import polars as pl

_UTC = pl.Datetime("us", "UTC")

#: News as a source delivers it: one row per item per channel, text exactly as fetched (it may
#: hold HTML, entities, tracking parameters). ``source`` is the adapter (yahoo, feed, hn, demo);
#: ``channel`` what it was asked (``ticker:NVDA``, ``search:DeepSeek``, ``feed:<name>``,
#: ``hn:<query>``, ``demo:<wire>``). ``published_raw`` is the date text as on the wire;
#: ``published_at`` the source library's own reading of it (null when it could not read it).
#: ``related_tickers`` are symbols the source itself attached to the item (yfinance only).
RAW_NEWS: dict[str, pl.DataType] = {
    "source": pl.String(),
    "channel": pl.String(),
    "item_id": pl.String(),
    "title": pl.String(),
    "summary": pl.String(),
    "url": pl.String(),
    "publisher": pl.String(),
    "published_raw": pl.String(),
    "published_at": _UTC,
    "related_tickers": pl.List(pl.String()),
    "fetched_at": _UTC,
}

#: Per-channel outcome of a news extract (audit.news_fetch_status): status is 'ok', 'empty' or
#: 'error'; ``message`` says why (timeout, HTTP 404, malformed XML, too large, ...).
NEWS_FETCH_STATUS: dict[str, pl.DataType] = {
    "source": pl.String(),
    "channel": pl.String(),
    "status": pl.String(),
    "rows": pl.Int64(),
    "message": pl.String(),
}

#: RAW_NEWS cleaned, one row per raw row: HTML stripped and entities decoded in ``title`` and
#: ``summary``; ``canonical_url`` without tracking parameters or fragment (null when ``url`` is
#: not an http(s) URL); ``news_id`` = sha256 of the canonical URL (first 32 hex digits);
#: ``published_at`` in UTC; ``published_from`` says where it came from ('wire': the date text,
#: 'library': the source library's parse, 'fetched_at': no date, so the fetch time);
#: ``published_estimated`` is true for 'fetched_at'; ``tz_assumed`` is true when the date text
#: had no time zone and was read as UTC; ``title_key`` is the normalised title used to match
#: the same story across sources (null when too short to be distinctive).
CLEAN_NEWS: dict[str, pl.DataType] = {
    "news_id": pl.String(),
    "canonical_url": pl.String(),
    "url": pl.String(),
    "source": pl.String(),
    "channel": pl.String(),
    "item_id": pl.String(),
    "title": pl.String(),
    "summary": pl.String(),
    "publisher": pl.String(),
    "published_at": _UTC,
    "published_from": pl.String(),
    "published_estimated": pl.Boolean(),
    "tz_assumed": pl.Boolean(),
    "title_key": pl.String(),
    "related_tickers": pl.List(pl.String()),
    "fetched_at": _UTC,
}

#: One row per story (core.fact_news before load-time bookkeeping): the earliest-published
#: copy's text and time; ``sources`` the distinct sources that carried it in this batch.
CORE_NEWS: dict[str, pl.DataType] = {
    "news_id": pl.String(),
    "canonical_url": pl.String(),
    "url": pl.String(),
    "title": pl.String(),
    "summary": pl.String(),
    "publisher": pl.String(),
    "published_at": _UTC,
    "published_from": pl.String(),
    "published_estimated": pl.Boolean(),
    "tz_assumed": pl.Boolean(),
    "source": pl.String(),  # source of the copy kept (the earliest published)
    "sources": pl.List(pl.String()),
    "n_channels": pl.Int64(),
    "related_tickers": pl.List(pl.String()),  # union over the story's copies (for tagging)
    "fetched_at": _UTC,
}

#: One row per (story, source, channel) that carried it (core.news_source).
NEWS_SOURCE: dict[str, pl.DataType] = {
    "news_id": pl.String(),
    "source": pl.String(),
    "channel": pl.String(),
    "canonical_url": pl.String(),
    "url": pl.String(),
    "item_id": pl.String(),
    "published_at": _UTC,
    "fetched_at": _UTC,
}

#: One row per (story, entity) a story names (core.bridge_news_entity). ``entity_type`` is
#: 'ticker' (entity_id = a universe ticker), 'lab' (the catalog's lab name) or 'model'
#: (entity_id = the catalog event_id that released it). ``method`` is how it was found:
#: 'source' (the source attached the ticker), 'cashtag' ($NVDA), 'symbol' (bare NVDA) or
#: 'alias' (a name or alias); ``mentions`` counts matches in title and summary.
NEWS_ENTITY: dict[str, pl.DataType] = {
    "news_id": pl.String(),
    "entity_type": pl.String(),
    "entity_id": pl.String(),
    "matched": pl.String(),
    "method": pl.String(),
    "in_title": pl.Boolean(),
    "mentions": pl.Int64(),
}

#: The alias table entity tagging matches against (built from the seeds).
ENTITY_ALIASES: dict[str, pl.DataType] = {
    "entity_type": pl.String(),
    "entity_id": pl.String(),
    "alias": pl.String(),
    "case_sensitive": pl.Boolean(),
}

#: marts.news_attention: one row per (event_id, rel_day), rel_day -10..+20 sessions of the
#: reference venue (XNYS by default). See warehouse/news_marts.sql for each column's meaning.
NEWS_ATTENTION: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "rel_day": pl.Int32(),
    "session_date": pl.Date(),
    "exchange_mic": pl.String(),
    "stories_total": pl.Int64(),
    "stories_event": pl.Int64(),
    "stories_model": pl.Int64(),
    "mean_sentiment": pl.Float64(),
    "top_headlines": pl.List(pl.String()),
    "news_sources": pl.List(pl.String()),
    "publishers_event": pl.Int64(),
    "is_attention_day": pl.Boolean(),
    "attention_rel_day": pl.Int32(),
    "attention_date": pl.Date(),
    "attention_stories": pl.Int64(),
    "attention_publishers": pl.Int64(),
    "attention_baseline": pl.Float64(),
    "attention_burst": pl.Float64(),
    "attention_reason": pl.String(),
}

#: marts.ticker_news_daily: one row per (ticker, news_date) with at least one story.
TICKER_NEWS_DAILY: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "news_date": pl.Date(),
    "stories": pl.Int64(),
    "stories_in_title": pl.Int64(),
    "mean_sentiment": pl.Float64(),
    "news_sources": pl.List(pl.String()),
}
