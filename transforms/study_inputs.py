"""Fingerprints of each study's inputs, so a daily run rebuilds only the studies that changed.

A study is one (event_id, anchor): its marts (event_reaction, event_window,
event_segment_summary, event_propagation, event_intraday, event_intraday_mark) depend only
on what its fingerprint hashes:

* the study's day 0 rows per venue (anchor_day0: day 0, its index, closed market) and the
  venue's session calendar over the study's span (estimation start to window end), so a new
  session inside the window changes it;
* the event's catalog row, and its confounding / estimation-overlap neighbours
  (transforms.event_panel.catalog_overlaps), so a new event nearby changes it;
* per security listed on the study's venues: its dimension row (segment, benchmark after the
  fallback chain, currency, ...) and latest price source, every daily price row (all
  columns) of the security and of its benchmark inside the span, its hourly bars inside the
  span, its share counts and its currency's FX rates inside the span and the last ones
  before it (what an as-of lookup reads);
* the engine's configuration (the run's model, windows), the models measured and the code's
  ``VERSION``.

Each row is hashed once (polars ``hash``, stable for one polars version: an upgrade changes
every fingerprint, i.e. one full rebuild) and a window's rows are summed by prefix sums over
the rows sorted by (key, day), gathered with ``searchsorted`` — O(rows + units), no loop over
studies or securities. Sums wrap modulo 2**64; a changed row changes the sum unless the change
collides, with probability about 2**-64.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.event_panel import catalog_overlaps
from transforms.event_study import EventStudyConfig
from transforms.reactions import KEYS as STUDY

#: Bump when a change to the marts' code must rebuild every study.
VERSION = "1"
_SEED = 20250127
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _row_hash(frame: pl.DataFrame, seed: int = _SEED) -> np.ndarray:
    """One uint64 per row over every column (null-aware)."""
    if frame.width == 0 or frame.height == 0:
        return np.zeros(frame.height, dtype=np.uint64)
    return frame.select(pl.struct(pl.all()).hash(seed=seed)).to_series().to_numpy()


def _mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An order-sensitive combination of two uint64 hashes (so (x, y) != (y, x))."""
    with np.errstate(over="ignore"):
        x = (a ^ (b * _MIX)) * np.uint64(0xBF58476D1CE4E5B9)
        return x ^ (x >> np.uint64(31))


def _codes(values: pl.Series, vocabulary: pl.Series) -> np.ndarray:
    """Integer code of each value in ``vocabulary`` (-1 when absent)."""
    lookup = pl.DataFrame({"_v": vocabulary.unique().sort()}).with_row_index("_c")
    return (
        pl.DataFrame({"_v": values}).join(lookup, on="_v", how="left", maintain_order="left")
        ["_c"].fill_null(-1).cast(pl.Int64).to_numpy()
    )


def _range_sums(code: np.ndarray, day: np.ndarray, h: np.ndarray, q_code: np.ndarray,
                q_lo: np.ndarray, q_hi: np.ndarray, carry_in: bool = False) -> np.ndarray:
    """For each query, the wrapping sum of ``h`` over rows with that code and lo <= day <= hi
    (and, with ``carry_in``, the code's last row before lo: the one an as-of lookup at lo
    reads).

    Days are integers (epoch days, or session indices); codes are >= 0 (a -1 query sums
    nothing).
    """
    key = code.astype(np.int64) * (1 << 32) + day.astype(np.int64)
    order = np.argsort(key, kind="stable")
    key, hs = key[order], h[order]
    cum = np.concatenate([[np.uint64(0)], np.cumsum(hs, dtype=np.uint64)])
    lo = np.searchsorted(key, q_code.astype(np.int64) * (1 << 32) + q_lo, side="left")
    hi = np.searchsorted(key, q_code.astype(np.int64) * (1 << 32) + q_hi, side="right")
    if carry_in and len(key):
        before = np.maximum(lo - 1, 0)
        same = (lo > 0) & (code[order][before] == q_code)
        lo = np.where(same, before, lo)
    with np.errstate(over="ignore"):
        out = cum[hi] - cum[lo]
    out[q_code < 0] = 0
    return out


