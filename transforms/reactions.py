"""The reaction marts, assembled from an event-study engine.

Two engines give the same marts (tests/transforms/test_event_arrays.py): ``arrays``
(default; transforms/event_arrays.py: integer codes, dense arrays, closed-form sums, ~30x
faster at 100 events x 600 securities) and ``polars`` (transforms/event_panel.py,
event_study.py, event_tests.py: a long panel and group_bys), kept as the reference
implementation the array engine is checked against and as the engine of ``aftershock
eventstudy`` (``event_study.study_wide``). Both feed one assembly (``_assemble``: joins with
the security master, the events and the flags; value moved; summary; propagation).

Every event is measured from up to two day 0s, its **anchors** (column ``anchor``):

* ``announcement``: day 0 on each venue is the first session closing after the announcement
  instant (transforms/calendar.py, ``event_day0``);
* ``attention``: day 0 on each venue is the first session of that venue **on or after the
  event's attention day** — the XNYS session in [0, +10] with the most stories about the
  event (transforms/attention.py, ``marts.news_attention.attention_date``). An event without
  an attention day (no story named it) has no attention rows. DeepSeek-R1's reaction came at
  attention (2025-01-27), not at its release (2025-01-21).

(event_id, anchor) is the *study* key of the engines (``KEYS``): both anchors run through
one vectorised pass of fit / abnormal returns / CARs / tests, never a loop over events.
``build_reaction_marts(models=...)`` measures several normal-return models at once (rows of
marts.event_reaction and marts.event_segment_summary per ``model``).
The confounding and estimation-overlap flags compare each study's day 0 with the other
events' *announcement* day 0s.

grain:

* marts.event_reaction — one row per (event_id, anchor, ticker) with any return in the
  event window;
* marts.event_window — one row per (event_id, anchor, ticker, rel_day) of the event window;
* marts.event_segment_summary — one row per (event_id, anchor, segment, window): the
  cross-section of a segment's securities (plus segment 'all' = every non-benchmark
  security) over one CAR window, with CAAR and the estudy2 test statistics;
* marts.event_propagation — one row per (event_id, anchor, exchange_mic), see
  transforms/propagation.

Detected events (``core.dim_event.origin = 'detected'``, transforms/detection.py) are
measured like catalog ones and flagged (``detected``).

A security that is its own benchmark (an index, e.g. ^GSPC or HSTECH.HK) has, under the
market and market-adjusted models, an abnormal return of zero by construction (up to
rounding); its model parameters are nulled (``self_benchmark``), so it keeps its returns but
takes no part in any statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import polars as pl

from transforms.benchmarks import resolve_benchmarks
from transforms.detection import DETECTED_PREFIX, ORIGIN_DETECTED
from transforms.event_arrays import reaction_arrays
from transforms.event_panel import build_panel, catalog_overlaps
from transforms.event_study import (
    EventStudyConfig,
    abnormal_returns,
    abnormal_volume,
    car_table,
    fit_normal_model,
    window_name,
)
from transforms.event_tests import STAT_COLUMNS, window_tests
from transforms.limits import limit_flags
from transforms.prices import daily_returns
from transforms.propagation import BENCHMARK_SEGMENT, event_propagation
from transforms.value_moved import segment_value_moved
from transforms.value_moved import value_moved as compute_value_moved

#: The study key: one study per event and anchor.
KEYS = ["event_id", "anchor"]
ANNOUNCEMENT = "announcement"
ATTENTION = "attention"
ANCHORS = (ANNOUNCEMENT, ATTENTION)
#: Joins (event_id, anchor) into one id for the helpers keyed by event_id alone
#: (value moved, propagation); never appears in an event id.
_SEP = "\x1f"

#: Events per vectorised pass of the polars engine: its panel is events x securities x 271
#: sessions.
BATCH_EVENTS = 16
#: The engines of ``build_reaction_marts``: dense arrays (default) and the polars reference.
ARRAYS = "arrays"
POLARS = "polars"
ENGINES = (ARRAYS, POLARS)

#: The segment row that pools every non-benchmark security of an event.
ALL_SEGMENTS = "all"

#: USD value-moved columns of the segment summary, null until shares outstanding and FX are
#: loaded (transforms/value_moved.py computes them; ``segment_summary(value_moved=...)``).
VALUE_MOVED_COLUMNS: tuple[str, ...] = ("value_moved_usd_0_0", "value_moved_usd_0_p5")
#: How many securities each segment total covers ("N of M").
VALUE_MOVED_COUNTS: tuple[str, ...] = ("n_applicable", "n_valued_0_0", "n_valued_0_p5")
#: Per-security value-moved columns of marts.event_reaction (from transforms.value_moved).
REACTION_VALUE_COLUMNS: tuple[str, ...] = (
    "shares_outstanding", "shares_as_of", "mcap_usd_prev", "value_moved_usd_0_0",
    "value_moved_usd_0_p5", "shares_unknown", "fx_unknown", "duplicate_listing_of",
)


def build_reaction_marts(
    prices: pl.DataFrame,
    securities: pl.DataFrame,
    sessions: pl.DataFrame,
    day0: pl.DataFrame,
    events: pl.DataFrame,
    cfg: EventStudyConfig,
    value_moved: pl.DataFrame | None = None,
    shares: pl.DataFrame | None = None,
    fx: pl.DataFrame | None = None,
    attention: pl.DataFrame | None = None,
    batch_events: int | None = None,
    engine: str = ARRAYS,
    models: Sequence[str] | None = None,
    only_events: Sequence[str] | None = None,
) -> dict[str, pl.DataFrame]:
    """{mart table name: frame} for every reaction mart, from conformed prices.

    ``engine``: ``'arrays'`` (default; transforms/event_arrays.py) or ``'polars'`` (the
    long-panel engine of event_panel / event_study / event_tests, kept as the reference the
    array engine is tested against: tests/transforms/test_event_arrays.py). Both give the
    same marts (same rows, columns, dtypes and order; floats to 1e-9 relative).

    Studies go through in batches so memory grows with the batch, not with the catalog:
    ``batch_events`` events per batch (polars engine; default ``BATCH_EVENTS``; the array
    engine batches by units, ``event_arrays.BATCH_UNITS``, and by at most ``batch_events``
    events' studies when it is given). The result does not depend on the batch size
    (tests/transforms/test_reactions.py).

    ``models`` (default ``(cfg.model,)``): the normal-return models to measure (any of
    ``event_study.MODELS``); marts.event_reaction and marts.event_segment_summary then hold
    each model's rows (column ``model``), one block per model in the order given, each block
    what ``cfg`` with that model gives alone. marts.event_window (AR and CAR) and
    marts.event_propagation (day-0 AR) are the first model's.

    ``day0``: the announcement day 0s (``transforms.calendar.event_day0``). ``attention``
    (optional): event_id, attention_date (e.g. the distinct rows of marts.news_attention);
    with it every event that has an attention day is measured a second time with
    ``anchor = 'attention'`` (module docstring), without it only the announcement anchor is
    produced. ``value_moved`` (optional): USD value moved per (event_id, segment[, anchor])
    for the segment summary (see ``segment_summary``); without it those columns are null.
    ``events`` may carry ``origin`` (core.dim_event): 'detected' rows are flagged.
    ``only_events`` (optional): build these events' studies only (an incremental run,
    transforms/study_inputs.py); the rows are those a full build gives for them (the other
    events in ``day0`` still confound them).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    models = tuple(dict.fromkeys(models or (cfg.model,)))
    cfgs = [replace(cfg, model=m) for m in models]  # validates each model
    anchored = anchor_day0(day0, sessions, attention)
    if only_events is not None:
        anchored = anchored.filter(pl.col("event_id").is_in(list(only_events)))
    securities = resolve_benchmarks(securities, prices)
    returns = daily_returns(prices, securities, sessions)
    limits = limit_flags(prices.select("ticker", "session_date", "open", "high", "low", "close"),
                         securities).select("ticker", "session_date", "limit_hit", "one_price")
    source = prices.sort("session_date").group_by("ticker").agg(pl.col("source").last())
    if engine == ARRAYS:  # the array engine lays the flags out itself (no 2-key join)
        inputs = _Inputs(anchored, day0, returns, source, prices, securities, sessions, events,
                         value_moved, shares, fx, limits)
        return _marts_arrays(inputs, cfgs, batch_events)
    returns = returns.join(limits, on=["ticker", "session_date"], how="left")
    inputs = _Inputs(anchored, day0, returns, source, prices, securities, sessions, events,
                     value_moved, shares, fx)
    per_model = [_marts_polars(inputs, c, batch_events or BATCH_EVENTS) for c in cfgs]
    return _combine_models(per_model, cfgs[0].model)


