"""Hourly bars around day 0: the move before the US cash open, and each venue's marks.

Two marts, from core hourly bars, core daily bars, the venues' sessions and each study's day 0
(``transforms.reactions.anchor_day0``):

* **path** (``marts.event_intraday``): per (event, anchor, security, hourly bar of the day-0
  session) the bar and its return from the **previous official close** (the daily close of the
  session before day 0, as traded, like the bars).
* **marks** (``marts.event_intraday_mark``): per (event, anchor, security, mark) the price at a
  named instant and its return from the same previous close. ``MARKS``:

  ============= ================================================================
  announcement  the announcement instant, where the catalog has its time
  us_cash_open  the US cash open of the event's US day 0 (NYSE's open: 14:30 UTC
                in standard time, 13:30 UTC in US daylight time, from the calendar)
  venue_open    the security's own day-0 open
  venue_close   the security's own day-0 close (the daily bar's close)
  intraday_low  the day-0 session's low (the daily bar's low)
  intraday_high the day-0 session's high
  ============= ================================================================

The price *at* an instant T is the last price known at T: the previous close while the venue
has not opened (T before the day-0 open), the daily open at the open, the day-0 close once it
has closed, and inside the session the open of the hourly bar holding T (or, in a gap, the
close of the last bar before T). ``price_source`` says which ('previous_close', 'daily',
'hourly'). Inside the session without hourly bars the price is **not guessed**: null, with
``missing_reason`` = 'no_hourly_bars'; an instant before the previous close is
'outside_window', an announcement without a time 'time_unknown', an event with no US day 0
'no_us_session'.
"""

from __future__ import annotations

import polars as pl

#: The named marks, in the order a reader meets them.
MARKS = ("announcement", "us_cash_open", "venue_open", "venue_close", "intraday_low",
         "intraday_high")
#: The venue whose open is "the US cash open" (Nasdaq listings trade on its calendar).
US_CASH_VENUE = "XNYS"
#: An hourly bar's length.
BAR = pl.duration(hours=1)

_UNIT = ["event_id", "anchor", "ticker"]


def intraday_to_core(bars: pl.DataFrame, securities: pl.DataFrame,
                     sessions: pl.DataFrame) -> pl.DataFrame:
    """``RAW_INTRADAY`` rows with the venue (``exchange_mic``, null for a ticker the universe
    does not know) and the ``session_date`` whose [open, close) holds the bar's start (null
    outside every session: the suite's ``bar_outside_session``). Order kept."""
    grid = sessions.select("exchange_mic", "session_date", "open_utc", "close_utc").sort(
        "open_utc")
    located = (
        bars.with_row_index("_row")
        .join(securities.select("ticker", "exchange_mic"), on="ticker", how="left")
        .sort("bar_start_utc")
        .join_asof(grid, left_on="bar_start_utc", right_on="open_utc", by="exchange_mic",
                   strategy="backward", check_sortedness=False)  # both sorted just above
        .with_columns(session_date=pl.when(pl.col("bar_start_utc") < pl.col("close_utc"))
                      .then(pl.col("session_date")))
        .sort("_row")
    )
    return located.drop("_row", "open_utc", "close_utc")


def _day0_units(anchored: pl.DataFrame, securities: pl.DataFrame, sessions: pl.DataFrame,
                daily: pl.DataFrame) -> pl.DataFrame:
    """One row per (event, anchor, security with a previous or a day-0 close) with its day-0
    session, the previous session's close instant and official close, and the day-0 bar."""
    grid = sessions.select(
        "exchange_mic", "session_idx", day0="session_date", open_utc="open_utc",
        close_utc="close_utc")
    previous = sessions.select(
        "exchange_mic", session_idx=pl.col("session_idx") + 1, prev_date="session_date",
        prev_close_utc="close_utc")
    bars = daily.select("ticker", "session_date", "open", "high", "low", "close")
    return (
        anchored.select("event_id", "anchor", "exchange_mic", "day0", "day0_idx")
        .join(securities.select("ticker", "exchange_mic", "segment"), on="exchange_mic")
        .join(grid, left_on=["exchange_mic", "day0_idx"],
              right_on=["exchange_mic", "session_idx"], how="left", suffix="_s")
        .drop("day0_s")
        .join(previous, left_on=["exchange_mic", "day0_idx"],
              right_on=["exchange_mic", "session_idx"], how="left")
        .join(bars.select("ticker", prev_date="session_date", prev_close="close"),
              on=["ticker", "prev_date"], how="left")
        .join(bars.rename({"session_date": "day0"}), on=["ticker", "day0"], how="left")
        # a security with neither close is not in the study (as in marts.event_reaction)
        .filter(pl.col("prev_close").is_not_null() | pl.col("close").is_not_null())
    )


