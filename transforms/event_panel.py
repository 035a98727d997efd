"""The event panel: every (event, security, relative session) with the returns the study needs."""

from __future__ import annotations

import polars as pl


def build_panel(
    day0: pl.DataFrame,
    securities: pl.DataFrame,
    returns: pl.DataFrame,
    sessions: pl.DataFrame,
    rel_range: tuple[int, int],
) -> pl.DataFrame:
    """Long panel: event_id, ticker, rel_day, session_date, ret, mkt_ret, volume.

    Relative days count sessions of the security's own venue from its day 0; the benchmark's
    return is taken on the same calendar date (the benchmark is the home market's index, so it
    trades on the same calendar). Sessions with no price row carry null returns.
    """
    lo, hi = rel_range
    pairs = day0.select("event_id", "exchange_mic", "day0_idx").join(
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
        .select("event_id", "ticker", "rel_day", "session_date", "ret", "mkt_ret", "volume")
        .sort("event_id", "ticker", "rel_day")
    )