@dataclass(frozen=True)
class _Inputs:
    """What every batch of either engine reads (prepared once per call)."""

    anchored: pl.DataFrame
    day0: pl.DataFrame
    returns: pl.DataFrame
    source: pl.DataFrame
    prices: pl.DataFrame
    securities: pl.DataFrame
    sessions: pl.DataFrame
    events: pl.DataFrame
    value_moved: pl.DataFrame | None
    shares: pl.DataFrame | None
    fx: pl.DataFrame | None
    #: limit_hit / one_price per (ticker, session_date), when not already in ``returns``
    limits: pl.DataFrame | None = None


def _combine_models(per_model: list[dict[str, pl.DataFrame]], default: str
                    ) -> dict[str, pl.DataFrame]:
    """One block per model of the tables that carry ``model``, each row flagged
    ``default_model`` (right after ``model``) when it is ``default``'s; the other tables the
    first model's."""
    first = per_model[0]
    out = {}
    for table, frame in first.items():
        if table not in _PER_MODEL:
            out[table] = frame
            continue
        stacked = pl.concat([m[table] for m in per_model])
        cols = stacked.columns
        at = cols.index("model") + 1
        out[table] = stacked.with_columns(default_model=pl.col("model") == default).select(
            *cols[:at], "default_model", *cols[at:])
    return out


