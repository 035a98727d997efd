"""Raw prices into the core contract, and daily returns of the adjusted close."""

from __future__ import annotations

import polars as pl

from contracts import CORE_PRICES, RAW_PRICES, RETURNS, conform


def to_core(raw: pl.DataFrame, securities: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Conform raw rows to CORE_PRICES and mark whether each date is a session of its venue.

    Keeps ``unparsed`` (the source's text of cells that did not parse) for the suite to judge,
    adds ``currency`` from the security master and ``is_exchange_session`` (the validity rule
    itself lives in expectations/; this only supplies the fact it tests). Rows of tickers that are
    not in the security master keep a null currency and ``is_exchange_session`` false.
    """
    raw = conform(raw, RAW_PRICES, "raw prices")
    venue = securities.select("ticker", "currency", "exchange_mic")
    marked = (
        raw.join(venue, on="ticker", how="left")
        .join(
            sessions.select("exchange_mic", "session_date", _session=pl.lit(True)),
            on=["exchange_mic", "session_date"],
            how="left",
        )
        .with_columns(is_exchange_session=pl.col("_session").fill_null(False))
    )
    return marked.select(*CORE_PRICES, "unparsed", "is_exchange_session")


def daily_returns(
    prices: pl.DataFrame, securities: pl.DataFrame, sessions: pl.DataFrame
) -> pl.DataFrame:
    """Simple close-to-close returns of ``adj_close`` on each venue's session grid.

    A return needs the immediately preceding session of the ticker's venue: across a missing or
    quarantined row it is null rather than a multi-day return passed off as one day's.
    """
    indexed = prices.join(
        securities.select("ticker", "exchange_mic"), on="ticker", how="inner"
    ).join(
        sessions.select("exchange_mic", "session_date", "session_idx"),
        on=["exchange_mic", "session_date"],
        how="inner",
    )
    out = indexed.sort("ticker", "session_idx").with_columns(
        ret=pl.when(pl.col("session_idx").diff().over("ticker") == 1)
        .then(pl.col("adj_close") / pl.col("adj_close").shift(1).over("ticker") - 1.0)
        .otherwise(None)
    )
    return out.select(pl.col(c).cast(t) for c, t in RETURNS.items())
