"""The reaction marts, assembled from the event-study engine (pure polars).

grain:

* marts.event_reaction — one row per (event_id, ticker) with any return in the event window;
* marts.event_window — one row per (event_id, ticker, rel_day) of the event window;
* marts.event_segment_summary — one row per (event_id, segment, window): the cross-section
  of a segment's securities (plus segment 'all' = every non-benchmark security) over one CAR
  window, with CAAR and the estudy2 test statistics;
* marts.event_propagation — one row per (event_id, exchange_mic), see transforms/propagation.

A security that is its own benchmark (an index, e.g. ^GSPC or HSTECH.HK) has, under the
market and market-adjusted models, an abnormal return of zero by construction (up to
rounding); its model parameters are nulled (``self_benchmark``), so it keeps its returns but
takes no part in any statistic.
"""

from __future__ import annotations

import polars as pl

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
from transforms.prices import daily_returns
from transforms.propagation import BENCHMARK_SEGMENT, event_propagation
from transforms.value_moved import segment_value_moved
from transforms.value_moved import value_moved as compute_value_moved

KEYS = ["event_id"]

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
) -> dict[str, pl.DataFrame]:
    """{mart table name: frame} for every reaction mart, from conformed prices.

    ``value_moved`` (optional): USD value moved per (event_id, segment) for the segment
    summary (see ``segment_summary``); without it those columns are null.
    """
    returns = daily_returns(prices, securities, sessions)
    panel = build_panel(day0, securities, returns, sessions, (cfg.estimation[0], cfg.window[1]))
    params = null_self_benchmarks(fit_normal_model(panel, KEYS, cfg), securities, cfg)
    abnormal = abnormal_returns(panel, params, KEYS, cfg)
    event_rows = abnormal.filter(pl.col("phase") == "event")
    observed = (
        event_rows.group_by("event_id", "ticker")
        .agg(pl.col("ret").is_not_null().any().alias("_seen"))
        .filter("_seen")
        .drop("_seen")
    )
    cars = car_table(abnormal, params, KEYS, cfg)
    renames = {}
    for a, b in cfg.car_windows:
        name = window_name(a, b)
        renames |= {f"t_{name}": f"{name}_t", f"p_{name}": f"{name}_p"}
    day0_rows = event_rows.filter(pl.col("rel_day") == 0).select(
        "event_id", "ticker", ret_day0="ret", ar_day0="ar"
    )
    source = prices.sort("session_date").group_by("ticker").agg(pl.col("source").last())
    flags = catalog_overlaps(day0, cfg.estimation, cfg.contamination_window, cfg.confound_window)
    reaction = (
        observed.join(params, on=["event_id", "ticker"], how="left")
        .join(cars.rename(renames), on=["event_id", "ticker"], how="left")
        .join(
            abnormal_volume(panel, KEYS, cfg).select("event_id", "ticker", "abnormal_volume"),
            on=["event_id", "ticker"],
            how="left",
        )
        .join(day0_rows, on=["event_id", "ticker"], how="left")
        .join(
            securities.select(
                "ticker", "segment", "exchange_mic", "benchmark", security_name="name"
            ),
            on="ticker",
        )
        .join(
            day0.select("event_id", "exchange_mic", "day0", "closed_market"),
            on=["event_id", "exchange_mic"],
        )
        .join(flags, on=["event_id", "exchange_mic"], how="left")
        .join(
            events.select("event_id", "announced_at", "lab", event_name="name", event_kind="kind"),
            on="event_id",
        )
        .join(source, on="ticker", how="left")
        .with_columns(
            pl.col("est_n").fill_null(0),
            pl.col("thin_estimation").fill_null(True),
            self_benchmark=_self_benchmark(cfg),
        )
        .sort("event_id", "ticker")
    )
    window = (
        event_rows.join(observed, on=["event_id", "ticker"])
        .join(securities.select("ticker", "segment"), on="ticker")
        .select("event_id", "ticker", "segment", "rel_day", "session_date", "ret", "ar", "car")
        .sort("event_id", "ticker", "rel_day")
    )
    if shares is not None and fx is not None:
        per_security = compute_value_moved(window, securities, prices, shares, fx)
        reaction = reaction.join(
            per_security.select("event_id", "ticker", *REACTION_VALUE_COLUMNS),
            on=["event_id", "ticker"], how="left",
        )
        if value_moved is None:
            value_moved = segment_value_moved(per_security)
    else:
        reaction = reaction.with_columns(
            pl.lit(None, pl.Float64).alias(c) for c in REACTION_VALUE_COLUMNS
        )
    summary = segment_summary(
        abnormal.join(observed, on=["event_id", "ticker"]),
        params,
        reaction,
        events,
        cfg,
        value_moved,
    )
    propagation = event_propagation(reaction, day0, events, securities, returns, sessions)
    return {
        "marts.event_reaction": reaction,
        "marts.event_window": window,
        "marts.event_segment_summary": summary,
        "marts.event_propagation": propagation,
    }


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
    """marts.event_segment_summary: window_tests per (event, segment) and per (event, 'all').

    ``abnormal``: the reaction units' abnormal_returns rows; ``reaction``: the
    event_reaction mart (its segment decides the groups and ``n_securities``). Segment 'all'
    pools every security whose segment is not 'benchmark'; the benchmark segment (indices,
    ETFs, index futures) appears only as its own row. Columns: event_id, event_name,
    segment, car_window ('car_0_p5', ...), window_start, window_end, model, n_securities
    (rows of the segment in event_reaction, thin or not), n (securities with a complete CAR
    in the window), n_days, caar, every statistic of ``window_tests`` with its p-value,
    p_hat, rbar and the value-moved columns: taken from ``value_moved`` (event_id, segment,
    value_moved_usd_0_0, value_moved_usd_0_p5 — e.g. transforms.value_moved's segment
    totals) when given, else null (shares outstanding and FX not loaded).
    """
    segments = reaction.select("event_id", "ticker", "segment")
    pooled = segments.filter(pl.col("segment") != BENCHMARK_SEGMENT).with_columns(
        segment=pl.lit(ALL_SEGMENTS)
    )
    counts = (
        pl.concat([segments, pooled])
        .group_by("event_id", "segment")
        .agg(n_securities=pl.len().cast(pl.Int64))
    )
    # two calls, not one on a stacked frame: a unit must appear once per call (car_table
    # sums its rows)
    keys = ["event_id", "segment"]
    tests = pl.concat(
        [
            window_tests(abnormal.join(part, on=["event_id", "ticker"]), params, keys, cfg)
            for part in (segments, pooled)
        ]
    )
    order = {window_name(a, b): i for i, (a, b) in enumerate(cfg.car_windows)}
    if value_moved is None:
        value_moved = pl.DataFrame(
            schema={"event_id": pl.String, "segment": pl.String}
            | {c: pl.Float64 for c in VALUE_MOVED_COLUMNS}
        )
    for c in VALUE_MOVED_COUNTS:
        if c not in value_moved.columns:
            value_moved = value_moved.with_columns(pl.lit(None, pl.Int64).alias(c))
    moved = value_moved.select(
        "event_id",
        "segment",
        *(pl.col(c).cast(pl.Float64) for c in VALUE_MOVED_COLUMNS),
        *(pl.col(c).cast(pl.Int64) for c in VALUE_MOVED_COUNTS),
    )
    return (
        tests.join(counts, on=["event_id", "segment"], how="left")
        .join(events.select("event_id", event_name="name"), on="event_id", how="left")
        .join(moved, on=["event_id", "segment"], how="left")
        .with_columns(
            model=pl.lit(cfg.model),
            _order=pl.col("window").replace_strict(order, return_dtype=pl.Int64),
            _all=pl.col("segment") != ALL_SEGMENTS,
        )
        .sort("event_id", "_all", "segment", "_order")
        .select(
            "event_id",
            "event_name",
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
