"""Event detection on hand-made news: lab posts and bursts about models the catalog does not
know become detected events; known models, non-models and thin evidence do not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from contracts import EVENTS
from flows.news_tasks import (
    NewsOptions,
    reaction_inputs,
    read_detected_events,
    refresh_news,
    store_detected_events,
)
from sources.news_base import NewsResult, news_frame, news_status_frame, status_row
from transforms import calendar, entities
from transforms.detection import (
    DETECTED,
    detect_events,
    detected_tags,
    dim_event_rows,
    find_model_names,
    model_key,
)
from warehouse import load, news_load, seeds
from warehouse.connection import connect, query_frame

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
NO_TAGS = pl.DataFrame(schema={"news_id": pl.String, "entity_type": pl.String,
                               "entity_id": pl.String})
LAB_FEEDS = {"feed:meta-newsroom": "Meta", "feed:huggingface-blog": None}


@pytest.fixture(scope="module")
def catalog():
    events = calendar.events_to_core(seeds.read_events())
    ns = news_load.read_news_seeds()
    aliases = entities.build_aliases(seeds.read_universe(), events, ns.entities,
                                     ns.case_sensitive, ns.symbol_stoplist)
    return events, aliases


def stories(*rows: tuple) -> pl.DataFrame:
    """(title, hours after T0, publisher[, channel]) -> the news frame detect_events reads."""
    return pl.DataFrame(
        [
            {"news_id": f"n{i}", "title": r[0], "published_at": T0 + timedelta(hours=r[1]),
             "publisher": r[2], "source": "feed", "url": f"https://example.org/{i}",
             "channels": [r[3]] if len(r) > 3 else ["feed:wire"]}
            for i, r in enumerate(rows)
        ],
        schema={"news_id": pl.String, "title": pl.String,
                "published_at": pl.Datetime("us", "UTC"), "publisher": pl.String,
                "source": pl.String, "url": pl.String, "channels": pl.List(pl.String)},
    )


def detect(news: pl.DataFrame, catalog, tags: pl.DataFrame = NO_TAGS) -> pl.DataFrame:
    events, aliases = catalog
    return detect_events(news, tags, events, aliases=aliases, lab_channels=LAB_FEEDS)


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("title", "names"), [
    ("Meta releases Llama 5 with open weights", ["Llama 5"]),
    ("OpenAI unveils GPT-6 to rival Gemini 3", ["GPT-6", "Gemini 3"]),
    ("xAI's Grok 5 tops leaderboards", ["Grok 5"]),
    ("DeepSeek-V4 rattles chip stocks", ["DeepSeek-V4"]),
    ("Alibaba's Qwen3 is out", ["Qwen3"]),
    ("Anthropic launches Claude Opus 5", ["Claude Opus 5"]),
    ("OpenAI ships o5-mini", ["o5-mini"]),
    ("Llama-3.1-70B-Instruct fine-tunes flood the Hub", ["Llama-3.1"]),
    ("Startup Acme unveils Orion-2 language model", ["Orion-2"]),
    ("Section 230 reform targets AI chatbots", []),
    ("Windows 11 update brings Copilot to every PC", []),
    ("Nvidia RTX 5090 review: a new AI model benchmark king", []),
    ("AMD MI350 accelerators ship as COVID-19 anniversary nears", []),
    ("Tesla Model 3 recall widens", []),
    ("GTC 2025 keynote: Nvidia's new models", []),
    ("Orion-2 spacecraft docks", []),  # not a family, and nothing says it is a model
    ("Nvidia shares plunge 17% as DeepSeek rattles AI trade", []),
])
def test_model_names_in_titles(title, names):
    assert [n for n, _, _ in find_model_names(title)] == names


def test_keys_ignore_spelling_sizes_and_packaging():
    assert model_key("Llama 3.1") == model_key("Llama-3.1") == model_key("llama3.1") == "llama3.1"
    assert model_key("Llama-3.1-70B-Instruct") == "llama3.1"
    assert model_key("DeepSeek-V4") == model_key("DeepSeek V4") == "deepseekv4"
    assert model_key("GPT-4o") == "gpt4o" != model_key("GPT-4")


# --- detection --------------------------------------------------------------------------------


def test_burst_of_stories_about_an_unknown_model(catalog):
    news = stories(
        ("Meta readies Llama 5 launch", -200, "Tech Blog"),  # first seen, long before
        ("Meta releases Llama 5, its largest open-weight model", 0, "Reuters"),
        ("Llama 5 tops open model rankings", 5, "The Verge"),
        ("Nvidia gains as Llama 5 lifts AI demand hopes", 30, "Reuters"),
        ("Why Llama 5 matters for chip stocks", 46, "Barron's"),
    )
    out = detect(news, catalog)
    assert out.height == 1 and out.schema == pl.Schema(DETECTED)
    row = out.row(0, named=True)
    assert row["event_id"] == "detected-llama-5" and row["name"] == "Llama 5"
    assert row["origin"] == "detected" and row["kind"] == "model_release"
    assert row["lab"] == "Meta" and row["lab_country"] == "US"  # the family's lab
    assert row["detected_by"] == "burst"
    assert row["first_seen_at"] == T0 - timedelta(hours=200)
    # the first 48-hour window with 3 stories from 2 outlets starts at hour 0
    assert row["announced_at"] == T0 and row["announced_precision"] == "minute"
    assert row["announced_date"] == date(2026, 3, 2)  # Pacific date of 14:00 UTC
    assert row["open_weights"] is True
    assert row["detection_stories"] == 5 and row["detection_sources"] == 4
    # strongest window: hours 0..46, 4 stories from 3 outlets: 0.5 + 0.1 + 0.05
    assert row["confidence"] == pytest.approx(0.65)
    assert row["source_url"] == "https://example.org/0"
    assert row["news_ids"] == ["n0", "n1", "n2", "n3", "n4"]


def test_a_lab_post_alone_is_enough(catalog):
    news = stories(("Introducing Llama 5", 0, "Meta", "feed:meta-newsroom"),
                   ("Welcome Qwen4 on the Hub", 3, "Hugging Face", "feed:huggingface-blog"))
    out = detect(news, catalog).sort("event_id")
    assert out["event_id"].to_list() == ["detected-llama-5", "detected-qwen4"]
    llama, qwen = out.rows(named=True)
    assert llama["detected_by"] == "lab_blog" and llama["confidence"] == pytest.approx(0.8)
    assert llama["lab"] == "Meta" and llama["announced_at"] == T0
    # a lab feed without a lab of its own (Hugging Face): lower confidence, family's lab
    assert qwen["confidence"] == pytest.approx(0.6) and qwen["lab"] == "Alibaba"
    assert qwen["lab_country"] == "CN"


def test_post_and_burst_combine(catalog):
    news = stories(
        ("Introducing Llama 5", 0, "Meta", "feed:meta-newsroom"),
        ("Meta's Llama 5 is here", 2, "Reuters"),
        ("Llama 5 impresses developers", 20, "CNBC"),
    )
    row = detect(news, catalog).row(0, named=True)
    assert row["detected_by"] == "lab_blog+burst"
    # 3 stories from 3 outlets: c_burst = 0.6; with the post: 1 - 0.2 x 0.4
    assert row["confidence"] == pytest.approx(0.92)


def test_known_models_are_never_detected(catalog):
    news = stories(
        ("OpenAI's GPT-4o gets a voice mode", 0, "Reuters"),
        ("GPT-4o is everywhere", 1, "CNBC"),
        ("Why GPT-4o matters", 2, "Barron's"),
        ("DeepSeek R1 shakes Wall Street", 3, "Reuters", "feed:meta-newsroom"),
        ("Claude Sonnet 4.5 tops coding benchmarks", 4, "The Verge", "feed:meta-newsroom"),
        ("Llama-3.1-405B-Instruct now on every cloud", 5, "AWS", "feed:meta-newsroom"),
    )
    assert detect(news, catalog).height == 0


def test_non_models_and_thin_evidence_are_not_events(catalog):
    news = stories(
        ("Section 230 fight reaches AI chatbots", 0, "Reuters"),
        ("Section 230 and AI models: what changes", 1, "CNBC"),
        ("Section 230 explained for AI users", 2, "Barron's"),
        ("Rumor: GPT-6 coming soon", 0, "Blog A"),       # one story
        ("GPT-6 spotted in code", 10, "Blog A"),         # two stories, one outlet ...
        ("GPT-6 rumor mill spins", 20, "Blog A"),        # ... three stories, still one outlet
        ("Grok 5 teased by Musk", 0, "Reuters"),
        ("Grok 5 details emerge", 60, "CNBC"),           # more than 48 h apart
        ("Grok 5 launch date", 120, "Barron's"),
    )
    assert detect(news, catalog).height == 0


def test_unknown_family_needs_context_and_costs_confidence(catalog):
    news = stories(
        ("Startup Acme unveils Orion-2 language model", 0, "Reuters"),
        ("Orion-2 model beats GPT-5 on reasoning", 3, "CNBC"),
        ("What Orion-2 means for Nvidia", 8, "Barron's"),
    )
    tags = pl.DataFrame({"news_id": ["n0", "n1"], "entity_type": ["lab", "lab"],
                         "entity_id": ["OpenAI", "OpenAI"]})
    row = detect(news, catalog, tags).row(0, named=True)
    assert row["event_id"] == "detected-orion-2"
    assert row["lab"] == "OpenAI"  # no family: the lab the stories name most
    assert row["confidence"] == pytest.approx(round(0.6 * 0.75, 3))  # 3 outlets: 0.6


def test_empty_news_and_catalog_rows(catalog):
    events, _ = catalog
    assert detect(stories(), catalog).height == 0
    rows = dim_event_rows(events)
    assert rows.height == events.height and set(rows["origin"]) == {"catalog"}
    assert rows["confidence"].to_list() == [1.0] * events.height
    assert rows["first_seen_at"].null_count() == events.height


def test_detected_tags_name_the_stories(catalog):
    news = stories(("Introducing Llama 5", 0, "Meta", "feed:meta-newsroom"),
                   ("Llama 5 is out", 1, "Reuters"))
    tags = detected_tags(detect(news, catalog))
    assert tags.rows() == [("n0", "model", "detected-llama-5", True),
                           ("n1", "model", "detected-llama-5", True)]


# --- in the warehouse --------------------------------------------------------------------


class StubSource:
    """A news source returning fixed items (a lab feed and two wires)."""

    name = "feed"

    def __init__(self, items: list[tuple]):
        self.items = items

    def news(self, start, end) -> NewsResult:
        rows = [{"source": "feed", "channel": channel, "item_id": f"i{i}", "title": title,
                 "url": f"https://news.example.org/{channel.split(':')[1]}/{i}",
                 "publisher": publisher, "published_raw": None, "published_at": at,
                 "fetched_at": end}
                for i, (title, at, publisher, channel) in enumerate(self.items)]
        status = [status_row("feed", c, "ok", 1) for c in sorted({r[3] for r in self.items})]
        return NewsResult(frame=news_frame(rows, "feed"), status=news_status_frame(status))


def test_refresh_news_stores_detected_events_beside_the_catalog(catalog):
    events, _ = catalog
    securities = seeds.read_universe()
    sessions = calendar.exchange_sessions(["XNYS", "XNAS"], date(2025, 12, 1), date(2026, 4, 30))
    day0 = calendar.event_day0(events, sessions)
    at = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # a Tuesday, NYSE open
    source = StubSource([
        ("Introducing Llama 5", at, "Meta", "feed:meta-newsroom"),
        ("Meta releases Llama 5 model", at + timedelta(hours=1), "Reuters", "feed:wire"),
        ("Llama 5 lifts Nvidia", at + timedelta(days=3), "CNBC", "feed:markets"),
        ("Nvidia climbs as Llama 5 demand grows", at + timedelta(days=3, hours=1), "Reuters",
         "feed:wire"),
        ("Why Llama 5 is the talk of Wall Street", at + timedelta(days=3, hours=2), "Barron's",
         "feed:markets"),
    ])
    con = connect(":memory:")
    with load.transaction(con):
        load.replace_table(con, "core.dim_event", dim_event_rows(events))
        counts = refresh_news(con, "run-1", NewsOptions(source="snapshot", now=at + timedelta(
            days=5)), securities=securities, events=events, sessions=sessions, day0=day0,
            sources=[source])
    assert counts["events.detected"] == 1
    stored = query_frame(con, "SELECT origin, count(*) AS n FROM core.dim_event GROUP BY 1")
    assert dict(stored.iter_rows()) == {"catalog": events.height, "detected": 1}
    detected = read_detected_events(con)
    assert detected["event_id"].to_list() == ["detected-llama-5"]
    assert detected["detected_by"].to_list() == ["lab_blog+burst"]
    # the news marts treat it like a catalog event: it has an attention day
    attention = query_frame(
        con, "SELECT DISTINCT attention_date, attention_rel_day FROM marts.news_attention "
        "WHERE event_id = 'detected-llama-5'").rows()
    assert attention == [(date(2026, 3, 6), 3)]  # Friday: 3 stories, 2 on day 0
    study = reaction_inputs(con, events, sessions, day0)
    assert study.events.filter(pl.col("origin") == "detected")["event_id"].to_list() == [
        "detected-llama-5"]
    assert study.events.height == events.height + 1
    assert set(study.day0.filter(pl.col("event_id") == "detected-llama-5")["day0"]) == {
        date(2026, 3, 3)}
    assert study.attention is not None
    assert study.attention.filter(pl.col("event_id") == "detected-llama-5").rows() == [
        ("detected-llama-5", date(2026, 3, 6))]
    # a second detection replaces the detected rows only, never a catalog row
    with load.transaction(con):
        assert store_detected_events(con, detected.head(0)) == 0
    stored = query_frame(con, "SELECT origin, count(*) AS n FROM core.dim_event GROUP BY 1")
    assert dict(stored.iter_rows()) == {"catalog": events.height}
    assert set(EVENTS) <= set(detected.columns)
    con.close()
