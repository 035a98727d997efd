"""The event panel: every (study, security, relative session) with the returns the study needs.

A *study* is one row of the day-0 frame's key columns: ``event_id`` alone, or
(``event_id``, ``anchor``) when each event is measured from more than one day 0
(transforms/reactions.py: the announcement and the attention day). Everything here is
keyed by the caller's ``keys``, so several anchors go through one vectorised pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def build_panel(
    day0: pl.DataFrame,
    securities: pl.DataFrame,
    returns: pl.DataFrame,
    sessions: pl.DataFrame,
    rel_range: tuple[int, int],
    keys: Sequence[str] = ("event_id",),
) -> pl.DataFrame:
    """Long panel: keys, ticker, rel_day, session_date, ret, mkt_ret, volume.

    ``day0`` has one row per (keys, exchange_mic) with its ``day0_idx``. Relative days count
    sessions of the security's own venue from its day 0; the benchmark's return is taken on
    the same calendar date (the benchmark is the home market's index, so it trades on the
    same calendar). Sessions with no price row carry null returns.
    """
    lo, hi = rel_range
    keys = list(keys)
    pairs = day0.select(*keys, "exchange_mic", "day0_idx").join(
        securities.select("ticker", "exchange_mic", "benchmark"), on="exchange_mic"
    )
    grid = (
        pairs.with_columns(rel_day=pl.int_ranges(lo, hi + 1, dtype=pl.Int64))
        .explode("rel_day")
        .with_columns(session_idx=pl.col("day0_idx") + pl.col("rel_day"))
        .join(
            sessions.select("exchange_mic", "session_idx", "session_date"),
            on=["exchange_mic", "session_idx"],
            how="inner",
        )
    )
    own = returns.select("ticker", "session_idx", "ret", "volume")
    bench = returns.select(
        pl.col("ticker").alias("benchmark"), "session_date", pl.col("ret").alias("mkt_ret")
    )
    return (
        grid.join(own, on=["ticker", "session_idx"], how="left")
        .join(bench, on=["benchmark", "session_date"], how="left")
        .select(*keys, "ticker", "rel_day", "session_date", "ret", "mkt_ret", "volume")
        .sort(*keys, "ticker", "rel_day")
    )


def catalog_overlaps(
    day0: pl.DataFrame,
    estimation: tuple[int, int],
    contamination: tuple[int, int] = (-1, 5),
    confound: tuple[int, int] = (-1, 1),
    keys: Sequence[str] = ("event_id",),
    others: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Other catalog events near each event on each venue, in that venue's sessions.

    One row per row of ``day0`` (``keys``, exchange_mic), with the columns below.
    ``others`` (event_id, exchange_mic, day0_idx; default: ``day0`` itself) are the events
    whose day 0s may confound: with an attention anchor, each study's day 0 (announcement or
    attention) is compared with the other events' *announcement* day 0s. An event never
    confounds itself.

    * ``confounded`` / ``confounding_events``: another event's day 0 on the venue lies within
      ``confound`` sessions of this event's day 0 (default [-1, +1]).
    * ``estimation_overlap`` / ``n_overlapping_events`` / ``overlapping_events``: another
      event's ``contamination`` window (default [-1, +5] around its day 0) shares at least
      one session with this event's ``estimation`` window. With offset o = other day0_idx −
      this day0_idx, that is o + c0 <= e1 and o + c1 >= e0, i.e. o in [e0 − c1, e1 − c0].

    Event-id lists are sorted by the other event's day 0, then id; empty when none. A range
    join on the venue (polars ``join_where``), not a loop over events.
    """
    (e0, e1), (c0, c1), (f0, f1) = estimation, contamination, confound
    keys = list(keys)
    this = day0.select(*keys, "exchange_mic", "day0_idx")
    other = (day0 if others is None else others).select(
        pl.col("event_id").alias("other_id"),
        pl.col("exchange_mic").alias("other_mic"),
        pl.col("day0_idx").alias("other_idx"),
    )
    lo = min(e0 - c1, f0)
    hi = max(e1 - c0, f1)
    offset = pl.col("other_idx") - pl.col("day0_idx")
    pairs = (
        this.join_where(
            other,
            pl.col("exchange_mic") == pl.col("other_mic"),
            pl.col("other_idx") >= pl.col("day0_idx") + lo,
            pl.col("other_idx") <= pl.col("day0_idx") + hi,
        )
        .filter(pl.col("event_id") != pl.col("other_id"))
        .with_columns(offset=offset)
        .sort(*keys, "exchange_mic", "other_idx", "other_id")
    )
    in_confound = pl.col("offset").is_between(f0, f1)
    in_estimation = pl.col("offset").is_between(e0 - c1, e1 - c0)
    found = pairs.group_by(*keys, "exchange_mic").agg(
        confounding_events=pl.col("other_id").filter(in_confound),
        overlapping_events=pl.col("other_id").filter(in_estimation),
    )
    empty = pl.lit([], dtype=pl.List(pl.String))
    return (
        this.join(found, on=[*keys, "exchange_mic"], how="left")
        .with_columns(pl.col("confounding_events", "overlapping_events").fill_null(empty))
        .select(
            *keys,
            "exchange_mic",
            confounded=pl.col("confounding_events").list.len() > 0,
            confounding_events=pl.col("confounding_events"),
            estimation_overlap=pl.col("overlapping_events").list.len() > 0,
            n_overlapping_events=pl.col("overlapping_events").list.len().cast(pl.Int64),
            overlapping_events=pl.col("overlapping_events"),
        )
        .sort(*keys, "exchange_mic")
    )
