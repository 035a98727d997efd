"""Value moved: the USD market-cap change of each security around each event (pure polars).

For each (event, security) with a reaction, three closes on the security's own venue: day -1
(the session before day 0), day 0 and day +5. The market cap in USD at a close is

    shares_outstanding x close x usd_per_unit (that date's rate; 1 for USD listings)

and the value moved over [0, 0] / [0, +5] is the USD cap at the close of day 0 / +5 minus the
USD cap at the close of day -1. This is the "$590B" of a headline. NVDA on 2025-01-27:
24.49e9 x (118.42 - 142.62) = -592.7e9 USD.

Rules, and why:

* **One share count per event**: the latest count with ``as_of_date`` on or before the day -1
  session (an as-of join), used at all three dates. A buyback or issuance inside the window is
  not value moved by the event. A count older than ``max_shares_age_days`` (default 400) is
  not used: a stale count can predate a split and be off by the split factor.
* **Unadjusted close** (``close``, not ``adj_close``): market cap is today's price times
  today's share count. Adjusted closes are back-adjusted for later dividends (and splits), so
  an old adjusted close times a count of that date would understate the cap of that day. (The
  recorded snapshot only has back-adjusted series, but it has no share counts either, so it
  never gets here.)
* **FX at each date**: the latest rate on or before that session date, at most
  ``max_fx_staleness_days`` (default 7) old. FX dates are the FX feed's own, so a Tokyo close
  is valued at that calendar day's rate. The change therefore includes the currency's move
  over the window, which is what a dollar investor saw.
* **Never guess**. Any missing input leaves the values null, and a flag says why:
  ``not_applicable`` (indices, futures, ETFs and any kind outside ``APPLICABLE_KINDS``: values
  null and other flags false), ``shares_unknown`` (no usable count), ``fx_unknown`` (a non-USD
  listing without a rate for a date whose close is known), ``price_unknown`` (no close on day
  -1 or day 0, or none on day +5 although later prices of the ticker are loaded). A day +5 that
  has not happened yet leaves ``value_moved_usd_0_p5`` null with no flag.
* **One company, one count in totals**. ``segment_value_moved`` sums only primary listings.
  A second listing of a company already in the universe (``SAME_COMPANY``: an ADR or a foreign
  line, mapped to the home listing of the ordinary shares) keeps its own values for the record
  but carries ``duplicate_listing_of`` and is left out of the sums. NVD.DE would otherwise add
  NVIDIA's loss a second time.

Inputs are frames with at least these columns (extra columns are ignored):

* ``window``: event_id, ticker, rel_day, session_date (``marts.event_window``)
* ``securities``: ticker, segment, currency, kind (``core.dim_security``)
* ``prices``: ticker, session_date, close (``core.fact_price_daily``, listing currency)
* ``shares``: ticker, as_of_date, shares_outstanding (``core.fact_shares_outstanding``)
* ``fx``: currency, session_date, usd_per_unit (``core.fact_fx_daily``)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import polars as pl

#: value_moved's output: one row per (event_id, ticker) of the window.
VALUE_MOVED: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "ticker": pl.String(),
    "segment": pl.String(),
    "currency": pl.String(),
    "shares_outstanding": pl.Float64(),  # the count used (null when unknown or n/a)
    "shares_as_of": pl.Date(),  # its as-of date
    "mcap_usd_prev": pl.Float64(),  # USD market cap at the close of day -1
    "value_moved_usd_0_0": pl.Float64(),  # USD cap change, close of day -1 -> close of day 0
    "value_moved_usd_0_p5": pl.Float64(),  # USD cap change, close of day -1 -> close of day +5
    "not_applicable": pl.Boolean(),
    "shares_unknown": pl.Boolean(),
    "fx_unknown": pl.Boolean(),
    "price_unknown": pl.Boolean(),
    "duplicate_listing_of": pl.String(),  # primary listing when this is a second line
}

#: segment_value_moved's output: one row per (event_id, segment).
SEGMENT_VALUE_MOVED: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "segment": pl.String(),
    "n_securities": pl.Int64(),  # every security of the segment with a reaction (M_all)
    "n_applicable": pl.Int64(),  # equities/ADRs, second listings left out (M)
    "n_valued_0_0": pl.Int64(),  # of those, with a value over [0,0] (N)
    "value_moved_usd_0_0": pl.Float64(),  # sum over the N; null when N = 0
    "mcap_usd_prev_0_0": pl.Float64(),  # their summed day -1 cap (denominator for a %)
    "n_valued_0_p5": pl.Int64(),
    "value_moved_usd_0_p5": pl.Float64(),
    "mcap_usd_prev_0_p5": pl.Float64(),
    "n_not_applicable": pl.Int64(),
    "n_duplicate_listing": pl.Int64(),
    "n_shares_unknown": pl.Int64(),
    "n_fx_unknown": pl.Int64(),
    "n_price_unknown": pl.Int64(),
}

#: The segment row of marts.event_segment_summary that pools every non-benchmark security.
POOLED_SEGMENT = "all"
BENCHMARK_SEGMENT = "benchmark"

#: Kinds that have a market capitalisation (core.dim_security.kind).
APPLICABLE_KINDS = ("equity", "adr")
BASE_CURRENCY = "USD"
MAX_FX_STALENESS_DAYS = 7
MAX_SHARES_AGE_DAYS = 400

#: Second listings of companies whose home line is also in the universe: second -> primary.
#: The primary is the home-market line of the ordinary shares. Its share count is the
#: company's, with no ADR ratio involved. GOOG and GOOGL are different share classes with
#: separate counts, so both count. This belongs in the security master (an ``issuer`` or
#: ``primary_listing`` column); until then it lives here.
SAME_COMPANY: dict[str, str] = {
    "NVD.DE": "NVDA",
    "TSM": "2330.TW",
    "ASML": "ASML.AS",
    "BABA": "9988.HK",
}

#: the relative days the measures need, and their column suffixes
_POINTS = {-1: "m1", 0: "0", 5: "p5"}


# -- the measure -------------------------------------------------------------------------


def value_moved(
    window: pl.DataFrame,
    securities: pl.DataFrame,
    prices: pl.DataFrame,
    shares: pl.DataFrame,
    fx: pl.DataFrame,
    *,
    max_fx_staleness_days: int = MAX_FX_STALENESS_DAYS,
    max_shares_age_days: int | None = MAX_SHARES_AGE_DAYS,
    same_company: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """USD market cap at day -1 and its change to day 0 and day +5, per (event_id, ticker).

    One output row per (event_id, ticker) in ``window`` (``VALUE_MOVED``), sorted by both.
    See the module docstring for the rules; ``same_company`` defaults to ``SAME_COMPANY``.
    """
    same_company = SAME_COMPANY if same_company is None else same_company
    pairs = window.select("event_id", "ticker").unique().join(
        securities.select("ticker", "segment", "currency", "kind"), on="ticker", how="left"
    )
    points = (
        window.filter(pl.col("rel_day").is_in(list(_POINTS)), pl.col("session_date").is_not_null())
        .select("event_id", "ticker", "rel_day", "session_date")
        .unique(subset=["event_id", "ticker", "rel_day"], keep="first")
        .join(pairs.select("event_id", "ticker", "currency"), on=["event_id", "ticker"])
        .join(prices.select("ticker", "session_date", "close"), on=["ticker", "session_date"],
              how="left")
        .sort("currency", "session_date")
        .join_asof(
            fx.select("currency", pl.col("session_date").alias("fx_date"), "usd_per_unit")
            .sort("currency", "fx_date"),
            left_on="session_date",
            right_on="fx_date",
            by="currency",
            strategy="backward",
            tolerance=timedelta(days=max_fx_staleness_days),
            check_sortedness=False,
        )
        .with_columns(
            usd_per_unit=pl.when(pl.col("currency") == BASE_CURRENCY)
            .then(pl.lit(1.0))
            .otherwise(pl.col("usd_per_unit"))
        )
    )
    wide = points.group_by("event_id", "ticker").agg(
        expr
        for rel, tag in _POINTS.items()
        for expr in (
            pl.col("session_date").filter(pl.col("rel_day") == rel).first().alias(f"date_{tag}"),
            pl.col("close").filter(pl.col("rel_day") == rel).first().alias(f"close_{tag}"),
            pl.col("usd_per_unit").filter(pl.col("rel_day") == rel).first().alias(f"fx_{tag}"),
        )
    )
    last_price = prices.filter(pl.col("close").is_not_null()).group_by("ticker").agg(
        pl.col("session_date").max().alias("last_price_date")
    )
    shares_asof = (
        wide.select("event_id", "ticker", "date_m1")
        .filter(pl.col("date_m1").is_not_null())
        .sort("ticker", "date_m1")
        .join_asof(
            shares.select("ticker", pl.col("as_of_date").alias("shares_as_of"),
                          "shares_outstanding").sort("ticker", "shares_as_of"),
            left_on="date_m1",
            right_on="shares_as_of",
            by="ticker",
            strategy="backward",
            tolerance=None if max_shares_age_days is None else timedelta(days=max_shares_age_days),
            check_sortedness=False,
        )
        .select("event_id", "ticker", "shares_as_of", "shares_outstanding")
    )
    frame = (
        pairs.join(wide, on=["event_id", "ticker"], how="left")
        .join(shares_asof, on=["event_id", "ticker"], how="left")
        .join(last_price, on="ticker", how="left")
    )

    applicable = pl.col("kind").is_in(list(APPLICABLE_KINDS)).fill_null(False)
    n = pl.col("shares_outstanding")

    def usd_cap(tag: str) -> pl.Expr:
        return n * pl.col(f"close_{tag}") * pl.col(f"fx_{tag}")

    def fx_missing(tag: str) -> pl.Expr:
        return pl.col(f"close_{tag}").is_not_null() & pl.col(f"fx_{tag}").is_null()

    p5_overdue = (
        pl.col("date_p5").is_not_null()
        & pl.col("close_p5").is_null()
        & (pl.col("date_p5") <= pl.col("last_price_date")).fill_null(False)
    )
    out = frame.with_columns(
        not_applicable=~applicable,
        shares_unknown=applicable & n.is_null(),
        fx_unknown=applicable & (fx_missing("m1") | fx_missing("0") | fx_missing("p5")),
        price_unknown=applicable
        & (pl.col("close_m1").is_null() | pl.col("close_0").is_null() | p5_overdue),
        shares_outstanding=pl.when(applicable).then(n),
        shares_as_of=pl.when(applicable).then(pl.col("shares_as_of")),
        mcap_usd_prev=pl.when(applicable).then(usd_cap("m1")),
        value_moved_usd_0_0=pl.when(applicable).then(usd_cap("0") - usd_cap("m1")),
        value_moved_usd_0_p5=pl.when(applicable).then(usd_cap("p5") - usd_cap("m1")),
        duplicate_listing_of=pl.col("ticker").replace_strict(
            dict(same_company), default=None, return_dtype=pl.String
        ),
    )
    return out.select(pl.col(c).cast(t) for c, t in VALUE_MOVED.items()).sort(
        "event_id", "ticker"
    )


def segment_value_moved(
    values: pl.DataFrame,
    *,
    pooled: str | None = POOLED_SEGMENT,
    pool_excludes: Sequence[str] = (BENCHMARK_SEGMENT,),
) -> pl.DataFrame:
    """Total USD value moved per (event_id, segment), with what was and was not counted.

    ``values`` is ``value_moved``'s output. A security counts in a window's total when its
    value for that window is known and it is not a second listing. ``n_applicable`` is the M
    of "value moved over N of M securities". A security can be excluded for several reasons,
    so the reason counts may add up to more than M - N. With ``pooled`` set (default 'all', as
    in ``marts.event_segment_summary``), each event also gets one row that pools every segment
    except ``pool_excludes``.
    """
    if pooled is not None:
        values = pl.concat(
            [
                values,
                values.filter(~pl.col("segment").is_in(list(pool_excludes)).fill_null(True))
                .with_columns(segment=pl.lit(pooled, dtype=pl.String)),
            ]
        )
    counted = pl.col("duplicate_listing_of").is_null()

    def window_total(tag: str) -> list[pl.Expr]:
        known = pl.col(f"value_moved_usd_{tag}").is_not_null() & counted
        n_known = known.sum().cast(pl.Int64)
        return [
            n_known.alias(f"n_valued_{tag}"),
            pl.when(n_known > 0)
            .then(pl.col(f"value_moved_usd_{tag}").filter(known).sum())
            .alias(f"value_moved_usd_{tag}"),
            pl.when(n_known > 0)
            .then(pl.col("mcap_usd_prev").filter(known).sum())
            .alias(f"mcap_usd_prev_{tag}"),
        ]

    def count(flag: pl.Expr) -> pl.Expr:
        return flag.sum().cast(pl.Int64)

    out = values.group_by("event_id", "segment").agg(
        pl.len().cast(pl.Int64).alias("n_securities"),
        count(~pl.col("not_applicable") & counted).alias("n_applicable"),
        *window_total("0_0"),
        *window_total("0_p5"),
        count(pl.col("not_applicable")).alias("n_not_applicable"),
        count(~counted & ~pl.col("not_applicable")).alias("n_duplicate_listing"),
        count(pl.col("shares_unknown") & counted).alias("n_shares_unknown"),
        count(pl.col("fx_unknown") & counted).alias("n_fx_unknown"),
        count(pl.col("price_unknown") & counted).alias("n_price_unknown"),
    )
    return out.select(pl.col(c).cast(t) for c, t in SEGMENT_VALUE_MOVED.items()).sort(
        "event_id", "segment"
    )
