"""Entity tagging against the real seeds: word boundaries, case rules, aliases, symbols."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from contracts.news import NEWS_ENTITY
from transforms import calendar
from transforms.entities import build_aliases, event_windows, search_terms, tag_entities
from warehouse import seeds
from warehouse.news_load import read_news_seeds


@pytest.fixture(scope="module")
def world():
    securities = seeds.read_universe()
    events = calendar.events_to_core(seeds.read_events())
    news_seeds = read_news_seeds()
    aliases = build_aliases(securities, events, news_seeds.entities, news_seeds.case_sensitive,
                            news_seeds.symbol_stoplist)
    return securities, events, aliases


def tags(world, title: str, summary: str | None = None, related=()) -> set[tuple[str, str]]:
    securities, _, aliases = world
    news = pl.DataFrame(
        {"news_id": ["n1"], "title": [title], "summary": [summary],
         "related_tickers": [list(related)]},
        schema={"news_id": pl.String, "title": pl.String, "summary": pl.String,
                "related_tickers": pl.List(pl.String)},
    )
    out = tag_entities(news, aliases, securities["ticker"].to_list())
    assert out.schema == pl.Schema(NEWS_ENTITY)
    return {(r["entity_type"], r["entity_id"]) for r in out.to_dicts()}


def tickers(found: set[tuple[str, str]]) -> set[str]:
    return {e for t, e in found if t == "ticker"}


def test_arms_race_is_not_arm_holdings(world):
    assert tickers(tags(world, "The AI arms race heats up")) == set()
    assert tickers(tags(world, "AI Arms Race Heats Up")) == set()
    assert tickers(tags(world, "Arm unveils its own server chip")) == {"ARM"}
    assert tickers(tags(world, "ARM shares jump 8%")) == {"ARM"}
    assert tickers(tags(world, "Why you should arm yourself with data")) == set()


def test_metadata_is_not_meta(world):
    assert tags(world, "New metadata standard for datasets") == set()
    assert tags(world, "meta-analysis finds little effect") == set()
    found = tags(world, "Meta releases Llama 4 Scout")
    assert ("ticker", "META") in found and ("lab", "Meta") in found
    assert ("model", "llama-4") in found


def test_company_names_and_aliases_name_every_listing(world):
    assert tickers(tags(world, "TSMC posts record profit")) == {"TSM", "2330.TW"}
    assert tickers(tags(world, "Taiwan Semiconductor beats estimates")) == {"TSM", "2330.TW"}
    assert tickers(tags(world, "Taiwan Semiconductor Manufacturing raises capex")) == {
        "TSM", "2330.TW"}
    assert tickers(tags(world, "NVIDIA and Nvidia and nvidia")) == {"NVDA", "NVD.DE"}
    assert tickers(tags(world, "Advanced Micro Devices wins deal")) == {"AMD"}
    assert tickers(tags(world, "SK hynix and Samsung lead HBM")) == {"000660.KS", "005930.KS"}
    assert tickers(tags(world, "Super Micro Computer delays filing")) == {"SMCI"}


def test_ordinary_words_are_case_sensitive(world):
    assert tickers(tags(world, "An apple a day; the oracle of Omaha; micron-scale parts")) == set()
    assert tickers(tags(world, "Apple and Oracle rally; Micron falls")) == {"AAPL", "ORCL", "MU"}


def test_symbols_and_cashtags(world):
    assert tickers(tags(world, "$NVDA and $TSM slide while AMD gains")) == {"NVDA", "TSM", "AMD"}
    assert tickers(tags(world, "Buy NOW before it is too late")) == set()  # stop list
    assert tickers(tags(world, "$NOW reports")) == {"NOW"}  # a cashtag always counts
    assert tickers(tags(world, "$XYZ and $5B deal")) == set()  # not in the universe
    assert tickers(tags(world, "nvda lowercase is not a symbol")) == set()


def test_models_longest_match_first(world):
    assert tags(world, "GPT-4o arrives") == {("model", "gpt-4o")}
    assert tags(world, "GPT-4.5 research preview") == {("model", "gpt-4-5")}
    assert ("model", "gpt-4") not in tags(world, "GPT-4o and GPT-4.1 compared")
    found = tags(world, "Google launches Gemini 2.0 Flash")
    assert ("model", "gemini-2-0") in found and ("model", "gemini-1-0") not in found
    family = tags(world, "Gemini gets better")
    assert {("model", "gemini-1-0"), ("model", "gemini-3")} <= family


def test_separators_are_flexible(world):
    for title in ("Llama 2 released", "Llama-2 released", "Llama2 released"):
        assert ("model", "llama-2") in tags(world, title)
    found = tags(world, "DeepSeek R1 and DeepSeek-R1-0528")
    assert {("model", "deepseek-r1"), ("model", "deepseek-r1-0528")} <= found


def test_labs(world):
    assert tags(world, "xAI raises money") == {("lab", "xAI")}
    assert tags(world, "Anthropic and OpenAI") == {("lab", "Anthropic"), ("lab", "OpenAI")}
    found = tags(world, "Google DeepMind shows a new model")
    assert {("lab", "Google"), ("ticker", "GOOGL"), ("ticker", "GOOG")} <= found
    assert ("lab", "US Department of Commerce (BIS)") in tags(world, "Commerce Department acts")


def test_source_tags_are_kept_when_in_the_universe(world):
    found = tags(world, "A headline", related=["NVDA", "ANTH.PVT"])
    assert found == {("ticker", "NVDA")}


def test_method_mentions_and_title_flag(world):
    securities, _, aliases = world
    news = pl.DataFrame(
        {"news_id": ["a", None], "title": ["$NVDA: Nvidia slides", "Nvidia"],
         "summary": ["Nvidia again", None], "related_tickers": [["NVDA"], []]},
        schema={"news_id": pl.String, "title": pl.String, "summary": pl.String,
                "related_tickers": pl.List(pl.String)},
    )
    out = tag_entities(news, aliases, securities["ticker"].to_list())
    nvda = out.filter(pl.col("entity_id") == "NVDA").row(0, named=True)
    assert nvda == {"news_id": "a", "entity_type": "ticker", "entity_id": "NVDA",
                    "matched": "NVDA", "method": "source", "in_title": True, "mentions": 3}
    assert out["news_id"].to_list() == ["a"] * out.height  # a row without news_id is skipped


def test_search_terms_and_history_windows(world):
    _, events, aliases = world
    terms = search_terms(events, aliases, since=datetime(2025, 11, 20, tzinfo=UTC))
    assert "DeepSeek" in terms and "OpenAI" in terms
    assert "Claude Opus 4.5" in terms and "GPT-5.2" in terms and "GPT-4" not in terms
    windows = event_windows(events.filter(pl.col("event_id") == "deepseek-r1"), aliases,
                            timedelta(days=14), timedelta(days=31))
    assert windows.select("query", "event_id").rows() == [
        ("DeepSeek", "deepseek-r1"), ("DeepSeek-R1", "deepseek-r1")]
    assert windows["start"][0] == datetime(2025, 1, 5, 16, tzinfo=UTC)  # Beijing midnight - 14 d
