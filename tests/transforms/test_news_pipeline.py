"""refresh_news end to end on an in-memory warehouse: demo news, and recorded feeds replayed
from a feeds file (``--feeds FILE``), including broken ones. No network."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from flows.news_tasks import NewsOptions, refresh_news
from flows.sentiment_cmd import score_frame
from transforms import calendar
from warehouse import seeds
from warehouse.connection import connect, query_frame
from warehouse.load import transaction
from warehouse.news_load import read_attention

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "news"
NOW = datetime(2025, 3, 1, tzinfo=UTC)
DEMO_EVENTS = ["deepseek-r1", "stargate-project", "deepseek-app-1-us-app-store", "o3-mini"]


@pytest.fixture(scope="module")
def world():
    securities = seeds.read_universe()
    events = calendar.events_to_core(seeds.read_events())
    sessions = calendar.exchange_sessions(["XNYS"], date(2024, 11, 1), date(2025, 4, 1))
    day0 = calendar.event_day0(events, sessions)
    return securities, events, sessions, day0


def run(con, run_id, options, world, events=None):
    securities, all_events, sessions, day0 = world
    with transaction(con):
        return refresh_news(con, run_id, options, securities=securities,
                            events=all_events if events is None else events,
                            sessions=sessions, day0=day0)


def one(con, sql: str):
    return con.execute(sql).fetchall()[0][0]


def test_demo_news_fills_the_marts_and_a_rerun_adds_nothing(world):
    _, events, _, _ = world
    subset = events.filter(pl.col("event_id").is_in(DEMO_EVENTS))
    options = NewsOptions(source="demo", now=NOW, start=datetime(2025, 1, 1, tzinfo=UTC))
    con = connect(":memory:")

    first = run(con, "run-1", options, world, subset)

    assert first["news.extracted"] == first["news.raw_landed"] > 0
    assert first["news.channels_failed"] == 0
    assert first["news.stories"] == first["news.inserted"] + first["news.quarantined"]
    assert first["news.stories"] < first["news.extracted"]  # copies on two wires merged
    assert one(con, "SELECT count(*) FROM core.fact_news") == first["news.inserted"]
    # every carrier row of a loaded story is kept
    assert one(con, "SELECT count(*) FROM core.news_source") == first["news.carriers_inserted"]
    assert one(con, "SELECT count(*) FROM core.fact_news WHERE n_channels > 1") > 0
    assert one(con, "SELECT count(*) FROM core.bridge_news_entity") == first["news.tags_inserted"]
    assert first["marts.news_attention"] == len(DEMO_EVENTS) * 31

    r1 = query_frame(con, "SELECT * FROM marts.news_attention WHERE event_id = 'deepseek-r1' "
                          "ORDER BY rel_day")
    assert r1["attention_date"].unique().to_list() == [date(2025, 1, 27)]
    assert r1["attention_rel_day"].unique().to_list() == [4]
    peak = r1.filter(pl.col("is_attention_day")).row(0, named=True)
    assert peak["stories_event"] == r1["stories_event"].max()
    assert peak["publishers_event"] == peak["attention_publishers"] >= 3  # the evidence
    assert peak["attention_burst"] >= 3 and peak["attention_reason"] is None
    assert peak["attention_stories"] == peak["stories_event"]
    assert peak["mean_sentiment"] < 0  # the scare
    assert len(peak["top_headlines"]) == 3 and peak["news_sources"] == ["demo"]
    assert one(con, "SELECT count(*) FROM marts.ticker_news_daily WHERE ticker = 'NVDA'") > 0

    second = run(con, "run-2", options, world, subset)

    assert second["news.raw_landed"] == 0
    assert second["news.inserted"] == 0
    assert second["news.carriers_inserted"] == 0
    assert second["news.tags_inserted"] == 0 and second["news.tags_deleted"] == 0
    assert second["news.seen_again"] == first["news.inserted"]
    assert one(con, "SELECT count(*) FROM core.fact_news") == first["news.inserted"]
    assert query_frame(con, "SELECT * FROM marts.news_attention WHERE event_id = 'deepseek-r1' "
                            "ORDER BY rel_day").equals(r1)


def test_replayed_feeds_with_broken_ones_load_the_rest_and_audit_the_failures(world, tmp_path):
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("\n".join([
        "# recorded feeds, replayed",
        str(FIXTURES / "lab_blog_rss.xml"),
        str(FIXTURES / "newsroom_atom.atom"),
        str(FIXTURES / "malformed.xml"),
        str(FIXTURES / "empty_rss.xml"),
        "missing/feed.xml",
    ]) + "\n")
    options = NewsOptions(source="yahoo", live_sources=("feeds",), feeds=str(feeds), now=NOW,
                          start=datetime(2024, 1, 1, tzinfo=UTC))
    con = connect(":memory:")

    counts = run(con, "run-f", options, world)

    assert counts["news.extracted"] == 7
    assert counts["news.channels_failed"] == 2
    audit = {r["channel"]: (r["status"], r["message"]) for r in query_frame(
        con, "SELECT channel, status, message FROM audit.news_fetch_status").to_dicts()}
    assert audit["feed:malformed.xml"][0] == "error"
    assert audit["feed:malformed.xml"][1].startswith("malformed feed")
    assert audit["feed:feed.xml"] == (
        "error", f"FileNotFoundError: feed file {tmp_path / 'missing/feed.xml'} not found")
    assert audit["feed:empty_rss.xml"][0] == "empty"
    assert audit["feed:lab_blog_rss.xml"] == ("ok", "")

    # 7 items: one story on both feeds, one whose title is only a script tag
    assert counts["news.stories"] == 6
    assert counts["news.inserted"] == 5 and counts["news.quarantined"] == 1
    quarantined = query_frame(con, "SELECT dataset, reasons, row_json FROM audit.quarantine")
    assert quarantined["reasons"].to_list() == [["title_null"]]
    assert "lab.example.com/news/scripted" in quarantined["row_json"][0]

    stories = query_frame(con, "SELECT title, sources, n_channels, quality_flags, sentiment "
                               "FROM core.fact_news ORDER BY published_at")
    assert stories["title"].to_list() == [
        "DeepSeek-R1 tops the App Store as Nvidia shares plunge",
        "Nvidia shares plunge 17% as DeepSeek rattles AI trade",
        "Meta's metadata team ships Llama-2 update",
        "TSMC & ASML rally as AI demand holds up",
        "Introducing our new reasoning model",
    ]
    assert stories["n_channels"].to_list() == [2, 1, 1, 1, 1]
    assert stories["quality_flags"].to_list()[-1] == ["published_estimated"]
    assert stories["sentiment"][1] < -0.5 and stories["sentiment"][3] > 0.3

    tagged = query_frame(
        con,
        "SELECT f.title, list_sort(list(b.entity_type || ':' || b.entity_id)) AS tags "
        "FROM core.fact_news f JOIN core.bridge_news_entity b USING (news_id) GROUP BY f.title",
    )
    tags = dict(zip(tagged["title"], tagged["tags"].to_list(), strict=True))
    assert tags["TSMC & ASML rally as AI demand holds up"] == [
        "ticker:2330.TW", "ticker:ASML", "ticker:ASML.AS", "ticker:TSM"]
    assert tags["Nvidia shares plunge 17% as DeepSeek rattles AI trade"] == [
        "lab:DeepSeek", "lab:NVIDIA", "ticker:ARM", "ticker:AVGO", "ticker:NVD.DE", "ticker:NVDA"]
    assert tags["Meta's metadata team ships Llama-2 update"] == [
        "lab:Meta", "model:llama-2", "ticker:META"]

    # one story names R1 on Monday 2025-01-27 (a lab blog's, also on the newsroom feed) and
    # one on Tuesday: not evidence of attention, so no attention day, and the reason stored
    r1 = query_frame(
        con, "SELECT DISTINCT attention_date, attention_stories, attention_publishers, "
        "attention_baseline, attention_burst, attention_reason FROM marts.news_attention "
        "WHERE event_id = 'deepseek-r1'")
    assert r1.rows() == [(None, 1, 1, 1.0, 1.0, "too_few_publishers")]
    assert one(con, "SELECT count(*) FROM marts.news_attention WHERE is_attention_day") == 0
    assert read_attention(con) is None  # so no event gets attention-anchored rows

    again = run(con, "run-g", options, world)
    assert again["news.inserted"] == 0 and again["news.raw_landed"] == 0


class Broken:
    name = "broken"

    def news(self, start, end):
        raise RuntimeError("adapter bug")


def test_a_source_that_fails_whole_is_audited_not_fatal(world):
    securities, events, sessions, day0 = world
    con = connect(":memory:")
    with transaction(con):
        counts = refresh_news(con, "run-b", NewsOptions(now=NOW), securities=securities,
                              events=events, sessions=sessions, day0=day0, sources=[Broken()])
    assert counts["news.channels_failed"] == 1 and counts["news.extracted"] == 0
    assert query_frame(con, "SELECT status, message FROM audit.news_fetch_status").rows() == [
        ("error", "RuntimeError: adapter bug")]


def test_an_offline_snapshot_run_reads_no_live_source(world):
    from flows.news_tasks import make_news_sources
    from warehouse.news_load import read_news_seeds

    securities, events, _, _ = world
    assert make_news_sources(NewsOptions(source="snapshot"), securities, events,
                             read_news_seeds(), None, NOW) == []


def test_headline_scores_for_the_cli():
    scored = score_frame(["Nvidia shares plunge 17% as DeepSeek rattles AI trade",
                          "Oracle to report earnings on Thursday"])
    assert scored["label"].to_list() == ["negative", "neutral"]
