"""The news suite: one bad row per rule, and the reasons each rejected row carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from contracts.news import CORE_NEWS
from expectations.news import NEWS_COLUMNS, news_suite, validate_news
from expectations.runner import QUALITY_FLAGS, REASONS, RESULTS_SCHEMA

NOW = datetime(2025, 2, 1, 12, tzinfo=UTC)


def story(news_id: str, **overrides) -> dict:
    row = {c: None for c in CORE_NEWS}
    row.update(
        news_id=news_id, canonical_url=f"https://e.com/{news_id}", url=f"https://e.com/{news_id}",
        title=f"Headline number {news_id}", summary=None, publisher="Example",
        published_at=datetime(2025, 1, 27, 14, tzinfo=UTC), published_from="wire",
        published_estimated=False, tz_assumed=False, source="feed", sources=["feed"],
        n_channels=1, related_tickers=[], fetched_at=NOW, sentiment=0.1,
    )
    row.update(overrides)
    return row


def frame(*rows) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=NEWS_COLUMNS)


def reasons(outcome) -> dict[str, list[str]]:
    return {r["news_id"]: r[REASONS] for r in outcome.rejected.to_dicts()}


def test_good_rows_pass_untouched():
    rows = frame(story("a"), story("b", sentiment=-1.0), story("c", sentiment=1.0))
    outcome = validate_news(rows, NOW)
    assert outcome.passed
    assert outcome.good.drop(QUALITY_FLAGS).equals(rows)
    assert outcome.results.schema == pl.Schema(RESULTS_SCHEMA)
    assert outcome.results["suite"].unique().to_list() == ["core_news"]


def test_each_reject_rule_names_its_rows():
    rows = frame(
        story("ok"),
        story("nourl", url=None),
        story("badurl", url="javascript:alert(1)"),
        story("spaces", url="https://e.com/a b"),
        story("notitle", title=None),
        story("short", title="AI"),
        story("long", title="x" * 501),
        story("nodate", published_at=None),
        story("future", published_at=NOW + timedelta(hours=7)),
        story("ancient", published_at=datetime(1989, 12, 31, tzinfo=UTC)),
        story("nosource", source=None),
        story("dup"), story("dup"),
        story("nosent", sentiment=None),
        story("hot", sentiment=1.5),
        story(None, title="A story without an id"),
    )
    outcome = validate_news(rows, NOW)

    assert outcome.good["news_id"].to_list() == ["ok"]
    assert reasons(outcome) == {
        "nourl": ["url_null"],
        "badurl": ["url_form"],
        "spaces": ["url_form"],
        "notitle": ["title_null"],
        "short": ["title_length"],
        "long": ["title_length"],
        "nodate": ["published_at_null"],
        "future": ["published_in_future"],
        "ancient": ["published_before_1990"],
        "nosource": ["source_null"],
        "dup": ["duplicate_news_id"],
        "nosent": ["sentiment_null"],
        "hot": ["sentiment_range"],
        None: ["news_id_null"],
    }
    assert outcome.rejected.height == 15  # both copies of "dup"


def test_a_small_clock_skew_is_tolerated():
    outcome = validate_news(frame(story("soon", published_at=NOW + timedelta(hours=5))), NOW)
    assert outcome.passed


def test_warnings_flag_but_load():
    rows = frame(
        story("est", published_estimated=True, published_from="fetched_at"),
        story("tz", tz_assumed=True),
        story("bytes", title="Caf\ufffd prices rise"),
    )
    outcome = validate_news(rows, NOW)
    assert outcome.passed
    assert dict(zip(outcome.good["news_id"], outcome.good[QUALITY_FLAGS].to_list(),
                    strict=True)) == {
        "est": ["published_estimated"], "tz": ["tz_assumed"], "bytes": ["title_replacement_char"],
    }


def test_the_suite_depends_on_the_run_clock():
    later = news_suite(NOW + timedelta(days=1))
    earlier = news_suite(NOW)
    assert later.rule("published_in_future").expectation.max_value > \
        earlier.rule("published_in_future").expectation.max_value
