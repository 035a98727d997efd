"""News attention marts on small hand-made frames: rows in, exact rows out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from contracts.news import NEWS_ATTENTION, TICKER_NEWS_DAILY
from transforms import calendar
from transforms.attention import (
    BASELINE_FLOOR,
    MIN_BURST,
    MIN_PUBLISHERS,
    attention_evidence,
    news_attention,
    story_sessions,
    ticker_news_daily,
)
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


NEWS_COLUMNS = ["news_id", "title", "published_at", "sentiment", "n_channels", "source",
                "publisher"]


def stories(*rows) -> pl.DataFrame:
    """Stories from tuples (news_id, title, published_at, sentiment, n_channels, source
    [, publisher]); without a publisher each story gets its own ("pub-<news_id>")."""
    return pl.DataFrame(
        [dict(zip(NEWS_COLUMNS, r if len(r) == 7 else (*r, f"pub-{r[0]}"), strict=True))
         for r in rows],
        schema={"news_id": pl.String, "title": pl.String, "published_at": UTC_,
                "sentiment": pl.Float64, "n_channels": pl.Int64, "source": pl.String,
                "publisher": pl.String},
    )


def tags(*rows) -> pl.DataFrame:
    return pl.DataFrame(
        [dict(zip(["news_id", "entity_type", "entity_id", "in_title"], r, strict=True))
         for r in rows],
        schema={"news_id": pl.String, "entity_type": pl.String, "entity_id": pl.String,
                "in_title": pl.Boolean},
    )


EVIDENCE = ["event_id", "attention_rel_day", "attention_date", "attention_stories",
            "attention_publishers", "attention_baseline", "attention_burst", "attention_reason"]


def evidence(out: pl.DataFrame, event_id: str = "r1") -> tuple:
    """The event's attention columns: the same on every row of it."""
    rows = out.filter(pl.col("event_id") == event_id).select(EVIDENCE).unique()
    assert rows.height == 1, rows
    return rows.row(0)


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
        ("n1", "DeepSeek releases R1", utc(2025, 1, 21, 13), 0.0, 1, "feed", "DeepSeek"),
        ("n2", "Nvidia plunges as DeepSeek-R1 rattles AI trade", utc(2025, 1, 27, 15), -0.8, 3,
         "yahoo", "Reuters"),
        ("n3", "DeepSeek tops App Store", utc(2025, 1, 26, 9), 0.4, 1, "hn", "Hacker News"),
        ("n4", "DeepSeek app explained", utc(2025, 1, 27, 16), 0.0, 1, "feed", "Tech Blog"),
        ("n5", "Chip stocks sink", utc(2025, 1, 27, 17), -0.6, 2, "feed", " reuters "),
        ("n6", "Unrelated market chatter", utc(2025, 1, 27, 18), 0.1, 1, "feed", "Tech Blog"),
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
        "publishers_event": 3,  # Reuters (twice, " reuters " is the same), Hacker News, Tech Blog
        "is_attention_day": True, "attention_rel_day": 4, "attention_date": date(2025, 1, 27),
        # the grid holds no session before day 0: baseline 0, floored at 1; burst 4 / 1
        "attention_stories": 4, "attention_publishers": 3, "attention_baseline": 1.0,
        "attention_burst": 4.0, "attention_reason": None,
    }
    day0 = out.filter(pl.col("rel_day") == 0).row(0, named=True)
    assert (day0["stories_event"], day0["stories_model"], day0["is_attention_day"]) == (1, 1, False)
    quiet = out.filter(pl.col("rel_day") == 1).row(0, named=True)
    assert (quiet["stories_total"], quiet["stories_event"], quiet["mean_sentiment"],
            quiet["top_headlines"]) == (0, 0, None, [])
    assert out["attention_rel_day"].unique().to_list() == [4]


def test_ties_pick_the_earliest_day_and_no_story_means_no_attention_day():
    news = stories(*[(f"{day}-{n}", f"DeepSeek story {n}", utc(2025, 1, day, 10 + n), 0.1, 1,
                      "feed") for day in (22, 23) for n in range(3)])
    bridge = tags(*[(i, "lab", "DeepSeek", True) for i in news["news_id"]])
    out = news_attention(news, bridge, EVENTS, sessions(), DAY0)
    assert out.filter(pl.col("is_attention_day"))["rel_day"].to_list() == [1]
    assert out["publishers_event"].to_list() == [0, 3, 3, 0, 0, 0]

    empty_out = news_attention(stories(), tags(), EVENTS, sessions(), DAY0)
    assert empty_out.height == 6
    assert empty_out["attention_rel_day"].null_count() == 6
    assert not empty_out["is_attention_day"].any()
    assert evidence(empty_out) == ("r1", None, None, 0, 0, 1.0, 0.0, "no_stories")


