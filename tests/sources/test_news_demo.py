"""The demo news source: deterministic, matching the demo market's events, clearly synthetic."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from contracts.news import RAW_NEWS
from sources.news_demo import DemoNewsSource
from transforms import calendar
from warehouse import seeds

CLOCK = datetime(2025, 3, 1, tzinfo=UTC)
START, END = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 28, tzinfo=UTC)


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return calendar.events_to_core(seeds.read_events()).filter(
        pl.col("event_id").is_in(["deepseek-r1", "stargate-project",
                                  "deepseek-app-1-us-app-store", "o3-mini"])
    )


def test_same_seed_same_news(events):
    one = DemoNewsSource(events, clock=lambda: CLOCK).news(START, END)
    two = DemoNewsSource(events, clock=lambda: CLOCK).news(START, END)
    other = DemoNewsSource(events, seed=1, clock=lambda: CLOCK).news(START, END)

    assert one.frame.schema == pl.Schema(RAW_NEWS)
    assert one.frame.equals(two.frame)
    assert not one.frame.equals(other.frame)
    assert one.frame["source"].unique().to_list() == ["demo"]
    assert one.frame["url"].str.starts_with("https://news.demo.aftershock.invalid/").all()
    assert one.status["status"].to_list() == ["ok", "ok", "ok"]
    assert one.status["rows"].sum() == one.frame.height


def test_window_is_applied_and_history_does_not_change(events):
    whole = DemoNewsSource(events, clock=lambda: CLOCK).news(START, END).frame
    part = DemoNewsSource(events, clock=lambda: CLOCK).news(
        START, datetime(2025, 1, 25, tzinfo=UTC)).frame

    dated = part.filter(pl.col("published_at").is_not_null())
    assert dated["published_at"].max() <= datetime(2025, 1, 25, tzinfo=UTC)
    assert dated.height < whole.height
    assert dated.equals(whole.filter(
        pl.col("published_at").is_not_null()
        & (pl.col("published_at") <= datetime(2025, 1, 25, tzinfo=UTC))
    ))


def test_the_app_event_is_the_big_story_and_names_deepseek_r1(events):
    frame = DemoNewsSource(events, clock=lambda: CLOCK).news(START, END).frame

    def stories(day: str) -> pl.DataFrame:
        return frame.filter(pl.col("published_at").dt.date() == datetime.fromisoformat(day).date())

    app_day, release_day = stories("2025-01-26"), stories("2025-01-20")
    assert app_day.height > release_day.height
    assert app_day.filter(pl.col("title").str.contains("DeepSeek-R1")).height > 5
    # a Chinese open-weights release reads as a scare for the supply chain
    scared = app_day.filter(pl.col("title").str.contains("plunge|tumble|sinks|slumps|drops"))
    assert scared.height > 0


def test_planted_defects_are_present(events):
    frame = DemoNewsSource(events, clock=lambda: CLOCK).news(START, END).frame

    assert frame.filter(pl.col("url").str.contains("utm_source=demo")).height > 0
    titles = frame["title"]
    assert titles.is_duplicated().any()  # the same story on two wires