#: The marts with a ``model`` column (one block of rows per model).
_PER_MODEL = ("marts.event_reaction", "marts.event_segment_summary")


def _marts_polars(inputs: _Inputs, cfg: EventStudyConfig, batch_events: int
                  ) -> dict[str, pl.DataFrame]:
    """The polars engine, ``batch_events`` events per vectorised pass (the reference)."""
    anchored, events, value_moved = inputs.anchored, inputs.events, inputs.value_moved
    ids = anchored["event_id"].unique().sort().to_list()
    parts = [
        _marts_for(
            anchored.filter(pl.col("event_id").is_in(batch)), inputs.day0, inputs.returns,
            inputs.source, inputs.prices, inputs.securities, inputs.sessions,
            events.filter(pl.col("event_id").is_in(batch)), cfg,
            None if value_moved is None else value_moved.filter(pl.col("event_id").is_in(batch)),
            inputs.shares, inputs.fx,
        )
        for batch in [ids[i:i + batch_events] for i in range(0, len(ids), batch_events)] or [[]]
    ]
    # batches follow event_id order and every mart sorts by event_id first: concatenated in
    # order, they are sorted
    return {table: pl.concat([part[table] for part in parts], how="vertical_relaxed")
            for table in parts[0]}


def _marts_arrays(inputs: _Inputs, cfgs: list[EventStudyConfig], batch_events: int | None
                  ) -> dict[str, pl.DataFrame]:
    """The array engine: every study and model in one call of ``reaction_arrays`` (batched
    inside), then the same assembly as the polars engine, once for all studies."""
    cfg = cfgs[0]
    arrays = reaction_arrays(
        inputs.anchored, inputs.securities, inputs.returns, inputs.sessions, cfg, KEYS,
        limits=inputs.limits, models=[c.model for c in cfgs], pooled_label=ALL_SEGMENTS,
        pooled_excludes=BENCHMARK_SEGMENT,
        batch_studies=None if batch_events is None else batch_events * len(ANCHORS),
    )
    per_model = []
    for c in cfgs:
        window = arrays.window[cfg.model] if c is cfg else None
        per_model.append(_assemble(
            inputs, c, arrays.units[c.model], window, lambda _r, m=c.model: arrays.tests[m],
            window_for_value=arrays.window[cfg.model],
        ))
    return _combine_models(per_model, cfgs[0].model)