def test_deepseek_r1_day0_is_the_tuesday_after_the_holiday():
    events = calendar.events_to_core(seeds.read_events())
    grid = calendar.exchange_sessions(["XNYS"], date(2024, 12, 1), date(2025, 3, 1))
    day0 = calendar.event_day0(events, grid)
    news = stories(*[(f"x{n}", "DeepSeek-R1 app tops the App Store", utc(2025, 1, 27, 15 + n),
                      -0.5, 1, "feed", publisher) for n, publisher in
                     enumerate(["Reuters", "CNBC", "Bloomberg"])])
    bridge = tags(*[(i, "model", "deepseek-r1", True) for i in news["news_id"]])
    out = news_attention(news, bridge, events, grid, day0)
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


# --- the evidence the attention day needs --------------------------------------------------

#: Ten weekday sessions before day 0 (2025-01-21, idx 100), then day 0 .. +5.
BASELINE_DAYS = [date(2025, 1, d) for d in (7, 8, 9, 10, 13, 14, 15, 16, 17, 20)]


def long_sessions() -> pl.DataFrame:
    days = [*BASELINE_DAYS, *sessions()["session_date"]]
    return pl.DataFrame({
        "exchange_mic": "XNYS", "session_date": days,
        "session_idx": list(range(90, 90 + len(days))),
        "open_utc": [datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=14.5)
                     for d in days],
        "close_utc": [datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=21)
                      for d in days],
    }, schema_overrides={"open_utc": UTC_, "close_utc": UTC_})