def _epoch_days(dates: pl.Series) -> np.ndarray:
    return dates.cast(pl.Date).cast(pl.Int32).to_numpy().astype(np.int64)


def study_fingerprints(
    anchored: pl.DataFrame,
    day0: pl.DataFrame,
    events: pl.DataFrame,
    securities: pl.DataFrame,
    prices: pl.DataFrame,
    sessions: pl.DataFrame,
    cfg: EventStudyConfig,
    shares: pl.DataFrame | None = None,
    fx: pl.DataFrame | None = None,
    intraday: pl.DataFrame | None = None,
    models: tuple[str, ...] = (),
) -> pl.DataFrame:
    """event_id, anchor, fingerprint (UInt64): one row per study of ``anchored``.

    ``anchored``: transforms.reactions.anchor_day0's rows; ``day0``: every event's
    announcement day 0s (the confounding neighbours); ``securities``: after the benchmark
    fallback (transforms.benchmarks.resolve_benchmarks).
    """
    lo_rel, hi_rel = cfg.estimation[0], cfg.window[1]
    if anchored.height == 0:
        return pl.DataFrame(schema={"event_id": pl.String, "anchor": pl.String,
                                    "fingerprint": pl.UInt64})
    venues = pl.concat([sessions["exchange_mic"], securities["exchange_mic"]]).unique()
    bounds = sessions.group_by("exchange_mic").agg(
        pl.col("session_idx").min().alias("_min"), pl.col("session_idx").max().alias("_max"))
    span = (
        anchored.join(bounds, on="exchange_mic", how="left")
        .with_columns(
            _lo=pl.max_horizontal(pl.col("day0_idx") + lo_rel, "_min"),
            _hi=pl.min_horizontal(pl.col("day0_idx") + hi_rel, "_max"),
        )
        .join(sessions.select("exchange_mic", pl.col("session_idx").alias("_lo"),
                              pl.col("session_date").alias("date_lo")),
              on=["exchange_mic", "_lo"], how="left")
        .join(sessions.select("exchange_mic", pl.col("session_idx").alias("_hi"),
                              pl.col("session_date").alias("date_hi")),
              on=["exchange_mic", "_hi"], how="left")
        .with_columns(pl.col("date_lo").fill_null(pl.col("day0")),
                      pl.col("date_hi").fill_null(pl.col("day0")))
    )
    # the study's own rows: day 0 per venue, the venue's calendar over its span
    # dates, not session indices: an index depends on where the calendar starts (a backfill
    # from 2006 and a daily run from 2016 number the same session differently)
    own = span.select(*STUDY, "exchange_mic", "day0", "closed_market")
    cal = sessions.select("exchange_mic", "session_date",
                          *[c for c in ("open_utc", "close_utc") if c in sessions.columns])
    cal_sum = _range_sums(
        _codes(cal["exchange_mic"], venues), sessions["session_idx"].to_numpy(), _row_hash(cal),
        _codes(span["exchange_mic"], venues), span["_lo"].fill_null(0).to_numpy(),
        span["_hi"].fill_null(-1).to_numpy())
    venue_part = _mix(_row_hash(own), cal_sum)

    # securities of the study's venues, each with its and its benchmark's rows in the span
    # the marts' ``source`` is the ticker's latest source, wherever that row falls
    latest = prices.sort("session_date").group_by("ticker").agg(
        pl.col("source").last().alias("_latest_source"))
    units = span.select(*STUDY, "exchange_mic", "date_lo", "date_hi").join(
        securities, on="exchange_mic").join(latest, on="ticker", how="left")
    tickers = pl.concat([securities["ticker"], securities["benchmark"], prices["ticker"]])
    q_lo, q_hi = _epoch_days(units["date_lo"]), _epoch_days(units["date_hi"])
    p_code = _codes(prices["ticker"], tickers)
    p_day, p_hash = _epoch_days(prices["session_date"]), _row_hash(prices)
    unit_part = _mix(_row_hash(units.select(*securities.columns, "_latest_source")), _range_sums(
        p_code, p_day, p_hash, _codes(units["ticker"], tickers), q_lo, q_hi))
    unit_part = _mix(unit_part, _range_sums(
        p_code, p_day, p_hash, _codes(units["benchmark"], tickers), q_lo, q_hi))
    if intraday is not None and intraday.height:
        unit_part = _mix(unit_part, _range_sums(
            _codes(intraday["ticker"], tickers),
            _epoch_days(intraday["bar_start_utc"].dt.date()), _row_hash(intraday),
            _codes(units["ticker"], tickers), q_lo - 1, q_hi + 1))
    if shares is not None and shares.height:  # as of a date: the last count before the span
        unit_part = _mix(unit_part, _range_sums(
            _codes(shares["ticker"], tickers), _epoch_days(shares["as_of_date"]),
            _row_hash(shares), _codes(units["ticker"], tickers), q_lo, q_hi, carry_in=True))
    if fx is not None and fx.height and "currency" in units.columns:
        currencies = pl.concat([fx["currency"], units["currency"]])
        unit_part = _mix(unit_part, _range_sums(
            _codes(fx["currency"], currencies), _epoch_days(fx["session_date"]),
            _row_hash(fx), _codes(units["currency"], currencies), q_lo, q_hi, carry_in=True))

    # the event's row and its neighbours in the catalog
    overlaps = catalog_overlaps(anchored, cfg.estimation, cfg.contamination_window,
                                cfg.confound_window, STUDY, others=day0)
    event_rows = anchored.select(STUDY).unique().join(events, on="event_id", how="left")
    config = np.full(event_rows.height, _row_hash(pl.DataFrame(
        {"cfg": [repr(cfg)], "models": [",".join(models)], "version": [VERSION]}))[0],
        dtype=np.uint64)

    parts = pl.concat([
        own.select(STUDY).with_columns(h=pl.Series(venue_part, dtype=pl.UInt64)),
        units.select(STUDY).with_columns(h=pl.Series(unit_part, dtype=pl.UInt64)),
        overlaps.select(STUDY).with_columns(
            h=pl.Series(_row_hash(overlaps), dtype=pl.UInt64)),
        event_rows.select(STUDY).with_columns(
            h=pl.Series(_mix(_row_hash(event_rows), config), dtype=pl.UInt64)),
    ])
    keys = parts.select(STUDY).unique().sort(STUDY).with_row_index("_s")
    study_code = parts.join(keys, on=STUDY, how="left", maintain_order="left")["_s"].to_numpy()
    total = np.zeros(keys.height, dtype=np.uint64)
    np.add.at(total, study_code, parts["h"].to_numpy())  # wraps modulo 2**64
    return keys.drop("_s").with_columns(fingerprint=pl.Series(total, dtype=pl.UInt64))


def changed_studies(current: pl.DataFrame, previous: pl.DataFrame) -> tuple[pl.DataFrame,
                                                                         pl.DataFrame]:
    """(studies to build, studies to delete): new or changed fingerprints; and studies that
    were built before but no longer exist (an event removed from the catalog)."""
    joined = current.join(previous.select(*STUDY, pl.col("fingerprint").alias("_old")),
                          on=STUDY, how="left")
    build = joined.filter(pl.col("_old").is_null() | (pl.col("_old") != pl.col("fingerprint")))
    gone = previous.join(current, on=STUDY, how="anti").select(STUDY)
    return build.select(STUDY).sort(STUDY), gone.sort(STUDY)
