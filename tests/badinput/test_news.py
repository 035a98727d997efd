"""Bad feeds and news payloads, through the news pipeline the run uses (``sources.news_feeds``,
``sources.news_yahoo``, ``flows.news_tasks.refresh_news`` -> ``expectations.news``).

Feed-level faults are reported per feed in the fetch status and never stop the others.
Item-level faults are judged by the news suite: each case asserts the bad item's exact fate
(quarantined with its reasons, or loaded with its flag) and that every good item of the same
feed was loaded. Real payloads come from ``../shared/samples/news`` (skipped, with the reason,
when that folder is absent).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from sources.news_feeds import FeedSource, FeedSpec

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "news"
NOW = datetime(2025, 3, 1, tzinfo=UTC)
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"news samples not found at {SAMPLES} (../shared is absent)"
)


def feeds() -> FeedSource:
    return FeedSource([], clock=lambda: NOW, sleep=lambda s: None)


def rss(*items: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            "<title>Test wire</title>" + "".join(items) + "</channel></rss>")


def item(title: str | None, link: str | None, date_: str | None) -> str:
    parts = [f"<title>{title}</title>" if title is not None else "",
             f"<link>{link}</link>" if link is not None else "",
             f"<pubDate>{date_}</pubDate>" if date_ is not None else ""]
    return "<item>" + "".join(parts) + "</item>"


# -- feed level ---------------------------------------------------------------------------

FEED_CASES = [
    ("missing_file", None, "error", "FileNotFoundError: feed file {path} not found"),
    ("zero_bytes", b"", "error", "not a feed: an empty body"),
    ("html_error_page", b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body>"
     b"</html>", "error", "not a feed: neither RSS nor Atom"),
    ("binary_junk", b"\x00\x01binary junk", "error",
     "malformed feed: SAXParseException: <unknown>:2:0: not well-formed (invalid token)"),
    ("json_instead_of_xml", b'{"items": []}', "error",
     "malformed feed: SAXParseException: <unknown>:2:0: not well-formed (invalid token)"),
    ("valid_feed_without_items", rss().encode(), "empty", "feed has no items"),
    ("truncated_xml", b"<rss><channel><item><title>Claude 3.7 Sonnet</title></item>", "ok",
     "parsed with a warning: SAXParseException: <unknown>:2:59: no element found"),
]


@pytest.mark.parametrize(("name", "body", "status", "message"), FEED_CASES,
                         ids=[c[0] for c in FEED_CASES])
def test_bad_feed_is_reported_and_the_next_feed_still_read(tmp_path, name, body, status,
                                                           message):
    path = tmp_path / f"{name}.xml"
    if body is not None:
        path.write_bytes(body)
    good = tmp_path / "good.xml"
    good.write_text(rss(item("Nvidia ships Blackwell", "https://example.com/a",
                             "Mon, 24 Feb 2025 18:00:00 GMT")))
    source = FeedSource([FeedSpec(name=name, url=str(path)), FeedSpec(name="good", url=str(good))],
                        clock=lambda: NOW, sleep=lambda s: None)
    result = source.news()
    bad, fine = result.status.to_dicts()
    assert (bad["status"], bad["message"]) == (status, message.format(path=path))
    assert (fine["status"], fine["rows"]) == ("ok", 1)
    assert "https://example.com/a" in result.frame["url"].to_list()


@needs_samples
@pytest.mark.parametrize(
    ("file", "status", "rows", "message"),
    [
        ("rss-openai-research-empty-2025-02-28.xml", "empty", 0, "feed has no items"),
        ("awkward-rss-kc0011-gb2312-2020-01.xml", "ok", 20, "encoding gb18030"),
        ("awkward-rss-uol-noticias-latin1-no-xml-decl-2018-09.xml", "ok", 15,
         "parsed with a warning: CharacterEncodingOverride"),
    ],
)
def test_awkward_real_feeds(file, status, rows, message):
    _, got = feeds().read(FeedSpec(name=file, url=str(SAMPLES / file)))
    assert (got["status"], got["rows"]) == (status, rows)
    assert got["message"].startswith(message)


# -- news JSON (Yahoo) ----------------------------------------------------------------------


def _yahoo(monkeypatch, payload):
    from sources.news_yahoo import YahooNewsSource

    source = YahooNewsSource(["NVDA"], sleep=lambda s: None, clock=lambda: NOW)
    monkeypatch.setattr(source, "_ticker_news", lambda ticker: payload)
    return source


@needs_samples
def test_yahoo_json_payloads(monkeypatch):
    real = json.loads((SAMPLES / "yfinance-ticker-news-NVDA-2026-09-17.json").read_text())
    window = (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 30, tzinfo=UTC))

    whole = _yahoo(monkeypatch, real).news(*window)
    assert whole.status.select("status", "rows").row(0) == ("ok", 50)

    # items without a content block are not news: left out and counted, the rest kept
    broken = [{"id": "x"}, {"id": "y", "content": "not a dict"}, *real[:5]]
    result = _yahoo(monkeypatch, broken).news(*window)
    status = result.status.row(0, named=True)
    assert (status["status"], status["rows"]) == ("ok", 5)
    assert status["message"] == "2 item(s) outside the window or not news"

    # a payload that is not a list is an error for the channel, not for the run
    odd = _yahoo(monkeypatch, {"error": "nope"}).news(*window).status.row(0, named=True)
    assert (odd["status"], odd["message"]) == ("error", "unexpected news payload dict")


# -- item level: through refresh_news into a warehouse ------------------------------------

GOOD_ITEMS = [
    item("Nvidia ships Blackwell Ultra", "https://example.com/nvda-blackwell",
         "Mon, 24 Feb 2025 18:00:00 GMT"),
    item("DeepSeek open-sources its inference stack", "https://example.com/deepseek",
         "Tue, 25 Feb 2025 09:30:00 GMT"),
]
ITEM_CASES = [
    ("no_link", item("Anthropic ships Claude 3.7", None, "Mon, 24 Feb 2025 18:00:00 GMT"),
     "quarantined", ["news_id_null", "url_null"]),
    ("dated_in_the_future", item("Gemini 9 announced", "https://example.com/g9",
                                 "Mon, 24 Feb 2031 18:00:00 GMT"),
     "quarantined", ["published_in_future"]),
    ("dated_1970", item("Epoch story", "https://example.com/epoch",
                        "Thu, 01 Jan 1970 00:00:00 GMT"),
     "quarantined", ["published_before_1990"]),
    ("no_date", item("Undated story on TSMC", "https://example.com/tsmc", None),
     "warned", ["published_estimated"]),
]


@pytest.fixture(scope="module")
def news_run(tmp_path_factory, kit):
    from flows.news_tasks import NewsOptions, refresh_news
    from transforms import calendar
    from warehouse import load, seeds
    from warehouse.connection import connect, query_frame

    folder = tmp_path_factory.mktemp("news")
    feed = folder / "wire.xml"
    feed.write_text(rss(*GOOD_ITEMS, *(c[1] for c in ITEM_CASES)))
    securities = kit.securities()
    events = calendar.events_to_core(seeds.read_events())
    sessions = kit.sessions()
    day0 = calendar.event_day0(events, sessions)
    path = str(folder / "w.duckdb")
    con = connect(path)
    try:
        load.start_run(con, "news-1", "daily-refresh", "test", {})
        with load.transaction(con):
            refresh_news(
                con, "news-1",
                NewsOptions(source="snapshot", now=NOW, start=datetime(1960, 1, 1, tzinfo=UTC),
                            end=NOW),
                securities=securities, events=events, sessions=sessions, day0=day0,
                sources=[FeedSource([FeedSpec(name="wire", url=str(feed))], clock=lambda: NOW,
                                    sleep=lambda s: None)],
            )
        load.finish_run(con, "news-1", "success")
    finally:
        con.close()
    con = duckdb.connect(path, read_only=True)
    try:
        stories = query_frame(con, "SELECT url, title, quality_flags FROM core.fact_news")
        quarantine = query_frame(
            con, "SELECT row_json, reasons FROM audit.quarantine WHERE dataset = 'news'")
    finally:
        con.close()
    return stories, quarantine


@pytest.mark.parametrize(("name", "xml", "fate", "names"), ITEM_CASES,
                         ids=[c[0] for c in ITEM_CASES])
def test_bad_news_item(news_run, name, xml, fate, names):
    stories, quarantine = news_run
    title = xml.split("<title>")[1].split("</title>")[0]
    quarantined = [
        list(r["reasons"]) for r in quarantine.to_dicts()
        if json.loads(r["row_json"])["title"] == title
    ]
    loaded = stories.filter(pl.col("title") == title)
    if fate == "quarantined":
        assert quarantined == [names]
        assert loaded.height == 0
    else:
        assert quarantined == []
        assert loaded["quality_flags"].to_list() == [names]
    # every good item of the same feed was loaded, unflagged
    for good in GOOD_ITEMS:
        url = good.split("<link>")[1].split("</link>")[0]
        row = stories.filter(pl.col("url") == url)
        assert row.height == 1 and row["quality_flags"].to_list() == [[]], url


def test_news_run_quarantined_exactly_the_bad_items(news_run):
    _, quarantine = news_run
    assert quarantine.height == sum(1 for c in ITEM_CASES if c[2] == "quarantined")


@pytest.mark.parametrize(("title", "clean"), [
    ("&amp;amp;lt;script&amp;amp;gt;alert(1)&amp;amp;lt;/script&amp;amp;gt; Nvidia falls",
     "Nvidia falls"),
    ("&amp;amp;amp;amp;amp;lt;b&amp;amp;amp;amp;amp;gt;Deep", "Deep"),
    ("&amp;lt;img src=x onerror=alert(1)&amp;gt;ASML drops", "ASML drops"),
    ("AT&amp;amp;T &amp; Nvidia", "AT&T & Nvidia"),
    ("1 &lt; 2", "1 < 2"),  # text that is not a tag stays text
])
def test_titles_are_cleaned_to_a_fixed_point_however_deep_the_escaping(title, clean):
    from transforms.news import clean_text

    out = clean_text(pl.DataFrame({"title": [title], "summary": [title]}), ["title", "summary"])
    assert out.row(0) == (clean, clean)
    again = clean_text(out, ["title", "summary"])  # a fixed point: cleaning again is a no-op
    assert again.row(0) == (clean, clean)
