"""How an event's shock travelled round the world's venues (marts.event_propagation).

grain: one row per (event_id, exchange_mic) of the day-0 frame — every venue of the
universe on which the event has a day 0, whether or not it has securities with data.

Each venue's day-0 session is the first session of that venue closing after the
announcement (transforms/calendar.py), so ordering the venues by ``day0_close_utc`` tells
in which order the markets priced the news. Per venue:

* ``close_order``: dense rank of ``day0_close_utc`` within the event, 1 = the first venue to
  close after the announcement; venues closing at the same instant share a rank
  (Amsterdam and Xetra; the US cash venues XNAS, XNYS and ARCX, which are kept as separate
  rows because securities, benchmarks and day 0 are keyed by MIC — group them by
  ``close_order`` or ``venue_group`` for one "US cash" line).
* ``first_trade_utc`` / ``reaction_order``: the first instant each venue could trade on the
  news (the later of the announcement and its day-0 open) and its dense rank: the order in
  which markets *could react*. CME Globex opens the evening before, so index futures rank
  ahead of every cash market although they close last. Rows are sorted by it.
* ``n_at_us_open`` / ``median_ret_us_open``: every venue measured at one instant, the US cash
  open (filled from the intraday marks by ``transforms.intraday.propagation_at_us_open``).
* ``n_securities`` / ``n_with_ar``: non-benchmark securities of the venue in
  marts.event_reaction with a day-0 return / a day-0 abnormal return.
* ``median_ar_day0``, ``mean_ar_day0``, ``median_ret_day0``, ``mean_ret_day0`` over those
  securities (the benchmark segment — indices, ETFs, index futures — is left out).
* ``benchmark_ticker``: the home index most of the venue's securities are regressed on
  (their ``benchmark``; for a venue with only benchmark-segment instruments, theirs);
  ``benchmark_ret_day0`` its return on the venue's day-0 date. No benchmark AR is given:
  the market model of an index on itself has an AR of zero by construction.
* ``n_etf_futures`` / ``etf_futures_median_ret_day0``: the venue's ETFs and index futures
  (``kind`` etf or future) with a day-0 return, and their median return — the only reading
  on venues that list nothing else (CME index futures, NYSE Arca ETFs). Indices are left
  out (their return is ``benchmark_ret_day0``; ^VIX is not a price).
"""

from __future__ import annotations

import polars as pl

#: Display name and group of each venue MIC (unknown MICs show their MIC).
VENUES: dict[str, tuple[str, str]] = {
    "XTKS": ("Tokyo Stock Exchange", "Tokyo"),
    "XKRX": ("Korea Exchange", "Seoul"),
    "XTAI": ("Taiwan Stock Exchange", "Taipei"),
    "XHKG": ("Hong Kong Exchanges", "Hong Kong"),
    "XSHG": ("Shanghai Stock Exchange", "Shanghai"),
    "XSHE": ("Shenzhen Stock Exchange", "Shenzhen"),
    "XAMS": ("Euronext Amsterdam", "Amsterdam/Frankfurt"),
    "XETR": ("Xetra (Frankfurt)", "Amsterdam/Frankfurt"),
    "XFRA": ("Frankfurt Stock Exchange", "Amsterdam/Frankfurt"),
    "XPAR": ("Euronext Paris", "Paris"),
    "XLON": ("London Stock Exchange", "London"),
    "XNYS": ("New York Stock Exchange", "US cash"),
    "XNAS": ("Nasdaq", "US cash"),
    "ARCX": ("NYSE Arca", "US cash"),
    "BATS": ("Cboe BZX", "US cash"),
    "XCBO": ("Cboe Options Exchange", "US cash"),
    "XCME": ("CME Globex (US index futures)", "US futures"),
}

BENCHMARK_SEGMENT = "benchmark"
#: Instruments that track an index (``core.dim_security.kind``).
TRACKER_KINDS = ("etf", "future")


def venue_benchmarks(securities: pl.DataFrame) -> pl.DataFrame:
    """exchange_mic -> benchmark_ticker: the most common benchmark of the venue's securities.

    Non-benchmark-segment securities decide; a venue with none falls back to its
    benchmark-segment instruments. Ties go to the alphabetically first ticker.
    """
    return (
        securities.group_by("exchange_mic", "benchmark")
        .agg(
            own=(pl.col("segment") != BENCHMARK_SEGMENT).sum(),
            n=pl.len(),
        )
        .sort(["exchange_mic", "own", "n", "benchmark"], descending=[False, True, True, False])
        .group_by("exchange_mic", maintain_order=True)
        .agg(benchmark_ticker=pl.col("benchmark").first())
    )


