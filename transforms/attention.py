"""When did the market notice? News attention per event and session (marts.news_attention),
and news per ticker and day (marts.ticker_news_daily). Pure polars.

A story belongs to the first session of the reference venue (XNYS by default) that closes at
or after its publication instant: a story published after Monday's close counts for Tuesday,
one published on Saturday for Monday. ``rel_day`` is that session's offset from the event's
day 0 on the same venue (``core.fact_event_day0``). For each event and rel_day -10..+20:

* ``stories_total``: every story of that session (the news flow as a whole);
* ``stories_event``: stories naming the event's lab or its model (the bridge table);
* ``stories_model``: stories naming the model itself;
* ``mean_sentiment``: mean sentiment of the event's stories (null without any);
* ``top_headlines``: up to three of the event's headlines, most widely carried first
  (channels that carried it), then naming the model, then earliest;
* the **attention day**: the session in [0, +10] with the most event stories (ties: the
  earliest; none when no story names the event in that span). ``is_attention_day`` marks its
  row; ``attention_rel_day``/``attention_date`` repeat it on every row of the event.

DeepSeek-R1 (announced 2025-01-20, a US holiday, so day 0 is Tuesday 2025-01-21) has its
attention day at +4, Monday 2025-01-27, when the app topped the App Store.

The reaction marts measure every event a second time from its attention day
(``anchor = 'attention'``, transforms/reactions.py): ``warehouse.news_load.read_attention``
hands them (event_id, attention_date). Events detected in the news come in with ``events``
and their stories' model tags (``transforms.detection.detected_tags``) like catalog events.
"""

from __future__ import annotations

import polars as pl

from contracts import conform, empty
from contracts.news import NEWS_ATTENTION, TICKER_NEWS_DAILY

WINDOW = (-10, 20)
ATTENTION_SPAN = (0, 10)
TOP_HEADLINES = 3
REFERENCE_MIC = "XNYS"


def story_sessions(news: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """news (news_id, published_at, ...) + session_date, session_idx of the reference venue."""
    grid = sessions.select("session_date", "session_idx", "close_utc").sort("close_utc")
    return (
        news.filter(pl.col("published_at").is_not_null())
        .sort("published_at")
        .join_asof(grid, left_on="published_at", right_on="close_utc", strategy="forward")
        .drop("close_utc")
        .filter(pl.col("session_idx").is_not_null())
    )


def news_attention(
    news: pl.DataFrame,
    entities: pl.DataFrame,
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    day0: pl.DataFrame,
    exchange_mic: str = REFERENCE_MIC,
) -> pl.DataFrame:
    """marts.news_attention (NEWS_ATTENTION) for every event with a day 0 on ``exchange_mic``.

    ``news``: news_id, title, published_at, sentiment, n_channels, source (core.fact_news);
    ``entities``: news_id, entity_type, entity_id (core.bridge_news_entity); ``events``:
    event_id, lab; ``sessions``: the venue's session grid (exchange_mic, session_date,
    session_idx, close_utc); ``day0``: event_id, exchange_mic, day0_idx.
    """
    grid = sessions.filter(pl.col("exchange_mic") == exchange_mic)
    starts = (
        day0.filter(pl.col("exchange_mic") == exchange_mic)
        .select("event_id", "day0_idx")
        .join(events.select("event_id"), on="event_id", how="semi")
    )
    if grid.height == 0 or starts.height == 0:
        return empty(NEWS_ATTENTION)
    offsets = pl.DataFrame({"rel_day": pl.int_range(WINDOW[0], WINDOW[1] + 1, eager=True)})
    frame = (
        starts.join(offsets, how="cross")
        .with_columns(session_idx=pl.col("day0_idx") + pl.col("rel_day"))
        .join(grid.select("session_idx", "session_date"), on="session_idx", how="inner")
    )
    placed = story_sessions(
        news.select("news_id", "title", "published_at", "sentiment", "n_channels", "source"), grid
    )
    totals = placed.group_by("session_idx").agg(stories_total=pl.len().cast(pl.Int64))

    labs = events.select("event_id", entity_type=pl.lit("lab"), entity_id="lab")
    models = events.select("event_id", entity_type=pl.lit("model"), entity_id="event_id")
    names = pl.concat([labs, models])
    naming = (
        entities.select("news_id", "entity_type", "entity_id")
        .join(names, on=["entity_type", "entity_id"], how="inner")
        .group_by("event_id", "news_id")
        .agg(names_model=(pl.col("entity_type") == "model").any())
    )
    event_stories = (
        naming.join(placed, on="news_id", how="inner")
        .join(frame.select("event_id", "session_idx"), on=["event_id", "session_idx"])
    )
    per_day = (
        event_stories.sort(
            ["n_channels", "names_model", "published_at", "news_id"],
            descending=[True, True, False, False],
        )
        .group_by("event_id", "session_idx", maintain_order=True)
        .agg(
            stories_event=pl.len().cast(pl.Int64),
            stories_model=pl.col("names_model").sum().cast(pl.Int64),
            mean_sentiment=pl.col("sentiment").mean(),
            top_headlines=pl.col("title").head(TOP_HEADLINES),
            news_sources=pl.col("source").unique().sort(),
        )
    )
    out = (
        frame.join(totals, on="session_idx", how="left")
        .join(per_day, on=["event_id", "session_idx"], how="left")
        .with_columns(
            pl.col("stories_total", "stories_event", "stories_model").fill_null(0),
            pl.col("top_headlines").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("news_sources").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            exchange_mic=pl.lit(exchange_mic),
        )
    )
    peak = (
        out.filter(
            pl.col("rel_day").is_between(*ATTENTION_SPAN) & (pl.col("stories_event") > 0)
        )
        .sort(["event_id", "stories_event", "rel_day"], descending=[False, True, False])
        .group_by("event_id", maintain_order=True)
        .agg(
            attention_rel_day=pl.col("rel_day").first(),
            attention_date=pl.col("session_date").first(),
        )
    )
    out = out.join(peak, on="event_id", how="left").with_columns(
        is_attention_day=(pl.col("rel_day") == pl.col("attention_rel_day")).fill_null(False)
    )
    return conform(out.sort("event_id", "rel_day"), NEWS_ATTENTION, "news attention")


def ticker_news_daily(news: pl.DataFrame, entities: pl.DataFrame) -> pl.DataFrame:
    """marts.ticker_news_daily: per (ticker, UTC date of publication) the stories naming it."""
    tagged = entities.filter(pl.col("entity_type") == "ticker").select(
        "news_id", ticker="entity_id", in_title="in_title"
    )
    if tagged.height == 0 or news.height == 0:
        return empty(TICKER_NEWS_DAILY)
    out = (
        tagged.join(news.select("news_id", "published_at", "sentiment", "source"), on="news_id")
        .with_columns(news_date=pl.col("published_at").dt.date())
        .group_by("ticker", "news_date")
        .agg(
            stories=pl.col("news_id").n_unique().cast(pl.Int64),
            stories_in_title=pl.col("news_id").filter(pl.col("in_title")).n_unique()
            .cast(pl.Int64),
            mean_sentiment=pl.col("sentiment").mean(),
            news_sources=pl.col("source").unique().sort(),
        )
    )
    return conform(out.sort("ticker", "news_date"), TICKER_NEWS_DAILY, "ticker news daily")