def lab_news(per_day: dict[date, list[str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stories naming DeepSeek: on each date, one per publisher listed (at 12:00, 12:01, ...
    UTC, before the 21:00 close), and their lab tags."""
    rows = [(f"{day}-{n}", f"DeepSeek story {n}", utc(day.year, day.month, day.day, 12, n),
             0.0, 1, "feed", publisher)
            for day, publishers in per_day.items() for n, publisher in enumerate(publishers)]
    news = stories(*rows)
    return news, tags(*[(i, "lab", "DeepSeek", True) for i in news["news_id"]])


MONDAY = date(2025, 1, 27)  # rel_day +4


def test_the_rule_is_three_publishers_and_three_times_a_floored_baseline():
    assert (MIN_PUBLISHERS, MIN_BURST, BASELINE_FLOOR) == (3, 3.0, 1.0)


def test_one_story_from_one_publisher_is_no_attention_day():
    news, bridge = lab_news({MONDAY: ["Example AI Lab"]})
    out = news_attention(news, bridge, EVENTS, long_sessions(), DAY0)
    assert evidence(out) == ("r1", None, None, 1, 1, 1.0, 1.0, "too_few_publishers")
    assert not out["is_attention_day"].any()
    # nor does one outlet's flurry (case and spaces aside), nor unnamed stories of one source
    news, bridge = lab_news({MONDAY: ["Reuters", "reuters", " REUTERS ", "Reuters", "Reuters"]})
    out = news_attention(news, bridge, EVENTS, long_sessions(), DAY0)
    assert evidence(out) == ("r1", None, None, 5, 1, 1.0, 5.0, "too_few_publishers")
    news = news.with_columns(publisher=pl.lit(None, pl.String), source=pl.lit("hn"))
    out = news_attention(news, bridge, EVENTS, long_sessions(), DAY0)
    assert evidence(out)[4:] == (1, 1.0, 5.0, "too_few_publishers")


def test_three_publishers_without_a_burst_over_a_busy_baseline_is_no_attention_day():
    # 2 stories on each of the 10 sessions before day 0: baseline 20 / 10 = 2.0 a session;
    # Monday's 5 stories from 3 publishers are 5 / 2.0 = 2.5 times it, under 3
    busy = dict.fromkeys(BASELINE_DAYS, ["Wire A", "Wire B"])
    news, bridge = lab_news({**busy, MONDAY: ["Reuters", "CNBC", "Bloomberg", "Reuters",
                                              "CNBC"]})
    out = news_attention(news, bridge, EVENTS, long_sessions(), DAY0)
    assert evidence(out) == ("r1", None, None, 5, 3, 2.0, 2.5, "no_burst")
    assert out.filter(pl.col("rel_day") < 0)["stories_event"].to_list() == [2] * 10
    assert not out["is_attention_day"].any()


def test_a_real_burst_is_the_attention_day_with_its_evidence():
    # baseline: 15 stories over the 10 sessions before day 0 = 1.5 a session; Monday: 6
    # stories from 4 publishers = 6 / 1.5 = 4.0 times it. Wednesday (+1) is busier, but one
    # outlet's: not evidence, so not the attention day.
    before = {BASELINE_DAYS[i]: ["Wire"] * n for i, n in enumerate([3, 0, 2, 1, 0, 4, 1, 2, 0, 2])}
    news, bridge = lab_news({
        **before,
        date(2025, 1, 22): ["Blog"] * 8,
        MONDAY: ["Reuters", "CNBC", "Bloomberg", "FT", "Reuters", "CNBC"],
    })
    out = news_attention(news, bridge, EVENTS, long_sessions(), DAY0)
    assert evidence(out) == ("r1", 4, MONDAY, 6, 4, 1.5, 4.0, None)
    assert out.filter(pl.col("is_attention_day"))["session_date"].to_list() == [MONDAY]
    wednesday = out.filter(pl.col("rel_day") == 1).row(0, named=True)
    assert (wednesday["stories_event"], wednesday["publishers_event"]) == (8, 1)
    # a sparse baseline (5 stories in 10 sessions = 0.5) is floored at 1: three stories from
    # three publishers are exactly 3 times it, enough
    sparse = {BASELINE_DAYS[i]: ["Wire"] for i in range(5)}
    news, bridge = lab_news({**sparse, MONDAY: ["Reuters", "CNBC", "Bloomberg"]})
    out = news_attention(news, bridge, EVENTS, long_sessions(), DAY0)
    assert evidence(out) == ("r1", 4, MONDAY, 3, 3, 1.0, 3.0, None)


def test_attention_evidence_judges_every_event_at_once():
    def days(event_id: str, counts: dict[int, tuple[int, int]]) -> list[dict]:
        return [{"event_id": event_id, "rel_day": rel, "session_date": date(2025, 1, 1)
                 + timedelta(days=rel + 10), "stories_event": counts.get(rel, (0, 0))[0],
                 "publishers_event": counts.get(rel, (0, 0))[1]} for rel in range(-10, 11)]

    frame = pl.DataFrame([
        *days("a", {-3: (10, 2), 2: (9, 3), 5: (12, 3)}),  # baseline 1.0: +5 is the busiest
        *days("b", {-1: (40, 5), 1: (12, 6)}),              # baseline 4.0: 12 / 4 = 3.0, enough
        *days("c", {-1: (50, 5), 1: (12, 6), 3: (14, 2)}),  # baseline 5.0: +3 fails publishers
        *days("d", {}),
    ])
    got = attention_evidence(frame)
    assert got.columns == ["event_id", *EVIDENCE[1:]]
    assert got.select(EVIDENCE[:2] + EVIDENCE[3:]).rows() == [
        ("a", 5, 12, 3, 1.0, 12.0, None),
        ("b", 1, 12, 6, 4.0, 3.0, None),
        ("c", None, 14, 2, 5.0, 2.8, "too_few_publishers"),
        ("d", None, 0, 0, 1.0, 0.0, "no_stories"),
    ]
    assert got["attention_date"].to_list()[:2] == [date(2025, 1, 16), date(2025, 1, 12)]


def test_the_ddl_comments_state_the_same_thresholds():
    from pathlib import Path

    ddl = (Path(__file__).resolve().parents[2] / "warehouse" / "news_marts.sql").read_text()
    assert f"at least {MIN_PUBLISHERS} publishers, and at least {MIN_BURST:g} times" in ddl
    assert f"floored at {BASELINE_FLOOR:g} so that a lab nobody wrote about still needs " \
           f"{MIN_BURST * BASELINE_FLOOR:g} stories" in ddl
