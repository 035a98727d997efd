"""Which index a security's market model regresses on, when its own has no data.

A security's ``benchmark`` (core.dim_security) is its home index. When that index has no
prices at all (live Yahoo no longer serves it, or a recording lacks it: ^AEX, ^TWII, ^KS11 on
the snapshot), the security would get a null abnormal return and no word why. Instead the
benchmark falls back along one documented chain, and the reaction marts say so
(``benchmark_fallback``):

1. the security's own benchmark;
2. ``REGION_FALLBACK[country]``: the broad index of its region that the universe carries;
3. ``GLOBAL_FALLBACK`` (^GSPC): the world's largest market, as the last resort.

The first link with any price is used. A fallback is an approximation (ASML against the DAX,
TSMC against the Nikkei): filter ``WHERE NOT benchmark_fallback`` to leave those out.
"""

from __future__ import annotations

import polars as pl

#: country -> the region's broad index in the universe (used when the home index has no data)
REGION_FALLBACK: dict[str, str] = {
    "NL": "^GDAXI", "DE": "^GDAXI", "FR": "^GDAXI", "GB": "^GDAXI",
    "JP": "^N225", "KR": "^N225", "TW": "^N225",
    "HK": "^HSI", "CN": "399001.SZ",
    "US": "^GSPC",
}
#: the last link of the chain
GLOBAL_FALLBACK = "^GSPC"


def resolve_benchmarks(securities: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """``securities`` with ``benchmark`` replaced by the first link of the chain that has
    prices, ``listed_benchmark`` (the security master's own) and ``benchmark_fallback``.
    A security whose whole chain has no data keeps its own benchmark (no fallback)."""
    have = prices["ticker"].unique().to_list()
    own = pl.col("benchmark")
    region = (pl.col("country").replace_strict(REGION_FALLBACK, default=None,
                                               return_dtype=pl.String)
              if "country" in securities.columns else pl.lit(None, pl.String))
    # a security that is its own benchmark (an index) keeps it: it is the market, not in it
    itself = own == pl.col("ticker")
    chosen = (pl.when(own.is_in(have) | itself).then(own)
              .when(region.is_in(have)).then(region)
              .when(pl.lit(GLOBAL_FALLBACK).is_in(have)).then(pl.lit(GLOBAL_FALLBACK))
              .otherwise(own))
    return securities.with_columns(listed_benchmark=own).with_columns(
        benchmark=chosen).with_columns(
        benchmark_fallback=(pl.col("benchmark") != pl.col("listed_benchmark")).fill_null(False))
