"""The news part of a run: extract -> land -> clean/dedupe/score -> validate -> load ->
detect events -> news marts; and what the reaction marts need from the news.

``fetch_news(options, ...)`` pulls every source and touches no warehouse: the flows call it
before their transaction, so the write lock is never held while feeds answer.
``load_news(con, run_id, fetched, ...)`` does the rest on an open connection inside the run's
transaction, after the prices and **before the reaction marts**, so news and prices commit
together and the reaction marts see this run's detected events and attention days
(``refresh_news`` is the two in one call, for tests and scripts). It orchestrates only:
sources fetch, transforms reshape, ``expectations.news`` judges, ``warehouse.news_load``
stores. A feed or channel that fails is recorded in ``audit.news_fetch_status`` and the run goes on.

Event detection (``transforms.detection``) runs over all loaded news each time: the detected
rows of ``core.dim_event`` (origin ``detected``) are replaced, catalog rows never touched.
``reaction_inputs(con, events, sessions, day0)`` then gives the reaction marts their events
(catalog + detected), day 0s and attention days (``marts.news_attention``).

Each step is a Prefect task when a flow is running; called outside a flow (tests, scripts)
the same functions run directly, without a Prefect API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
from prefect import task
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext

from contracts import EVENTS, empty
from contracts.news import NEWS_FETCH_STATUS, RAW_NEWS
from expectations.news import validate_news
from sources.base import SourceError
from sources.news_base import NewsQuery, NewsResult, NewsSource
from transforms import attention, calendar, detection, entities, news, sentiment
from warehouse import load, news_load

log = logging.getLogger(__name__)

#: Sources of a live run (``source`` other than demo), in order.
LIVE_SOURCES = ("yahoo", "feeds", "hn")
#: Window of a live run when none is given: what yfinance and feeds still hold.
LIVE_LOOKBACK = timedelta(days=30)
#: Events announced this recently get Hacker News searches on every live run.
HN_RECENT = timedelta(days=45)
#: Hacker News window around an event for a search (before, after the announcement).
HN_WINDOW = (timedelta(days=14), timedelta(days=31))
#: Known stories this much older than a batch's oldest are not dedupe candidates.
DEDUPE_LOOKBACK = timedelta(days=3)


@dataclass
class NewsOptions:
    """What the news part of a run can be told (CLI flags, deployment parameters).

    ``source``: the run's price source. 'demo' gives synthetic news; 'snapshot' (offline)
    reads only a ``feeds`` file if one is given (a replay) and nothing else; anything else
    reads the live sources in ``live_sources`` (yahoo, feeds, hn).
    ``feeds``: a feeds file (feeds.toml format, or one URL or file path a line) instead of
    warehouse/seeds/feeds.toml. ``history``: search Hacker News around every catalog event
    (a backfill), not only recent ones. ``start``/``end``: the publication window (UTC;
    default: the demo's whole span, or the last 30 days live). ``now``: the run's clock (the
    news suite rejects stories dated after it; undated items take it as their date).
    """

    source: str = "yahoo"
    feeds: str | None = None
    live_sources: tuple[str, ...] = LIVE_SOURCES
    history: bool = False
    start: datetime | None = None
    end: datetime | None = None
    seed: int | None = None
    now: datetime | None = None


def _run(step, *args, **kwargs):
    """A task inside a flow run; the plain function outside one."""
    if FlowRunContext.get() is not None:
        return step(*args, **kwargs)
    return step.fn(*args, **kwargs)


# --------------------------------------------------------------------------- tasks


@task(cache_policy=NONE)
def extract_news(source: NewsSource, start: datetime, end: datetime) -> NewsResult:
    """Fetch one news source; a source that fails as a whole becomes one 'error' row, so
    news never stops the run (channels' own failures are already status rows)."""
    try:
        return source.news(start, end)
    except Exception as exc:  # reported in the audit, never fatal
        log.exception("news source %s failed", source.name)
        message = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
        status = pl.DataFrame(
            [{"source": source.name, "channel": source.name, "status": "error", "rows": 0,
              "message": message}], schema=NEWS_FETCH_STATUS,
        )
        return NewsResult(frame=empty(RAW_NEWS), status=status)


@task(cache_policy=NONE)
def transform_news(raw: pl.DataFrame, known: pl.DataFrame,
                   scorer: sentiment.LexiconScorer | None = None):
    """Clean, deduplicate (against what the warehouse knows) and score: (stories, carriers)."""
    stories, carriers = news.deduplicate(news.clean(raw), known)
    return sentiment.add_sentiment(stories, scorer or sentiment.default_scorer()), carriers


@task(cache_policy=NONE)
def validate_stories(stories: pl.DataFrame, now: datetime):
    """The news suite: rejected stories go to quarantine, the rest load."""
    return validate_news(stories, now)


@task(cache_policy=NONE)
def tag_stories(stories: pl.DataFrame, aliases: pl.DataFrame, universe: list[str]):
    """Which tickers, labs and models each story names."""
    return entities.tag_entities(stories, aliases, universe)


@task(cache_policy=NONE)
def detect_new_events(stories: pl.DataFrame, tags: pl.DataFrame, events: pl.DataFrame,
                      aliases: pl.DataFrame, lab_channels: dict[str, str | None]):
    """Models the catalog does not know, from lab posts and bursts of stories."""
    return detection.detect_events(stories, tags, events, aliases=aliases,
                                   lab_channels=lab_channels)


@task(cache_policy=NONE)
def build_news_marts(stories, tags, events, sessions, day0) -> dict[str, pl.DataFrame]:
    """marts.news_attention and marts.ticker_news_daily over all loaded news."""
    return {
        "marts.news_attention": attention.news_attention(stories, tags, events, sessions, day0),
        "marts.ticker_news_daily": attention.ticker_news_daily(stories, tags),
    }


# --------------------------------------------------------------------------- wiring


def news_window(options: NewsOptions, now: datetime) -> tuple[datetime, datetime]:
    """The publication window of a run."""
    end = options.end or now
    if options.start:
        return options.start, end
    if options.source == "demo":
        from sources.demo import EPOCH

        return datetime.combine(EPOCH, datetime.min.time(), UTC), end
    return end - LIVE_LOOKBACK, end


def make_news_sources(
    options: NewsOptions,
    securities: pl.DataFrame,
    events: pl.DataFrame,
    seeds: news_load.NewsSeeds,
    aliases: pl.DataFrame,
    now: datetime,
) -> list[NewsSource]:
    """The sources a run reads, from its options and the news seeds."""
    if options.source == "demo":
        from sources.news_demo import DemoNewsSource

        kwargs = {"seed": options.seed} if options.seed is not None else {}
        return [DemoNewsSource(events, clock=lambda: now, **kwargs)]
    live = options.live_sources
    if options.source == "snapshot":  # offline: a replayed feeds file at most
        live = ("feeds",) if options.feeds else ()
    unknown = sorted(set(live) - set(LIVE_SOURCES))
    if unknown:
        raise SourceError(f"unknown news source(s) {', '.join(unknown)}: {', '.join(LIVE_SOURCES)}")
    if not live:
        return []
    recent = now - timedelta(days=seeds.search_recent_days)
    terms = entities.search_terms(events, aliases, since=recent)
    built: list[NewsSource] = []
    if "yahoo" in live:
        from sources.news_yahoo import YahooNewsSource

        listed = securities.filter(pl.col("kind").is_in(["equity", "adr"]))["ticker"].to_list()
        built.append(YahooNewsSource(listed, terms, clock=lambda: now))
    if "feeds" in live:
        from sources.news_feeds import FeedSource, FeedSpec, search_feeds

        specs = [FeedSpec.from_dict(f) for f in seeds.feeds]
        if options.feeds is None:  # a replayed feed list reads only what it lists
            specs += search_feeds(seeds.search_template, [*terms, *seeds.search_extra_terms])
        built.append(FeedSource(specs, clock=lambda: now))
    if "hn" in live:
        from sources.news_hn import HackerNewsSource

        wanted = events if options.history else events.filter(
            pl.col("announced_at") >= now - HN_RECENT
        )
        windows = entities.event_windows(wanted, aliases, *HN_WINDOW)
        queries = [NewsQuery(r["query"], r["start"], r["end"]) for r in windows.to_dicts()]
        built.append(HackerNewsSource(queries, clock=lambda: now))
    return built


@dataclass(frozen=True)
class FetchedNews:
    """What :func:`fetch_news` brought back, with what loading it needs: the window, the run's
    clock, the news seeds and the entity aliases built from them."""

    result: NewsResult
    start: datetime
    end: datetime
    now: datetime
    seeds: news_load.NewsSeeds
    aliases: pl.DataFrame


def fetch_news(
    options: NewsOptions | None = None,
    *,
    securities: pl.DataFrame,
    events: pl.DataFrame,
    sources: list[NewsSource] | None = None,
) -> FetchedNews:
    """Pull every news source of the run. Touches no warehouse, so the flow calls it before
    its transaction (the write lock is not held while feeds answer). ``sources`` overrides the
    sources the options would build (tests, replays)."""
    options = options or NewsOptions()
    now = options.now or datetime.now(UTC)
    seeds = news_load.read_news_seeds(options.feeds)
    aliases = entities.build_aliases(
        securities, events, seeds.entities, seeds.case_sensitive, seeds.symbol_stoplist
    )
    start, end = news_window(options, now)
    if sources is None:
        sources = make_news_sources(options, securities, events, seeds, aliases, now)
    result = NewsResult.combine([_run(extract_news, s, start, end) for s in sources])
    return FetchedNews(result, start, end, now, seeds, aliases)


def load_news(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    fetched: FetchedNews,
    *,
    securities: pl.DataFrame,
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    day0: pl.DataFrame,
) -> dict[str, int]:
    """Land, clean, deduplicate, tag, score, validate and load fetched news; detect events;
    rebuild the news marts.

    Runs on ``con`` without committing (call it inside ``load.transaction``). ``events`` is
    the EVENTS contract (core.dim_event), ``sessions``/``day0`` as the flow builds them
    (``transforms.calendar``). Returns counts keyed ``news.<stage>`` and ``marts.<table>``.
    """
    raw, start, now = fetched.result.frame, fetched.start, fetched.now
    counts = {
        "news.extracted": raw.height,
        "news.raw_landed": news_load.land_raw_news(con, raw, run_id),
        "news.channels_failed": fetched.result.status.filter(pl.col("status") == "error").height,
    }
    load.append(con, "audit.news_fetch_status",
                fetched.result.status.with_columns(run_id=pl.lit(run_id)))

    oldest = raw["published_at"].min() if raw.height else None
    since = (oldest - DEDUPE_LOOKBACK) if isinstance(oldest, datetime) else start
    known = news_load.read_known_news(con, min(since, start - DEDUPE_LOOKBACK))
    stories, carriers = _run(transform_news, raw, known, sentiment.default_scorer())
    outcome = _run(validate_stories, stories, now)
    good = outcome.good
    good_ids = good["news_id"].to_list()
    tags = _run(tag_stories, good, fetched.aliases, securities["ticker"].to_list())

    merged = news_load.upsert_news(con, good, run_id, now)
    counts |= {
        "news.stories": stories.height,
        "news.inserted": merged["inserted"],
        "news.seen_again": merged["updated"],
        "news.quarantined": load.quarantine(con, outcome.rejected, "news", ["news_id"], run_id),
        "news.carriers_inserted": news_load.upsert_news_sources(
            con, carriers.filter(pl.col("news_id").is_in(good_ids)), run_id, now
        ),
    }
    tagged = news_load.upsert_news_entities(con, tags, good_ids, run_id)
    counts |= {"news.tags_inserted": tagged["inserted"], "news.tags_deleted": tagged["deleted"]}
    load.append(con, "audit.validation_result",
                outcome.results.with_columns(run_id=pl.lit(run_id)))

    all_news, all_tags = news_load.read_news_for_marts(con)
    detected = _run(detect_new_events, news_load.read_news_for_detection(con), all_tags, events,
                    fetched.aliases, lab_channels(fetched.seeds))
    counts["events.detected"] = store_detected_events(con, detected)
    study_events = pl.concat([events.select(*EVENTS), detected.select(*EVENTS)])
    study_day0 = pl.concat([day0, calendar.event_day0(detected.select(*EVENTS), sessions)])
    study_tags = pl.concat(
        [all_tags, detection.detected_tags(detected)], how="vertical_relaxed"
    )
    marts = _run(build_news_marts, all_news, study_tags, study_events, sessions, study_day0)
    for table, frame in marts.items():
        counts[table] = load.replace_table(con, table, frame)
    return counts


def refresh_news(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    options: NewsOptions | None = None,
    *,
    securities: pl.DataFrame,
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    day0: pl.DataFrame,
    sources: list[NewsSource] | None = None,
) -> dict[str, int]:
    """:func:`fetch_news` then :func:`load_news` (tests and scripts; the flows fetch before
    their transaction and load inside it)."""
    fetched = fetch_news(options, securities=securities, events=events, sources=sources)
    return load_news(con, run_id, fetched, securities=securities, events=events,
                     sessions=sessions, day0=day0)


# --------------------------------------------------------------------------- detected events


def lab_channels(seeds: news_load.NewsSeeds) -> dict[str, str | None]:
    """channel -> lab (or None) of every lab feed (``kind = "lab"`` in feeds.toml)."""
    return {f"feed:{f['name']}": f.get("lab") for f in seeds.feeds if f.get("kind") == "lab"}


def read_detected_events(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The detected rows of core.dim_event (EVENTS + origin and the detection columns)."""
    return news_load.read_detected_events(con, {**EVENTS, **detection.DIM_EVENT_EXTRA})


def store_detected_events(con: duckdb.DuckDBPyConnection, detected: pl.DataFrame) -> int:
    """Replace the detected rows of core.dim_event with ``detected``; catalog rows (and any
    id the table already holds for them) are never touched. Returns the rows written."""
    taken = news_load.clear_detected_events(con)
    rows = detection.dim_event_rows(detected.head(0), detected).filter(
        ~pl.col("event_id").is_in(taken.implode())
    )
    return load.append(con, "core.dim_event", rows)


@dataclass
class ReactionInputs:
    """What build_reaction_marts needs beyond prices: ``events`` (catalog + detected, with
    ``origin``), ``day0`` (announcement day 0 of every one of them, with day0_idx) and
    ``attention`` (event_id, attention_date; None when no event has one)."""

    events: pl.DataFrame
    day0: pl.DataFrame
    attention: pl.DataFrame | None


def reaction_inputs(
    con: duckdb.DuckDBPyConnection,
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    day0: pl.DataFrame,
) -> ReactionInputs:
    """Events, day 0s and attention days for the reaction marts, after :func:`refresh_news`.

    ``events``/``day0``: the catalog (EVENTS) and its day 0s as the flow builds them; the
    detected events stored in core.dim_event are added, with their day 0s on every venue of
    ``sessions``.
    """
    detected = read_detected_events(con)
    all_events = pl.concat([
        events.select(*EVENTS).with_columns(origin=pl.lit(detection.ORIGIN_CATALOG)),
        detected.select(*EVENTS, "origin"),
    ])
    all_day0 = pl.concat([day0, calendar.event_day0(detected.select(*EVENTS), sessions)])
    return ReactionInputs(
        events=all_events,
        day0=all_day0.sort("event_id", "exchange_mic"),
        attention=news_load.read_attention(con),
    )


__all__ = ["FetchedNews", "NewsOptions", "ReactionInputs", "fetch_news", "load_news",
           "make_news_sources", "reaction_inputs", "read_detected_events",
           "refresh_news", "store_detected_events"]
