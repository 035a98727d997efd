"""When did the market notice? News attention per event and session (marts.news_attention),
and news per ticker and day (marts.ticker_news_daily). Pure polars.

A story belongs to the first session of the reference venue (XNYS by default) that closes at
or after its publication instant: a story published after Monday's close counts for Tuesday,
one published on Saturday for Monday. ``rel_day`` is that session's offset from the event's
day 0 on the same venue (``core.fact_event_day0``). For each event and rel_day -10..+20:

* ``stories_total``: every story of that session (the news flow as a whole);
* ``stories_event``: stories naming the event's lab or its model (the bridge table);
* ``stories_model``: stories naming the model itself;
* ``mean_sentiment``: mean sentiment of the event's stories (null without any);
* ``top_headlines``: up to three of the event's headlines, most widely carried first
  (channels that carried it), then naming the model, then earliest;
* ``publishers_event``: distinct publishers of those stories (:func:`outlet`);
* the **attention day**: the session in [0, +10] with the most event stories among those that
  carry **evidence** (:func:`attention_evidence`): at least :data:`MIN_PUBLISHERS` distinct
  publishers that session, and a **burst**: at least :data:`MIN_BURST` times the event's own
  baseline (:data:`BASELINE_SPAN`, floored at :data:`BASELINE_FLOOR`). Ties: the earliest.
  ``is_attention_day`` marks its row; ``attention_rel_day``/``attention_date`` repeat it on
  every row of the event, null when no session has the evidence — never a guessed day.
  ``attention_stories``/``attention_publishers``/``attention_baseline``/``attention_burst``
  are the numbers of the session judged (the attention day, else the event's busiest session
  in the span) and ``attention_reason`` names why there is no attention day (:data:`REASONS`;
  null when there is one).

DeepSeek-R1 (announced 2025-01-20, a US holiday, so day 0 is Tuesday 2025-01-21) has its
attention day at +4, Monday 2025-01-27, when the app topped the App Store (demo news). A story
or two is not evidence: on the recorded test feeds alone (one story naming R1 that Monday,
published by a lab blog, and one on Tuesday) R1 has no attention day (``too_few_publishers``).

The reaction marts measure every event a second time from its attention day
(``anchor = 'attention'``, transforms/reactions.py): ``warehouse.news_load.read_attention``
hands them (event_id, attention_date). Events detected in the news come in with ``events``
and their stories' model tags (``transforms.detection.detected_tags``) like catalog events.
"""

from __future__ import annotations

import polars as pl

from contracts import conform, empty
from contracts.news import NEWS_ATTENTION, TICKER_NEWS_DAILY

WINDOW = (-10, 20)
ATTENTION_SPAN = (0, 10)
TOP_HEADLINES = 3
REFERENCE_MIC = "XNYS"

#: Distinct publishers (:func:`outlet`) the event's stories need on a session for it to be
#: the attention day. One blog post, or one outlet's flurry, is not the market noticing:
#: three independent outlets on the same session are.
MIN_PUBLISHERS = 3
#: The attention day's event stories must be at least this multiple of the event's baseline
#: (``attention_burst`` = stories_event / ``attention_baseline``). Coverage that the lab gets
#: every day anyway is not attention; tripling it is.
MIN_BURST = 3.0
#: The baseline's sessions (rel_day, inclusive): the ten sessions before day 0. The baseline
#: is the mean ``stories_event`` (stories naming the lab or the model) over those of them
#: the session grid holds — the event's own pre-announcement coverage.
BASELINE_SPAN = (-10, -1)
#: Floor of the baseline, in stories per session. A lab nobody wrote about before the
#: announcement (or news not recorded that far back) has a baseline of 0, against which any
#: story would be an infinite burst: floored at 1, the burst rule then asks for
#: ``MIN_BURST`` stories that session, and a steadily covered lab (say 5 a session) for 15.
BASELINE_FLOOR = 1.0
#: Why an event has no attention day (``attention_reason``), checked in this order on the
#: session judged (the busiest in the span): no story named the event in [0, +10]; fewer than
#: MIN_PUBLISHERS publishers; fewer than MIN_BURST times the baseline.
REASONS = ("no_stories", "too_few_publishers", "no_burst")