def _marts_for(
    anchored: pl.DataFrame,
    day0: pl.DataFrame,
    returns: pl.DataFrame,
    source: pl.DataFrame,
    prices: pl.DataFrame,
    securities: pl.DataFrame,
    sessions: pl.DataFrame,
    events: pl.DataFrame,
    cfg: EventStudyConfig,
    value_moved: pl.DataFrame | None,
    shares: pl.DataFrame | None,
    fx: pl.DataFrame | None,
) -> dict[str, pl.DataFrame]:
    """The reaction marts of one batch of events by the polars engine (``anchored``: their
    day 0s per anchor; ``day0``: every event's announcement day 0, for the confounding
    flags)."""
    panel = build_panel(
        anchored, securities, returns, sessions, (cfg.estimation[0], cfg.window[1]), KEYS
    )
    params = null_self_benchmarks(fit_normal_model(panel, KEYS, cfg), securities, cfg)
    abnormal = abnormal_returns(panel, params, KEYS, cfg)
    unit = [*KEYS, "ticker"]
    event_rows = abnormal.filter(pl.col("phase") == "event")
    observed = (
        event_rows.group_by(unit)
        .agg(pl.col("ret").is_not_null().any().alias("_seen"))
        .filter("_seen")
        .drop("_seen")
    )
    cars = car_table(abnormal, params, KEYS, cfg)
    renames = {}
    for a, b in cfg.car_windows:
        name = window_name(a, b)
        renames |= {f"t_{name}": f"{name}_t", f"p_{name}": f"{name}_p"}
    limits = returns.select("ticker", "session_date", "limit_hit", "one_price")
    event_rows = event_rows.join(limits, on=["ticker", "session_date"], how="left",
                                 maintain_order="left").with_columns(
        pl.col("one_price").fill_null(False))
    day0_rows = event_rows.filter(pl.col("rel_day") == 0).select(
        *unit, ret_day0="ret", ar_day0="ar", limit_day0="limit_hit", one_price_day0="one_price",
        censored_day0=pl.col("limit_hit").is_not_null(),
    )
    core = (
        observed.join(params, on=unit, how="left")
        .join(cars.rename(renames), on=unit, how="left")
        .join(
            abnormal_volume(panel, KEYS, cfg).select(*unit, "abnormal_volume"),
            on=unit,
            how="left",
        )
        .join(day0_rows, on=unit, how="left")
    )
    window = (
        event_rows.join(observed, on=unit)
        .join(securities.select("ticker", "segment"), on="ticker")
        .select(*unit, "segment", "rel_day", "session_date", "ret", "ar", "car", "limit_hit",
                "one_price")
        .sort(*unit, "rel_day")
    )
    inputs = _Inputs(anchored, day0, returns, source, prices, securities, sessions, events,
                     value_moved, shares, fx)
    observed_abnormal = abnormal.join(observed, on=unit)
    return _assemble(
        inputs, cfg, core, window,
        lambda reaction: segment_tests(observed_abnormal, params, reaction, cfg),
    )


