"""Is the data current? Pure judgements over the warehouse's watermarks (`aftershock status`).

``freshness``: per dataset and venue, the newest loaded session against the one the exchange
calendar expects, with the items lagging behind. ``news_freshness``: per news source, whether a
run fetched it successfully recently enough. The instants and expected sessions come from the
caller (flows/status.py); nothing here reads a clock or a warehouse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

#: A news source is fresh when a run fetched it successfully within this before the due time.
NEWS_MAX_AGE = timedelta(hours=24)

NEWS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "last_ok": pl.Datetime("us", "UTC"),
    "last_attempt": pl.Datetime("us", "UTC"),
    "channels": pl.Int64(),
    "channels_failed": pl.Int64(),
    "failed_channels": pl.String(),
    "newest_story": pl.Datetime("us", "UTC"),
    "state": pl.String(),
}

FRESHNESS_SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String(),
    "exchange_mic": pl.String(),
    "items": pl.UInt32(),
    "loaded": pl.UInt32(),
    "last_loaded": pl.Date(),
    "expected": pl.Date(),
    "sessions_behind": pl.Int64(),
    "lagging": pl.UInt32(),
    "lagging_items": pl.String(),
    "state": pl.String(),
}


def freshness(marks: pl.DataFrame, expected: pl.DataFrame,
              sessions: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per dataset and venue: items, how many have data, the newest loaded session, the
    expected one, how many sessions behind, lagging items, and ``fresh`` / ``stale`` /
    ``no data``. Pure: ``marks`` is :func:`warehouse.status.watermarks`, ``expected`` is
    ``flows.status.expected_sessions``, ``sessions`` (optional) counts the sessions behind."""
    if marks.height == 0:
        return pl.DataFrame(schema=FRESHNESS_SCHEMA)
    venue = (
        marks.join(expected, on="exchange_mic", how="left")
        .group_by("dataset", "exchange_mic")
        .agg(
            pl.len().cast(pl.UInt32).alias("items"),
            pl.col("last_session").is_not_null().sum().cast(pl.UInt32).alias("loaded"),
            pl.col("last_session").max().alias("last_loaded"),
            pl.col("expected").first(),
            pl.col("item")
            .filter(pl.col("last_session").is_null()
                    | (pl.col("last_session") < pl.col("expected")))
            .sort()
            .alias("_lagging"),
        )
    )
    if sessions is not None and sessions.height:
        behind = (
            venue.select("dataset", "exchange_mic", "last_loaded", "expected")
            .join(sessions.select("exchange_mic", "session_date"), on="exchange_mic")
            .filter(
                (pl.col("session_date") <= pl.col("expected"))
                & (pl.col("last_loaded").is_null()
                   | (pl.col("session_date") > pl.col("last_loaded")))
            )
            .group_by("dataset", "exchange_mic")
            .agg(pl.len().cast(pl.Int64).alias("sessions_behind"))
        )
        venue = venue.join(behind, on=["dataset", "exchange_mic"], how="left").with_columns(
            pl.col("sessions_behind").fill_null(0)
        )
    else:
        venue = venue.with_columns(sessions_behind=pl.lit(None, pl.Int64))
    state = (
        pl.when(pl.col("last_loaded").is_null()).then(pl.lit("no data"))
        .when(pl.col("expected").is_null() | (pl.col("last_loaded") >= pl.col("expected")))
        .then(pl.lit("fresh"))
        .otherwise(pl.lit("stale"))
    )
    return (
        venue.with_columns(
            lagging=pl.col("_lagging").list.len().cast(pl.UInt32),
            lagging_items=pl.col("_lagging").list.head(8).list.join(", ")
            + pl.when(pl.col("_lagging").list.len() > 8).then(pl.lit(", …")).otherwise(pl.lit("")),
            state=state,
        )
        .select(list(FRESHNESS_SCHEMA))
        .cast(FRESHNESS_SCHEMA)  # type: ignore[arg-type]
        .sort("dataset", "exchange_mic")
    )


def news_freshness(fetches: pl.DataFrame, due: datetime,
                   max_age: timedelta = NEWS_MAX_AGE) -> pl.DataFrame:
    """Per news source: ``fresh`` when its last successful fetch is at most ``max_age`` older
    than ``due``, else ``stale``. Pure: ``fetches`` is :func:`warehouse.status.news_fetches`."""
    if fetches.height == 0:
        return pl.DataFrame(schema=NEWS_SCHEMA)
    instants = ("last_ok", "last_attempt", "newest_story")
    frame = fetches.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.cast_time_unit("us") for c in instants
    )
    fresh = pl.col("last_ok").is_not_null() & (pl.col("last_ok") >= due.astimezone(UTC) - max_age)
    return (
        frame.with_columns(state=pl.when(fresh).then(pl.lit("fresh")).otherwise(pl.lit("stale")))
        .select(list(NEWS_SCHEMA))
        .cast(NEWS_SCHEMA)  # type: ignore[arg-type]
        .sort("source")
    )