def story_sessions(news: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """news (news_id, published_at, ...) + session_date, session_idx of the reference venue."""
    grid = sessions.select("session_date", "session_idx", "close_utc").sort("close_utc")
    return (
        news.filter(pl.col("published_at").is_not_null())
        .sort("published_at")
        .join_asof(grid, left_on="published_at", right_on="close_utc", strategy="forward")
        .drop("close_utc")
        .filter(pl.col("session_idx").is_not_null())
    )


def outlet() -> pl.Expr:
    """Who published a story, for counting distinct publishers: its ``publisher`` trimmed and
    case-folded; the ``source`` when the publisher is unknown (so unnamed stories of one
    source count as one publisher, never as many); the story itself as a last resort."""
    name = pl.col("publisher").cast(pl.String).str.strip_chars().str.to_lowercase()
    return pl.coalesce(pl.when(name != "").then(name), pl.col("source"), pl.col("news_id"))


def attention_evidence(days: pl.DataFrame) -> pl.DataFrame:
    """One row per event: its attention day, if the evidence holds, and the evidence.

    ``days``: event_id, rel_day, session_date, stories_event, publishers_event (one row per
    event and session of the grid, as in marts.news_attention). Returns event_id,
    attention_rel_day, attention_date (null without evidence), attention_stories,
    attention_publishers, attention_baseline, attention_burst and attention_reason.

    The baseline is the mean ``stories_event`` over :data:`BASELINE_SPAN` (the sessions the
    grid holds), at least :data:`BASELINE_FLOOR`. A session of :data:`ATTENTION_SPAN`
    qualifies with at least :data:`MIN_PUBLISHERS` publishers and ``stories_event >=
    MIN_BURST * baseline``. The session judged is the busiest qualifying one (earliest on
    ties), else the busiest of the span (then the one with most publishers, then the
    earliest); its numbers are the evidence and, when it does not qualify, the first rule it
    fails (:data:`REASONS`) is the reason.
    """
    days = days.select("event_id", "rel_day", "session_date", "stories_event",
                       "publishers_event")
    events = days.select("event_id").unique()
    baseline = (
        days.filter(pl.col("rel_day").is_between(*BASELINE_SPAN))
        .group_by("event_id")
        .agg(_baseline=pl.col("stories_event").mean())
    )
    baseline = events.join(baseline, on="event_id", how="left").select(
        "event_id",
        attention_baseline=pl.max_horizontal(
            pl.col("_baseline").fill_null(0.0), pl.lit(BASELINE_FLOOR)
        ),
    )
    judged = (
        days.filter(pl.col("rel_day").is_between(*ATTENTION_SPAN))
        .join(baseline, on="event_id")
        .with_columns(attention_burst=pl.col("stories_event") / pl.col("attention_baseline"))
        .with_columns(
            _qualifies=(pl.col("publishers_event") >= MIN_PUBLISHERS)
            & (pl.col("attention_burst") >= MIN_BURST)
        )
        .sort(
            ["event_id", "_qualifies", "stories_event", "publishers_event", "rel_day"],
            descending=[False, True, True, True, False],
        )
        .group_by("event_id", maintain_order=True)
        .first()
    )
    reason = (
        pl.when(pl.col("_qualifies")).then(pl.lit(None, pl.String))
        .when(pl.col("attention_stories") == 0).then(pl.lit(REASONS[0]))
        .when(pl.col("attention_publishers") < MIN_PUBLISHERS).then(pl.lit(REASONS[1]))
        .otherwise(pl.lit(REASONS[2]))
    )
    return (
        baseline.join(judged.drop("attention_baseline"), on="event_id", how="left")
        .with_columns(  # an event without a session in the span: nothing named it there
            pl.col("_qualifies").fill_null(False),
            attention_stories=pl.col("stories_event").fill_null(0),
            attention_publishers=pl.col("publishers_event").fill_null(0),
            attention_burst=pl.col("attention_burst").fill_null(0.0),
        )
        .select(
            "event_id",
            attention_rel_day=pl.when("_qualifies").then(pl.col("rel_day")),
            attention_date=pl.when("_qualifies").then(pl.col("session_date")),
            attention_stories=pl.col("attention_stories").cast(pl.Int64),
            attention_publishers=pl.col("attention_publishers").cast(pl.Int64),
            attention_baseline=pl.col("attention_baseline").cast(pl.Float64),
            attention_burst=pl.col("attention_burst").cast(pl.Float64),
            attention_reason=reason,
        )
        .sort("event_id")
    )


def news_attention(
    news: pl.DataFrame,
    entities: pl.DataFrame,
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    day0: pl.DataFrame,
    exchange_mic: str = REFERENCE_MIC,
) -> pl.DataFrame:
    """marts.news_attention (NEWS_ATTENTION) for every event with a day 0 on ``exchange_mic``.

    ``news``: news_id, title, published_at, sentiment, n_channels, source, publisher
    (core.fact_news);
    ``entities``: news_id, entity_type, entity_id (core.bridge_news_entity); ``events``:
    event_id, lab; ``sessions``: the venue's session grid (exchange_mic, session_date,
    session_idx, close_utc); ``day0``: event_id, exchange_mic, day0_idx.
    """
    grid = sessions.filter(pl.col("exchange_mic") == exchange_mic)
    starts = (
        day0.filter(pl.col("exchange_mic") == exchange_mic)
        .select("event_id", "day0_idx")
        .join(events.select("event_id"), on="event_id", how="semi")
    )
    if grid.height == 0 or starts.height == 0:
        return empty(NEWS_ATTENTION)
    offsets = pl.DataFrame({"rel_day": pl.int_range(WINDOW[0], WINDOW[1] + 1, eager=True)})
    frame = (
        starts.join(offsets, how="cross")
        .with_columns(session_idx=pl.col("day0_idx") + pl.col("rel_day"))
        .join(grid.select("session_idx", "session_date"), on="session_idx", how="inner")
    )
    placed = story_sessions(
        news.select("news_id", "title", "published_at", "sentiment", "n_channels", "source",
                    outlet=outlet()),
        grid,
    )
    totals = placed.group_by("session_idx").agg(stories_total=pl.len().cast(pl.Int64))

    labs = events.select("event_id", entity_type=pl.lit("lab"), entity_id="lab")
    models = events.select("event_id", entity_type=pl.lit("model"), entity_id="event_id")
    names = pl.concat([labs, models])
    naming = (
        entities.select("news_id", "entity_type", "entity_id")
        .join(names, on=["entity_type", "entity_id"], how="inner")
        .group_by("event_id", "news_id")
        .agg(names_model=(pl.col("entity_type") == "model").any())
    )
    event_stories = (
        naming.join(placed, on="news_id", how="inner")
        .join(frame.select("event_id", "session_idx"), on=["event_id", "session_idx"])
    )
    per_day = (
        event_stories.sort(
            ["n_channels", "names_model", "published_at", "news_id"],
            descending=[True, True, False, False],
        )
        .group_by("event_id", "session_idx", maintain_order=True)
        .agg(
            stories_event=pl.len().cast(pl.Int64),
            stories_model=pl.col("names_model").sum().cast(pl.Int64),
            mean_sentiment=pl.col("sentiment").mean(),
            top_headlines=pl.col("title").head(TOP_HEADLINES),
            news_sources=pl.col("source").unique().sort(),
            publishers_event=pl.col("outlet").n_unique().cast(pl.Int64),
        )
    )
    out = (
        frame.join(totals, on="session_idx", how="left")
        .join(per_day, on=["event_id", "session_idx"], how="left")
        .with_columns(
            pl.col("stories_total", "stories_event", "stories_model", "publishers_event")
            .fill_null(0),
            pl.col("top_headlines").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("news_sources").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            exchange_mic=pl.lit(exchange_mic),
        )
    )
    out = out.join(attention_evidence(out), on="event_id", how="left").with_columns(
        is_attention_day=(pl.col("rel_day") == pl.col("attention_rel_day")).fill_null(False)
    )
    return conform(out.sort("event_id", "rel_day"), NEWS_ATTENTION, "news attention")


def ticker_news_daily(news: pl.DataFrame, entities: pl.DataFrame) -> pl.DataFrame:
    """marts.ticker_news_daily: per (ticker, UTC date of publication) the stories naming it."""
    tagged = entities.filter(pl.col("entity_type") == "ticker").select(
        "news_id", ticker="entity_id", in_title="in_title"
    )
    if tagged.height == 0 or news.height == 0:
        return empty(TICKER_NEWS_DAILY)
    out = (
        tagged.join(news.select("news_id", "published_at", "sentiment", "source"), on="news_id")
        .with_columns(news_date=pl.col("published_at").dt.date())
        .group_by("ticker", "news_date")
        .agg(
            stories=pl.col("news_id").n_unique().cast(pl.Int64),
            stories_in_title=pl.col("news_id").filter(pl.col("in_title")).n_unique()
            .cast(pl.Int64),
            mean_sentiment=pl.col("sentiment").mean(),
            news_sources=pl.col("source").unique().sort(),
        )
    )
    return conform(out.sort("ticker", "news_date"), TICKER_NEWS_DAILY, "ticker news daily")