def event_intraday_path(units: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """The path mart: every hourly bar of each unit's day-0 session, with its return from the
    previous official close (null where that close is unknown)."""
    day_bars = bars.select("ticker", "session_date", "bar_start_utc", "open", "high", "low",
                           "close", "volume")
    return (
        units.select(*_UNIT, "exchange_mic", "segment", "day0", "prev_close")
        .join(day_bars, left_on=["ticker", "day0"], right_on=["ticker", "session_date"])
        .with_columns(
            bar_end_utc=pl.col("bar_start_utc") + BAR,
            ret_from_prev_close=pl.col("close") / pl.col("prev_close") - 1.0,
            low_from_prev_close=pl.col("low") / pl.col("prev_close") - 1.0,
            high_from_prev_close=pl.col("high") / pl.col("prev_close") - 1.0,
        )
        .sort(*_UNIT, "bar_start_utc")
    )


def _price_at(marks: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """For each mark row with an instant ``mark_utc`` inside its session: the open of the bar
    holding it, or the close of the last bar before it (``as_of_utc``: that price's time)."""
    starts = bars.select("ticker", "session_date", _start="bar_start_utc",
                         _open="open", _close="close").sort("_start")
    found = (
        marks.with_row_index("_row").sort("mark_utc")
        .join_asof(starts, left_on="mark_utc", right_on="_start",
                   by_left=["ticker", "day0"], by_right=["ticker", "session_date"],
                   strategy="backward", check_sortedness=False)  # sorted by mark_utc
        .sort("_row")
    )
    inside = pl.col("mark_utc") < pl.col("_start") + BAR
    return found.with_columns(
        hourly_price=pl.when(inside).then(pl.col("_open")).otherwise(pl.col("_close")),
        hourly_as_of=pl.when(inside).then(pl.col("_start")).otherwise(pl.col("_start") + BAR),
    ).drop("_row", "_start", "_open", "_close", "session_date", strict=False)


def event_intraday_marks(units: pl.DataFrame, bars: pl.DataFrame, events: pl.DataFrame,
                         anchored: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """The marks mart: one row per (event, anchor, security, mark) -- see the module doc."""
    us_open = (
        anchored.filter(pl.col("exchange_mic") == US_CASH_VENUE)
        .join(sessions.filter(pl.col("exchange_mic") == US_CASH_VENUE)
              .select(day0="session_date", us_open_utc="open_utc"), on="day0")
        .select("event_id", "anchor", "us_open_utc")
    )
    timed = events.select(
        "event_id",
        announced_utc=pl.when(pl.col("announced_precision") != "date")
        .then(pl.col("announced_at")))
    has_bars = bars.select("ticker", day0="session_date").unique().with_columns(
        _bars=pl.lit(True))
    base = (
        units.join(us_open, on=["event_id", "anchor"], how="left")
        .join(timed, on="event_id", how="left")
        .join(has_bars, on=["ticker", "day0"], how="left")
        .with_columns(pl.col("_bars").fill_null(False))
    )
    instant = {"announcement": pl.col("announced_utc"), "us_cash_open": pl.col("us_open_utc"),
               "venue_open": pl.col("open_utc"), "venue_close": pl.col("close_utc"),
               "intraday_low": pl.lit(None, pl.Datetime("us", "UTC")),
               "intraday_high": pl.lit(None, pl.Datetime("us", "UTC"))}
    daily_price = {"venue_open": pl.col("open"), "venue_close": pl.col("close"),
                   "intraday_low": pl.col("low"), "intraday_high": pl.col("high")}
    long = pl.concat([
        base.with_columns(mark=pl.lit(m), mark_order=pl.lit(i, pl.Int8),
                          mark_utc=instant[m],
                          daily_price=daily_price.get(m, pl.lit(None, pl.Float64)))
        for i, m in enumerate(MARKS)  # six marks: one frame each, stacked
    ])
    long = _price_at(long, bars)
    t, is_instant = pl.col("mark_utc"), pl.col("mark").is_in(["announcement", "us_cash_open"])
    before_open = t < pl.col("open_utc")
    after_close = t >= pl.col("close_utc")
    outside = t < pl.col("prev_close_utc")
    source = (
        pl.when(~is_instant).then(pl.when(pl.col("daily_price").is_not_null())
                                  .then(pl.lit("daily")))
        .when(t.is_null() | outside).then(None)
        .when(before_open).then(pl.lit("previous_close"))
        .when(after_close | (t == pl.col("open_utc"))).then(pl.lit("daily"))
        .when(pl.col("_bars") & pl.col("hourly_price").is_not_null()).then(pl.lit("hourly"))
    )
    price = (pl.when(~is_instant).then(pl.col("daily_price"))
             .when(pl.col("price_source") == "previous_close").then(pl.col("prev_close"))
             .when((pl.col("price_source") == "daily") & (t == pl.col("open_utc")))
             .then(pl.col("open"))
             .when(pl.col("price_source") == "daily").then(pl.col("close"))
             .when(pl.col("price_source") == "hourly").then(pl.col("hourly_price")))
    as_of = (pl.when(~is_instant).then(pl.col("mark_utc"))
             .when(pl.col("price_source") == "previous_close").then(pl.col("prev_close_utc"))
             .when((pl.col("price_source") == "daily") & (t == pl.col("open_utc")))
             .then(pl.col("open_utc"))
             .when(pl.col("price_source") == "daily").then(pl.col("close_utc"))
             .when(pl.col("price_source") == "hourly").then(pl.col("hourly_as_of")))
    reason = (
        pl.when(pl.col("price").is_not_null()).then(None)
        .when(pl.col("prev_close").is_null()).then(pl.lit("no_previous_close"))
        .when((pl.col("mark") == "announcement") & t.is_null()).then(pl.lit("time_unknown"))
        .when((pl.col("mark") == "us_cash_open") & t.is_null()).then(pl.lit("no_us_session"))
        .when(is_instant & outside).then(pl.lit("outside_window"))
        .when(is_instant).then(pl.lit("no_hourly_bars"))
        .otherwise(pl.lit("no_daily_bar"))
    )
    return (
        long.with_columns(price_source=source)
        .with_columns(price=price, as_of_utc=as_of)
        .with_columns(
            price_source=pl.when(pl.col("price").is_not_null()).then(pl.col("price_source")),
            ret_from_prev_close=pl.col("price") / pl.col("prev_close") - 1.0,
            hourly_bars=pl.col("_bars"),
        )
        .with_columns(missing_reason=reason)
        .select(*_UNIT, "exchange_mic", "segment", "day0", "mark", "mark_order", "mark_utc",
                "prev_close", "price", "ret_from_prev_close", "price_source", "as_of_utc",
                "hourly_bars", "missing_reason")
        .sort(*_UNIT, "mark_order")
        .drop("mark_order")
    )


def build_intraday_marts(bars: pl.DataFrame, daily: pl.DataFrame, securities: pl.DataFrame,
                         sessions: pl.DataFrame, anchored: pl.DataFrame, events: pl.DataFrame
                         ) -> dict[str, pl.DataFrame]:
    """{'event_intraday': path, 'event_intraday_mark': marks} from core bars (with
    ``session_date``), core daily prices, sessions, each study's day 0 and the events."""
    units = _day0_units(anchored, securities, sessions, daily)
    return {
        "event_intraday": event_intraday_path(units, bars),
        "event_intraday_mark": event_intraday_marks(units, bars, events, anchored, sessions),
    }


def propagation_at_us_open(propagation: pl.DataFrame, marks: pl.DataFrame) -> pl.DataFrame:
    """``marts.event_propagation`` with each venue measured at one common instant, the US cash
    open: ``n_at_us_open`` securities (benchmarks left out, as for the day-0 medians) with a
    known price then, and their ``median_ret_us_open`` from the previous close."""
    at_open = (
        marks.filter((pl.col("mark") == "us_cash_open") & (pl.col("segment") != "benchmark"))
        .group_by("event_id", "anchor", "exchange_mic")
        .agg(n_at_us_open=pl.col("ret_from_prev_close").count().cast(pl.Int64),
             median_ret_us_open=pl.col("ret_from_prev_close").median())
    )
    return (
        propagation.drop("n_at_us_open", "median_ret_us_open", strict=False)
        .join(at_open, on=["event_id", "anchor", "exchange_mic"], how="left",
              maintain_order="left")
        .with_columns(pl.col("n_at_us_open").fill_null(0))
    )