def event_propagation(
    reaction: pl.DataFrame,
    day0: pl.DataFrame,
    events: pl.DataFrame,
    securities: pl.DataFrame,
    returns: pl.DataFrame,
    sessions: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """marts.event_propagation (see the module docstring for the definitions).

    ``reaction``: marts.event_reaction rows (event_id, ticker, segment, exchange_mic,
    ret_day0, ar_day0); ``day0``: event_id, exchange_mic, day0, day0_close_utc,
    closed_market; ``events``: event_id, name, announced_at, announced_precision;
    ``returns``: ticker, session_date, ret (the benchmark's return on the day-0 date);
    ``sessions`` (optional): exchange_mic, session_date, open_utc for ``day0_open_utc``.
    """
    ret, ar = pl.col("ret_day0"), pl.col("ar_day0")
    stock = pl.col("segment") != BENCHMARK_SEGMENT
    tracker = pl.col("kind").is_in(TRACKER_KINDS).fill_null(False)
    per_venue = (
        reaction.join(securities.select("ticker", "kind"), on="ticker", how="left")
        .group_by("event_id", "exchange_mic")
        .agg(
            n_securities=ret.filter(stock).count().cast(pl.Int64),
            n_with_ar=ar.filter(stock).count().cast(pl.Int64),
            median_ar_day0=ar.filter(stock).median(),
            mean_ar_day0=ar.filter(stock).sort().mean(),  # sorted: a fixed summation order
            median_ret_day0=ret.filter(stock).median(),
            mean_ret_day0=ret.filter(stock).sort().mean(),
            n_etf_futures=ret.filter(tracker).count().cast(pl.Int64),
            etf_futures_median_ret_day0=ret.filter(tracker).median(),
        )
    )
    names = pl.DataFrame(
        {
            "exchange_mic": list(VENUES),
            "venue_name": [v[0] for v in VENUES.values()],
            "venue_group": [v[1] for v in VENUES.values()],
        }
    )
    bench_ret = returns.select(
        pl.col("ticker").alias("benchmark_ticker"),
        pl.col("session_date").alias("day0"),
        pl.col("ret").alias("benchmark_ret_day0"),
    ).unique(["benchmark_ticker", "day0"], keep="last")
    frame = (
        day0.select("event_id", "exchange_mic", "day0", "day0_close_utc", "closed_market")
        .join(
            events.select("event_id", "announced_at", "announced_precision", event_name="name"),
            on="event_id",
        )
        .join(names, on="exchange_mic", how="left")
        .join(per_venue, on=["event_id", "exchange_mic"], how="left")
        .join(venue_benchmarks(securities), on="exchange_mic", how="left")
        .join(bench_ret, on=["benchmark_ticker", "day0"], how="left")
    )
    if sessions is not None:
        frame = frame.join(
            sessions.select("exchange_mic", day0="session_date", day0_open_utc="open_utc"),
            on=["exchange_mic", "day0"],
            how="left",
        )
    else:
        frame = frame.with_columns(day0_open_utc=pl.lit(None, dtype=pl.Datetime("us", "UTC")))
    hours = (pl.col("day0_close_utc") - pl.col("announced_at")).dt.total_seconds() / 3600.0
    return (
        frame.with_columns(
            pl.col("venue_name").fill_null(pl.col("exchange_mic")),
            pl.col("venue_group").fill_null(pl.col("exchange_mic")),
            pl.col("n_securities", "n_with_ar", "n_etf_futures").fill_null(0),
            close_order=pl.col("day0_close_utc").rank("dense").over("event_id").cast(pl.Int64),
            hours_after_announcement=hours,
            # the first instant the venue could trade on the news: its day-0 open, or the
            # announcement itself if the session was already open
            first_trade_utc=pl.max_horizontal("announced_at", "day0_open_utc"),
        )
        .with_columns(reaction_order=pl.col("first_trade_utc").rank("dense").over("event_id")
                      .cast(pl.Int64))
        .select(
            "event_id",
            "event_name",
            "announced_at",
            "announced_precision",
            "exchange_mic",
            "venue_name",
            "venue_group",
            "day0",
            "day0_open_utc",
            "day0_close_utc",
            "closed_market",
            "close_order",
            "first_trade_utc",
            "reaction_order",
            "hours_after_announcement",
            "n_securities",
            "n_with_ar",
            "median_ar_day0",
            "mean_ar_day0",
            "median_ret_day0",
            "mean_ret_day0",
            "benchmark_ticker",
            "benchmark_ret_day0",
            "n_etf_futures",
            "etf_futures_median_ret_day0",
            # filled from the intraday marks (transforms.intraday.propagation_at_us_open)
            n_at_us_open=pl.lit(0, pl.Int64),
            median_ret_us_open=pl.lit(None, pl.Float64),
        )
        .sort("event_id", "reaction_order", "close_order", "exchange_mic")
    )
