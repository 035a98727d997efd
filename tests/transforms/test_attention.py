"""News attention marts on small hand-made frames: rows in, exact rows out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from contracts.news import NEWS_ATTENTION, TICKER_NEWS_DAILY
from transforms import calendar
from transforms.attention import news_attention, story_sessions, ticker_news_daily
from warehouse import seeds

UTC_ = pl.Datetime("us", "UTC")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def sessions() -> pl.DataFrame:
    """Five weekdays, closing 21:00 UTC, plus a Monday after a weekend."""
    days = [date(2025, 1, 21), date(2025, 1, 22), date(2025, 1, 23), date(2025, 1, 24),
            date(2025, 1, 27), date(2025, 1, 28)]
    return pl.DataFrame({
        "exchange_mic": "XNYS",
        "session_date": days,
        "session_idx": list(range(100, 100 + len(days))),
        "open_utc": [datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=14.5)
                     for d in days],
        "close_utc": [datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=21)
                      for d in days],
    }, schema_overrides={"open_utc": UTC_, "close_utc": UTC_})


EVENTS = pl.DataFrame({"event_id": ["r1"], "lab": ["DeepSeek"]})
DAY0 = pl.DataFrame({"event_id": ["r1"], "exchange_mic": ["XNYS"], "day0_idx": [100]})


def stories(*rows) -> pl.DataFrame:
    return pl.DataFrame(
        [dict(zip(["news_id", "title", "published_at", "sentiment", "n_channels", "source"], r,
                  strict=True)) for r in rows],
        schema={"news_id": pl.String, "title": pl.String, "published_at": UTC_,
                "sentiment": pl.Float64, "n_channels": pl.Int64, "source": pl.String},
    )


def tags(*rows) -> pl.DataFrame:
    return pl.DataFrame(
        [dict(zip(["news_id", "entity_type", "entity_id", "in_title"], r, strict=True))
         for r in rows],
        schema={"news_id": pl.String, "entity_type": pl.String, "entity_id": pl.String,
                "in_title": pl.Boolean},
    )


def test_a_story_counts_for_the_first_session_closing_at_or_after_it():
    placed = story_sessions(stories(
        ("a", "t", utc(2025, 1, 21, 20, 59), 0.0, 1, "feed"),  # before Tuesday's close
        ("b", "t", utc(2025, 1, 21, 21, 0), 0.0, 1, "feed"),   # at the close: still Tuesday
        ("c", "t", utc(2025, 1, 21, 21, 1), 0.0, 1, "feed"),   # after: Wednesday
        ("d", "t", utc(2025, 1, 25, 12, 0), 0.0, 1, "feed"),   # Saturday: Monday
        ("e", "t", utc(2025, 2, 25, 12, 0), 0.0, 1, "feed"),   # past the grid: dropped
    ), sessions())
    assert placed.select("news_id", "session_date").rows() == [
        ("a", date(2025, 1, 21)), ("b", date(2025, 1, 21)), ("c", date(2025, 1, 22)),
        ("d", date(2025, 1, 27)),
    ]


def test_attention_rows_counts_headlines_and_peak():
    news = stories(
        ("n1", "DeepSeek releases R1", utc(2025, 1, 21, 13), 0.0, 1, "feed"),
        ("n2", "Nvidia plunges as DeepSeek-R1 rattles AI trade", utc(2025, 1, 27, 15), -0.8, 3,
         "yahoo"),
        ("n3", "DeepSeek tops App Store", utc(2025, 1, 26, 9), 0.4, 1, "hn"),
        ("n4", "DeepSeek app explained", utc(2025, 1, 27, 16), 0.0, 1, "feed"),
        ("n5", "Chip stocks sink", utc(2025, 1, 27, 17), -0.6, 2, "feed"),
        ("n6", "Unrelated market chatter", utc(2025, 1, 27, 18), 0.1, 1, "feed"),
    )
    bridge = tags(("n1", "lab", "DeepSeek", True), ("n1", "model", "r1", True),
                  ("n2", "model", "r1", True), ("n2", "ticker", "NVDA", True),
                  ("n3", "lab", "DeepSeek", True), ("n4", "lab", "DeepSeek", True),
                  ("n5", "lab", "DeepSeek", False), ("n6", "ticker", "AMD", True))

    out = news_attention(news, bridge, EVENTS, sessions(), DAY0)

    assert out.schema == pl.Schema(NEWS_ATTENTION)
    assert out["rel_day"].to_list() == [0, 1, 2, 3, 4, 5]  # the grid holds only these
    monday = out.filter(pl.col("rel_day") == 4).row(0, named=True)
    assert monday == {
        "event_id": "r1", "rel_day": 4, "session_date": date(2025, 1, 27), "exchange_mic": "XNYS",
        "stories_total": 5, "stories_event": 4, "stories_model": 1,
        "mean_sentiment": (-0.8 + 0.4 + 0.0 - 0.6) / 4,
        "top_headlines": ["Nvidia plunges as DeepSeek-R1 rattles AI trade", "Chip stocks sink",
                          "DeepSeek tops App Store"],
        "news_sources": ["feed", "hn", "yahoo"],
        "is_attention_day": True, "attention_rel_day": 4, "attention_date": date(2025, 1, 27),
    }
    day0 = out.filter(pl.col("rel_day") == 0).row(0, named=True)
    assert (day0["stories_event"], day0["stories_model"], day0["is_attention_day"]) == (1, 1, False)
    quiet = out.filter(pl.col("rel_day") == 1).row(0, named=True)
    assert (quiet["stories_total"], quiet["stories_event"], quiet["mean_sentiment"],
            quiet["top_headlines"]) == (0, 0, None, [])
    assert out["attention_rel_day"].unique().to_list() == [4]


def test_ties_pick_the_earliest_day_and_no_story_means_no_attention_day():
    news = stories(("a", "DeepSeek one", utc(2025, 1, 22, 10), 0.1, 1, "feed"),
                   ("b", "DeepSeek two", utc(2025, 1, 23, 10), 0.2, 1, "feed"))
    bridge = tags(("a", "lab", "DeepSeek", True), ("b", "lab", "DeepSeek", True))
    out = news_attention(news, bridge, EVENTS, sessions(), DAY0)
    assert out.filter(pl.col("is_attention_day"))["rel_day"].to_list() == [1]

    empty_out = news_attention(stories(), tags(), EVENTS, sessions(), DAY0)
    assert empty_out.height == 6
    assert empty_out["attention_rel_day"].null_count() == 6
    assert not empty_out["is_attention_day"].any()


def test_deepseek_r1_day0_is_the_tuesday_after_the_holiday():
    events = calendar.events_to_core(seeds.read_events())
    grid = calendar.exchange_sessions(["XNYS"], date(2024, 12, 1), date(2025, 3, 1))
    day0 = calendar.event_day0(events, grid)
    news = stories(("x", "DeepSeek-R1 app tops the App Store", utc(2025, 1, 27, 15), -0.5, 1,
                    "feed"))
    out = news_attention(news, tags(("x", "model", "deepseek-r1", True)), events, grid, day0)
    r1 = out.filter(pl.col("event_id") == "deepseek-r1")
    assert r1.filter(pl.col("rel_day") == 0)["session_date"].to_list() == [date(2025, 1, 21)]
    assert r1["attention_date"].unique().to_list() == [date(2025, 1, 27)]
    assert r1["attention_rel_day"].unique().to_list() == [4]
    assert r1["rel_day"].min() == -10 and r1["rel_day"].max() == 20


def test_ticker_news_daily():
    news = stories(("a", "t", utc(2025, 1, 27, 1), -0.5, 1, "feed"),
                   ("b", "t", utc(2025, 1, 27, 23), 0.1, 1, "hn"),
                   ("c", "t", utc(2025, 1, 28, 1), 0.3, 1, "feed"))
    bridge = tags(("a", "ticker", "NVDA", True), ("b", "ticker", "NVDA", False),
                  ("c", "ticker", "NVDA", True), ("c", "lab", "DeepSeek", True))
    out = ticker_news_daily(news, bridge)
    assert out.schema == pl.Schema(TICKER_NEWS_DAILY)
    assert out.rows() == [
        ("NVDA", date(2025, 1, 27), 2, 1, -0.2, ["feed", "hn"]),
        ("NVDA", date(2025, 1, 28), 1, 1, 0.3, ["feed"]),
    ]
