"""transforms.news: small frames in, exact frames out; then the recorded feeds end to end."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from contracts import empty
from contracts.news import CLEAN_NEWS, CORE_NEWS, NEWS_SOURCE, RAW_NEWS
from sources.news_feeds import FeedSource, FeedSpec
from transforms.news import (
    KNOWN_NEWS,
    canonical_url,
    clean,
    deduplicate,
    news_ids,
    parse_wire_time,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "news"
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "news"
FETCHED = datetime(2025, 1, 30, 12, 0, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def raw(**overrides) -> dict:
    row = {c: None for c in RAW_NEWS}
    row.update(source="feed", channel="feed:x", title="A headline about chips today",
               url="https://example.com/a", published_raw="Mon, 27 Jan 2025 14:05:00 GMT",
               related_tickers=[], fetched_at=FETCHED)
    row.update(overrides)
    return row


def frame(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=RAW_NEWS)


# -- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("TSMC &amp; ASML rally as <em>AI demand</em> holds up",
         "TSMC & ASML rally as AI demand holds up"),
        ("Nvidia <script>alert('x')</script>slides", "Nvidia slides"),
        ("&lt;b&gt;Escaped&lt;/b&gt; markup &amp;amp; double", "Escaped markup & double"),
        ("Meta&#39;s model &#x2014; &ldquo;Llama&rdquo;", "Meta's model \u2014 \u201cLlama\u201d"),
        ("Zero\u200bwidth\u200c and\u00a0NBSP   spaces\n", "Zerowidth and NBSP spaces"),
        ("Kochi to raise  <span class=\"webrupee\">\u20b9</span>4,000 crore",
         "Kochi to raise \u20b94,000 crore"),
        ("<script>track()</script><img src=x>", None),
        ("AT&T and S&P 500 < 5000", "AT&T and S&P 500 < 5000"),
    ],
)
def test_titles_are_stripped_and_decoded(title, expected):
    assert clean(frame(raw(title=title)))["title"].to_list() == [expected]


def test_summaries_lose_block_markup_but_keep_words_apart():
    out = clean(frame(raw(summary="<p>First.</p><p>Second<br/>line &nbsp;end</p>")))
    assert out["summary"].to_list() == ["First. Second line end"]


# -- URL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.Example.com/a/b/?utm_source=x&b=2&a=1#frag", "https://example.com/a/b?a=1&b=2"),
        ("http://heise.de:80/x?wt_mc=rss.ho.beitrag.atom", "https://heise.de/x"),
        ("https://news.google.com/rss/articles/CBM123?oc=5", "https://news.google.com/rss/articles/CBM123"),
        ("https://www.wsj.com/tech/ai/x-1a2b?siteid=yhoof2&yptr=yahoo", "https://wsj.com/tech/ai/x-1a2b"),
        ("https://finance.yahoo.com/news/x.html?.tsrc=rss", "https://finance.yahoo.com/news/x.html"),
        ("https://example.com:8443/p?id=7&fbclid=abc&gclid=d", "https://example.com:8443/p?id=7"),
        ("  https://www1.folha.uol.com.br/poder/  ", "https://folha.uol.com.br/poder"),
        ("https://example.com", "https://example.com"),
        ("ftp://example.com/a", None),
        ("not a url", None),
        ("https://localhost/a", None),
        (None, None),
    ],
)
def test_canonical_url(url, expected):
    out = pl.DataFrame({"u": [url]}, schema={"u": pl.String}).select(canonical_url(pl.col("u")))
    assert out.to_series().to_list() == [expected]


def test_news_id_is_a_stable_hash_of_the_canonical_url():
    ids = news_ids(pl.Series(["https://example.com/a", None]))
    assert ids.to_list() == [hashlib.sha256(b"https://example.com/a").hexdigest()[:32], None]


# -- time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "instant", "assumed"),
    [
        ("Wed, 29 May 2019 10:16:00 GMT", utc(2019, 5, 29, 10, 16), False),
        ("Tue, 4 Aug 2026 20:44 GMT", utc(2026, 8, 4, 20, 44), False),
        ("Fri, 28 May 2021 00:00:00 +0000", utc(2021, 5, 28), False),
        ("Mon, 27 Jan 2025 9:05:00 EST", utc(2025, 1, 27, 14, 5), False),
        ("Seg, 24 Set 2018 19:42:40 -0300", utc(2018, 9, 24, 22, 42, 40), False),
        ("Mon, 28 Jan 2025 10:00:00 GMT", utc(2025, 1, 28, 10), False),  # wrong weekday
        ("2016-02-01T17:22:00+01:00", utc(2016, 2, 1, 16, 22), False),
        ("2025-01-27T14:05:00.000Z", utc(2025, 1, 27, 14, 5), False),
        ("2020/1/10 14:33:00", utc(2020, 1, 10, 14, 33), True),
        ("2025-01-27 14:05:00", utc(2025, 1, 27, 14, 5), True),
        ("2026-09-16", utc(2026, 9, 16), True),
        ("1737972900", None, False),
        ("garbage", None, False),
        (None, None, False),
    ],
)
def test_wire_dates(text, instant, assumed):
    out = parse_wire_time(pl.DataFrame({"t": [text]}, schema={"t": pl.String}), "t")
    assert out.row(0) == (instant, assumed)


def test_time_sources_in_order_wire_library_fetch():
    out = clean(frame(
        raw(url="https://e.com/1", published_raw="2020/1/10 14:33:00",
            published_at=utc(2020, 11, 1)),  # feedparser's misreading loses to the wire
        raw(url="https://e.com/2", published_raw="1737972900", published_at=utc(2025, 1, 27)),
        raw(url="https://e.com/3", published_raw=None, published_at=None),
    ))
    assert out.select("published_at", "published_from", "published_estimated",
                      "tz_assumed").rows() == [
        (utc(2020, 1, 10, 14, 33), "wire", False, True),
        (utc(2025, 1, 27), "library", False, False),
        (FETCHED, "fetched_at", True, False),
    ]
    assert out.schema == pl.Schema(CLEAN_NEWS)


def test_title_key_drops_the_publisher_suffix_and_short_titles():
    out = clean(frame(
        raw(title="Oil jumps as talks stall - Crude Oil Prices Today | OilPrice.com",
            publisher="Crude Oil Prices Today | OilPrice.com"),
        raw(title="Claude 2", url="https://e.com/2"),
    ))
    assert out["title_key"].to_list() == ["oil jumps as talks stall", None]


# -- dedupe ----------------------------------------------------------------------------------


def test_same_canonical_url_is_one_story_with_every_carrier():
    stories, carriers = deduplicate(clean(frame(
        raw(channel="feed:a", url="https://www.e.com/s?utm_source=a",
            published_raw="Mon, 27 Jan 2025 14:10:00 GMT"),
        raw(source="hn", channel="hn:q", url="http://e.com/s#c", title="Other title text here"),
        raw(channel="feed:a", url="https://e.com/s"),  # the same feed twice: one carrier
    )))
    assert stories.schema == pl.Schema(CORE_NEWS) and carriers.schema == pl.Schema(NEWS_SOURCE)
    (story,) = stories.to_dicts()
    assert story["news_id"] == news_ids(pl.Series(["https://e.com/s"]))[0]
    assert story["title"] == "Other title text here"  # the earliest copy (14:05) is kept
    assert story["sources"] == ["feed", "hn"] and story["n_channels"] == 2
    assert carriers.select("source", "channel", "url").rows() == [
        ("feed", "feed:a", "https://e.com/s"),
        ("hn", "hn:q", "http://e.com/s#c"),
    ]


def test_same_title_within_48_hours_is_one_story_not_beyond():
    title = "Nvidia shares plunge 17% as DeepSeek rattles AI trade"
    stories, carriers = deduplicate(clean(frame(
        raw(channel="feed:a", url="https://a.com/1", title=title,
            published_raw="Mon, 27 Jan 2025 14:00:00 GMT"),
        raw(channel="feed:b", url="https://b.com/2", title=title.upper() + "!",
            published_raw="Wed, 29 Jan 2025 13:00:00 GMT"),  # 47 h later
        raw(channel="feed:c", url="https://c.com/3", title=title,
            published_raw="Sat, 08 Feb 2025 13:00:00 GMT"),  # ten days later: another story
    )))
    assert stories.height == 2
    first = stories.row(0, named=True)
    assert first["url"] == "https://a.com/1" and first["n_channels"] == 2
    assert carriers.group_by("news_id").len().sort("len")["len"].to_list() == [1, 2]


def test_links_chain_url_and_title_matches():
    title = "DeepSeek-R1 tops the App Store as Nvidia shares plunge"
    stories, _ = deduplicate(clean(frame(
        raw(channel="feed:a", url="https://a.com/1", title=title),
        raw(channel="feed:b", url="https://b.com/2", title=title),      # title -> a
        raw(channel="hn:q", url="https://b.com/2?ref=hn", title="Show HN: something else"),
    )))
    assert stories.height == 1 and stories["n_channels"].to_list() == [3]


def test_known_stories_keep_their_id():
    known = pl.DataFrame(
        [{"news_id": "k" * 32, "canonical_url": "https://old.com/story",
          "title": "DeepSeek-R1 tops the App Store as Nvidia shares plunge",
          "publisher": None, "published_at": utc(2025, 1, 27, 13)}],
        schema=KNOWN_NEWS,
    )
    stories, carriers = deduplicate(clean(frame(
        raw(url="https://new.com/copy",
            title="DeepSeek-R1 tops the App Store as Nvidia shares plunge"),
        raw(url="https://old.com/story?utm_campaign=x", title="A different title entirely here"),
        raw(url="https://fresh.com/x", title="Something else entirely new today"),
    )), known)
    assert sorted(stories["news_id"].to_list()) == sorted(
        ["k" * 32, news_ids(pl.Series(["https://fresh.com/x"]))[0]]
    )
    assert carriers.filter(pl.col("news_id") == "k" * 32).height == 1  # one channel: feed:x


def test_rows_without_url_stay_single_and_unkeyed():
    stories, carriers = deduplicate(clean(frame(
        raw(url="mailto:x@y.z", title="Mail link story number one"),
        raw(url=None, title="No link at all in this story"),
    )))
    assert stories["news_id"].to_list() == [None, None]
    assert carriers.height == 0


def test_empty_input():
    assert clean(empty(RAW_NEWS)).schema == pl.Schema(CLEAN_NEWS)
    stories, carriers = deduplicate(empty(CLEAN_NEWS))
    assert stories.height == 0 and carriers.height == 0


# -- recorded feeds end to end ---------------------------------------------------------------


def test_recorded_rss_and_atom_give_exact_stories():
    source = FeedSource([FeedSpec("lab", str(FIXTURES / "lab_blog_rss.xml")),
                         FeedSpec("newsroom", str(FIXTURES / "newsroom_atom.atom")),
                         FeedSpec("pt", str(FIXTURES / "latin1_no_decl.xml"))],
                        clock=lambda: FETCHED)
    stories, carriers = deduplicate(clean(source.news().frame))

    assert stories.select("title", "published_at", "published_from", "n_channels").rows() == [
        ("DeepSeek-R1 tops the App Store as Nvidia shares plunge", utc(2025, 1, 27, 14, 5),
         "wire", 2),
        ("Ações da Nvidia caem após DeepSeek", utc(2025, 1, 27, 19, 20), "wire", 1),
        ("Nvidia shares plunge 17% as DeepSeek rattles AI trade", utc(2025, 1, 27, 21, 15),
         "wire", 1),
        ("Meta's metadata team ships Llama-2 update", utc(2025, 1, 28, 7), "wire", 1),
        (None, utc(2025, 1, 28, 10), "wire", 1),  # the script-only title: for the suite
        ("TSMC & ASML rally as AI demand holds up", utc(2025, 1, 28, 14, 30), "wire", 1),
        ("Introducing our new reasoning model", FETCHED, "fetched_at", 1),
    ]
    assert stories["canonical_url"].to_list()[0] == (
        "https://markets.example.com/2025/01/27/deepseek-r1-app-store"
    )
    assert stories["summary"].to_list()[0] == "The DeepSeek app overtook ChatGPT & rattled $NVDA."
    assert carriers.height == 8


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"real recorded feeds not found at {SAMPLES}")
def test_real_feeds_clean_dates_and_dedupe():
    names = ["awkward-rss-kc0011-gb2312-2020-01.xml",
             "awkward-rss-uol-noticias-latin1-no-xml-decl-2018-09.xml",
             "awkward-rss-livemint-cdata-2019-05.xml", "rss-googlenews-brent-crude-2026-08.xml"]
    source = FeedSource([FeedSpec(n, str(SAMPLES / n)) for n in names], clock=lambda: FETCHED)
    cleaned = clean(source.news().frame)
    stories, _ = deduplicate(cleaned)

    gb = cleaned.filter(pl.col("channel") == f"feed:{names[0]}")
    assert gb["published_at"].min() == utc(2020, 1, 10, 14, 3)  # not feedparser's 2020-11-01
    assert gb["tz_assumed"].all()
    uol = cleaned.filter(pl.col("channel") == f"feed:{names[1]}")
    assert uol["published_from"].unique().to_list() == ["wire"]  # Portuguese dates read
    assert uol["published_at"].max() == utc(2018, 9, 24, 22, 42, 40)
    mint = cleaned.filter(pl.col("channel") == f"feed:{names[2]}")
    assert "SmartCity Kochi to raise \u20b94,000 crore from investors" in mint["title"].to_list()
    assert not cleaned["title"].drop_nulls().str.contains("<").any()
    # UOL lists one story twice (its own URL and a redirect): one story, two copies
    assert cleaned.height - stories.height == 1
    assert cleaned["published_at"].null_count() == 0
