"""The expectation suite for stories (``core.fact_news``).

Input frames follow :data:`contracts.news.CORE_NEWS` plus ``sentiment: Float64``. The suite
is built per run (:func:`news_suite`) because "not in the future" is relative to the run's
clock. Rule names are what a rejected row lists in ``reasons`` (or a good row in
``quality_flags``):

======================== ======== =========================================================
rule                     severity unexpected rows
======================== ======== =========================================================
news_id_null             reject   no news_id (the URL is not an http(s) URL)
url_null                 reject   url is null
url_form                 reject   url is not ``http(s)://host.tld/...`` without whitespace
title_null               reject   no title left after HTML was stripped
title_length             reject   title shorter than 3 or longer than 500 characters
published_at_null        reject   published_at is null
published_in_future      reject   published_at later than the run's clock + FUTURE_TOLERANCE
published_before_1990    reject   published_at before 1990-01-01 (a misread date)
source_null              reject   source is null
duplicate_news_id        reject   every copy of a duplicated news_id
sentiment_null           reject   sentiment is null
sentiment_range          reject   sentiment outside [-1, 1]
published_estimated      warn     no date on the wire: published_at is the fetch time
tz_assumed               warn     the wire's date had no time zone; read as UTC
title_replacement_char   warn     title holds U+FFFD: bytes were not in the declared encoding
======================== ======== =========================================================

GX 1.24 compares a datetime column with a constant unreliably across time zones, so the
suite's ``prepare`` adds ``published_epoch`` (seconds since 1970, UTC) and the time rules
compare that; the rows that load keep their own columns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import great_expectations.expectations as gxe
import polars as pl

from contracts.news import CORE_NEWS
from expectations.runner import (
    Rule,
    Suite,
    ValidationOutcome,
    not_null_rule,
    unique_key_rule,
    validate,
)

__all__ = ["FUTURE_TOLERANCE", "NEWS_COLUMNS", "NEWS_KEY", "news_suite", "validate_news"]

NEWS_KEY: list[str] = ["news_id"]
NEWS_COLUMNS: dict[str, pl.DataType] = {**CORE_NEWS, "sentiment": pl.Float64()}
#: Clocks differ and feeds round up: a story may be dated this far past the run's clock.
FUTURE_TOLERANCE = timedelta(hours=6)
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
TITLE_LENGTH = (3, 500)
URL_FORM = r"^https?://[^\s/?#@]+\.[^\s/?#@]+(?:[/?#]\S*)?$"


def _with_epoch(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(published_epoch=pl.col("published_at").dt.epoch("s"))


def news_suite(now: datetime) -> Suite:
    """The suite for a run whose clock reads ``now`` (UTC)."""
    latest = int((now + FUTURE_TOLERANCE).timestamp())
    return Suite(
        name="core_news",
        dataset="core.fact_news",
        rules=[
            not_null_rule("news_id", "news_id_null"),
            not_null_rule("url", "url_null"),
            Rule("url_form", gxe.ExpectColumnValuesToMatchRegex(column="url", regex=URL_FORM)),
            not_null_rule("title", "title_null"),
            Rule(
                "title_length",
                gxe.ExpectColumnValueLengthsToBeBetween(
                    column="title", min_value=TITLE_LENGTH[0], max_value=TITLE_LENGTH[1]
                ),
            ),
            not_null_rule("published_at", "published_at_null"),
            Rule(
                "published_in_future",
                gxe.ExpectColumnValuesToBeBetween(column="published_epoch", max_value=latest),
            ),
            Rule(
                "published_before_1990",
                gxe.ExpectColumnValuesToBeBetween(
                    column="published_epoch", min_value=int(EARLIEST.timestamp())
                ),
            ),
            not_null_rule("source", "source_null"),
            unique_key_rule(NEWS_KEY, "duplicate_news_id"),
            not_null_rule("sentiment", "sentiment_null"),
            Rule(
                "sentiment_range",
                gxe.ExpectColumnValuesToBeBetween(column="sentiment", min_value=-1, max_value=1),
            ),
            Rule(
                "published_estimated",
                gxe.ExpectColumnValuesToBeInSet(column="published_estimated", value_set=[False]),
                severity="warn",
            ),
            Rule(
                "tz_assumed",
                gxe.ExpectColumnValuesToBeInSet(column="tz_assumed", value_set=[False]),
                severity="warn",
            ),
            Rule(
                "title_replacement_char",
                gxe.ExpectColumnValuesToNotMatchRegex(column="title", regex="\ufffd"),
                severity="warn",
            ),
        ],
        prepare=_with_epoch,
    )


def validate_news(frame: pl.DataFrame, now: datetime | None = None) -> ValidationOutcome:
    """Validate a stories frame (``NEWS_COLUMNS``; extra columns pass through)."""
    return validate(frame, news_suite(now or datetime.now(UTC)), key=NEWS_KEY)