def _assemble(
    inputs: _Inputs,
    cfg: EventStudyConfig,
    core: pl.DataFrame,
    window: pl.DataFrame | None,
    tests: Callable[[pl.DataFrame], pl.DataFrame],
    window_for_value: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """The marts from an engine's numbers, the same for both engines.

    ``core``: one row per observed unit (keys, ticker, the model parameters, the CAR columns
    ``car_<w>``, ``car_<w>_t``, ``car_<w>_p``, abnormal_volume and the day-0 columns);
    ``window``: marts.event_window, final (None: this model adds no window or propagation,
    only reaction and summary rows); ``tests(reaction)``: the window tests per (study,
    segment) and (study, 'all'), as ``segment_tests``; ``window_for_value``: the rows value
    moved is measured on when ``window`` is None.
    """
    anchored, securities, events = inputs.anchored, inputs.securities, inputs.events
    value_moved = inputs.value_moved
    unit = [*KEYS, "ticker"]
    flags = catalog_overlaps(
        anchored, cfg.estimation, cfg.contamination_window, cfg.confound_window, KEYS,
        others=inputs.day0,
    )
    reaction = (
        core.join(
            securities.select(
                "ticker", "segment", "exchange_mic", "benchmark", "benchmark_fallback",
                security_name="name"
            ),
            on="ticker",
        )
        .join(
            anchored.select(*KEYS, "exchange_mic", "day0", "closed_market"),
            on=[*KEYS, "exchange_mic"],
        )
        .join(flags, on=[*KEYS, "exchange_mic"], how="left")
        .join(
            events.select(
                "event_id", "announced_at", "lab", event_name="name", event_kind="kind",
                detected=_detected(events),
            ),
            on="event_id",
        )
        .join(inputs.source, on="ticker", how="left")
        .with_columns(
            pl.col("est_n").fill_null(0),
            pl.col("thin_estimation").fill_null(True),
            pl.col("one_price_day0", "censored_day0").fill_null(False),
            self_benchmark=_self_benchmark(cfg),
        )
        .sort(*unit)
    )
    valued = window if window is not None else window_for_value
    if inputs.shares is not None and inputs.fx is not None and valued is not None:
        per_security = _split(
            compute_value_moved(_fuse(valued), securities, inputs.prices, inputs.shares,
                                inputs.fx)
        )
        reaction = reaction.join(
            per_security.select(*unit, *REACTION_VALUE_COLUMNS), on=unit, how="left",
        )
        if value_moved is None:
            value_moved = _split(segment_value_moved(_fuse(per_security)))
    else:
        reaction = reaction.with_columns(
            pl.lit(None, pl.Float64).alias(c) for c in REACTION_VALUE_COLUMNS
        )
    summary = _summary_frame(tests(reaction), reaction, events, cfg, value_moved)
    out = {
        "marts.event_reaction": _front(reaction, "event_id", "anchor"),
        "marts.event_window": window,
        "marts.event_segment_summary": summary,
    }
    if window is None:
        return out
    # propagation reads the returns of the venues' benchmarks only: hand it just those
    benchmarks = inputs.returns.filter(pl.col("ticker").is_in(securities["benchmark"].implode()))
    propagation = _split(event_propagation(
        _fuse(reaction), _fuse(anchored), _fuse_events(events, anchored), securities,
        benchmarks, inputs.sessions,
    )).join(events.select("event_id", detected=_detected(events)), on="event_id", how="left")
    out["marts.event_propagation"] = _front(propagation, "event_id", "anchor").sort(
        "event_id", "anchor", "close_order", "exchange_mic")
    return out


def anchor_day0(
    day0: pl.DataFrame, sessions: pl.DataFrame, attention: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The day 0 of every study: ``day0`` (event_id, exchange_mic, day0, day0_idx,
    day0_close_utc, closed_market) with ``anchor = 'announcement'``, plus, for every event
    with an ``attention_date``, ``anchor = 'attention'`` rows on the same venues: day 0 = the
    venue's first session on or after the attention date (``closed_market`` when that is
    later than the attention date: the venue was closed that day). One as-of join by venue.
    """
    announced = day0.select(
        "event_id", pl.lit(ANNOUNCEMENT).alias("anchor"), "exchange_mic", "day0", "day0_idx",
        "day0_close_utc", "closed_market",
    )
    if attention is None or attention.height == 0:
        return announced
    wanted = (
        attention.select("event_id", pl.col("attention_date").cast(pl.Date))
        .drop_nulls()
        .unique("event_id", keep="first", maintain_order=True)
        .join(day0.select("event_id", "exchange_mic"), on="event_id")
        .sort("attention_date")
    )
    grid = sessions.select(
        "exchange_mic",
        pl.col("session_date").alias("day0"),
        pl.col("session_date").alias("_match"),
        pl.col("session_idx").alias("day0_idx"),
        pl.col("close_utc").alias("day0_close_utc"),
    ).sort("_match")
    attended = (
        wanted.join_asof(
            grid, left_on="attention_date", right_on="_match", by="exchange_mic",
            strategy="forward", check_sortedness=False,  # both sorted by the date above
        )
        .drop_nulls("day0_idx")
        .select(
            "event_id", pl.lit(ATTENTION).alias("anchor"), "exchange_mic", "day0", "day0_idx",
            "day0_close_utc", closed_market=pl.col("day0") > pl.col("attention_date"),
        )
    )
    return pl.concat([announced, attended.cast(announced.schema)]).sort(
        "event_id", "anchor", "exchange_mic"
    )


def _detected(events: pl.DataFrame) -> pl.Expr:
    """Whether an event row was detected in the news rather than curated in the catalog."""
    if "origin" in events.columns:
        return (pl.col("origin") == ORIGIN_DETECTED).fill_null(False)
    return pl.col("event_id").str.starts_with(DETECTED_PREFIX)


def _fuse(frame: pl.DataFrame) -> pl.DataFrame:
    """(event_id, anchor) -> one event_id, for helpers keyed by event_id alone."""
    return frame.with_columns(
        event_id=pl.col("event_id") + pl.lit(_SEP) + pl.col("anchor")
    ).drop("anchor")


def _split(frame: pl.DataFrame) -> pl.DataFrame:
    """Undo :func:`_fuse`: event_id and anchor again (anchor right after event_id)."""
    parts = pl.col("event_id").str.split_exact(_SEP, 1)
    out = frame.with_columns(
        event_id=parts.struct.field("field_0"), anchor=parts.struct.field("field_1")
    )
    return _front(out, "event_id", "anchor")


def _fuse_events(events: pl.DataFrame, anchored: pl.DataFrame) -> pl.DataFrame:
    """The events frame with one row per study, keyed by the fused id."""
    studies = anchored.select("event_id", "anchor").unique()
    return _fuse(events.join(studies, on="event_id"))


def _front(frame: pl.DataFrame, *first: str) -> pl.DataFrame:
    return frame.select(*first, pl.exclude(*first))


def _self_benchmark(cfg: EventStudyConfig) -> pl.Expr:
    """A security regressed on itself (never degenerate under the mean-adjusted model)."""
    if cfg.model == "mean_adjusted":
        return pl.lit(False)
    return pl.col("ticker") == pl.col("benchmark")


def null_self_benchmarks(
    params: pl.DataFrame, securities: pl.DataFrame, cfg: EventStudyConfig
) -> pl.DataFrame:
    """Null alpha, beta and sigma of units that are their own benchmark (module docstring)."""
    bench = securities.select("ticker", "benchmark")
    own = params.join(bench, on="ticker", how="left").select(_self_benchmark(cfg)).to_series()
    return params.with_columns(
        pl.when(~own.fill_null(False)).then(pl.col(c)).alias(c) for c in ("alpha", "beta", "sigma")
    )


def segment_summary(
    abnormal: pl.DataFrame,
    params: pl.DataFrame,
    reaction: pl.DataFrame,
    events: pl.DataFrame,
    cfg: EventStudyConfig,
    value_moved: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """marts.event_segment_summary: window_tests per (event, anchor, segment) and per
    (event, anchor, 'all').

    ``abnormal``: the reaction units' abnormal_returns rows; ``reaction``: the
    event_reaction mart (its segment decides the groups and ``n_securities``). Segment 'all'
    pools every security whose segment is not 'benchmark'; the benchmark segment (indices,
    ETFs, index futures) appears only as its own row. Columns: event_id, anchor, event_name,
    detected, segment, car_window ('car_0_p5', ...), window_start, window_end, model, n_securities
    (rows of the segment in event_reaction, thin or not), n (securities with a complete CAR
    in the window), n_days, caar, every statistic of ``window_tests`` with its p-value,
    p_hat, rbar and the value-moved columns: taken from ``value_moved`` (event_id, segment,
    value_moved_usd_0_0, value_moved_usd_0_p5 — e.g. transforms.value_moved's segment
    totals — and ``anchor``; without an anchor column they are the announcement's) when
    given, else null (shares outstanding and FX not loaded).
    """
    return _summary_frame(segment_tests(abnormal, params, reaction, cfg), reaction, events, cfg,
                          value_moved)


def _segments(reaction: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each reaction unit's segment, and the pooled rows (segment 'all', no benchmarks)."""
    segments = reaction.select(*KEYS, "ticker", "segment")
    pooled = segments.filter(pl.col("segment") != BENCHMARK_SEGMENT).with_columns(
        segment=pl.lit(ALL_SEGMENTS)
    )
    return segments, pooled


def segment_tests(
    abnormal: pl.DataFrame, params: pl.DataFrame, reaction: pl.DataFrame, cfg: EventStudyConfig
) -> pl.DataFrame:
    """``window_tests`` per (event, anchor, segment) and per (event, anchor, 'all'), by the
    polars engine (see ``segment_summary`` for the inputs)."""
    unit = [*KEYS, "ticker"]
    keys = [*KEYS, "segment"]
    # two calls, not one on a stacked frame: a unit must appear once per call (car_table
    # sums its rows)
    return pl.concat(
        [
            window_tests(abnormal.join(part, on=unit), params, keys, cfg)
            for part in _segments(reaction)
        ]
    )


def _summary_frame(
    tests: pl.DataFrame,
    reaction: pl.DataFrame,
    events: pl.DataFrame,
    cfg: EventStudyConfig,
    value_moved: pl.DataFrame | None,
) -> pl.DataFrame:
    """marts.event_segment_summary from the window tests (``segment_tests``' columns)."""
    keys = [*KEYS, "segment"]
    counts = (
        pl.concat(list(_segments(reaction)))
        .group_by(keys)
        .agg(n_securities=pl.len().cast(pl.Int64))
    )
    order = {window_name(a, b): i for i, (a, b) in enumerate(cfg.car_windows)}
    if value_moved is None:
        value_moved = pl.DataFrame(
            schema={"event_id": pl.String, "segment": pl.String}
            | {c: pl.Float64 for c in VALUE_MOVED_COLUMNS}
        )
    if "anchor" not in value_moved.columns:  # given per event: it is the announcement's
        value_moved = value_moved.with_columns(anchor=pl.lit(ANNOUNCEMENT))
    for c in VALUE_MOVED_COUNTS:
        if c not in value_moved.columns:
            value_moved = value_moved.with_columns(pl.lit(None, pl.Int64).alias(c))
    moved = value_moved.select(
        *keys,
        *(pl.col(c).cast(pl.Float64) for c in VALUE_MOVED_COLUMNS),
        *(pl.col(c).cast(pl.Int64) for c in VALUE_MOVED_COUNTS),
    )
    return (
        tests.join(counts, on=keys, how="left")
        .join(
            events.select("event_id", event_name="name", detected=_detected(events)),
            on="event_id", how="left",
        )
        .join(moved, on=keys, how="left")
        .with_columns(
            model=pl.lit(cfg.model),
            _order=pl.col("window").replace_strict(order, return_dtype=pl.Int64),
            _all=pl.col("segment") != ALL_SEGMENTS,
        )
        .sort("event_id", "anchor", "_all", "segment", "_order")
        .select(
            "event_id",
            "anchor",
            "event_name",
            "detected",
            "segment",
            pl.col("window").alias("car_window"),
            pl.col("win_start").alias("window_start"),
            pl.col("win_end").alias("window_end"),
            "model",
            "n_securities",
            "n",
            "n_days",
            "caar",
            *STAT_COLUMNS,
            "p_hat",
            "rbar",
            *VALUE_MOVED_COLUMNS,
            *VALUE_MOVED_COUNTS,
        )
    )
