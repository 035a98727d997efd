"""Hourly bars for the demo, drawn *inside* the demo's own daily bars.

For every event's day-0 session and the session after it, on each venue, each security gets
hourly bars aligned to the venue's open (as Yahoo aligns them: NYSE 14:30, 15:30, ... UTC;
CME Globex from 23:00 UTC the evening before). The path is a Brownian bridge in log price from
the daily open to the daily close, clipped into the daily [low, high]; the bar with the
highest (lowest) point carries the day's high (low). So the hourly bars agree with the daily
ones by construction: first open = daily open, last close = daily close, max high = daily
high, min low = daily low. Random numbers come from a counter-based hash of (seed, ticker,
session, bar), so a bar does not depend on which other tickers or dates were asked for.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import polars as pl

from contracts import INTRADAY_INTERVAL, RAW_INTRADAY, conform, empty
from sources.base import ExtractResult, status_frame
from sources.intraday import in_range, intraday_status

SOURCE = "demo"
#: Sessions after day 0 that get hourly bars too (an attention day 0 is often the next one).
SESSIONS_AFTER = 1
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 of each uint64: a stateless, well-mixed pseudo-random integer."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def _uniform(key: np.ndarray, stream: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        mixed = _splitmix(key * np.uint64(4) + np.uint64(stream))
    return ((mixed >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


class DemoIntradaySource:
    """``IntradaySource`` over a ``DemoSource``'s daily bars (``daily``)."""

    name = SOURCE

    def __init__(self, daily, securities: pl.DataFrame, sessions: pl.DataFrame,
                 day0: pl.DataFrame, seed: int = 20250127) -> None:
        self.daily = daily
        self.securities = securities
        self.sessions = sessions
        self.seed = seed
        grid = sessions.select("exchange_mic", "session_idx", "session_date", "open_utc",
                               "close_utc")
        wanted = day0.select("exchange_mic", "day0_idx").unique().with_columns(
            offset=pl.lit(list(range(SESSIONS_AFTER + 1)))).explode("offset").select(
            "exchange_mic", session_idx=pl.col("day0_idx") + pl.col("offset"))
        self.bar_sessions = wanted.join(grid, on=["exchange_mic", "session_idx"]).unique()

    def intraday(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        if isinstance(tickers, str):
            raise TypeError("tickers must be a sequence of symbols, not one string")
        wanted = list(dict.fromkeys(tickers))
        sessions = self.bar_sessions.filter(
            pl.col("session_date").is_between(start - timedelta(days=1), end + timedelta(days=1)))
        fetched_at = self.daily.clock()
        daily = self.daily.prices(wanted, start - timedelta(days=1),
                                  end + timedelta(days=1)).frame
        units = (
            daily.join(self.securities.select("ticker", "exchange_mic"), on="ticker")
            .join(sessions, on=["exchange_mic", "session_date"])
            # a daily bar the price suite would reject (the demo plants some) gets no hours
            .filter(pl.col("open").is_between(pl.col("low"), pl.col("high"))
                    & pl.col("close").is_between(pl.col("low"), pl.col("high")))
        )
        bars = _draw(units, self.seed).filter(in_range(start, end)) if units.height else None
        frame = empty(RAW_INTRADAY) if bars is None else conform(
            bars.with_columns(interval=pl.lit(INTRADAY_INTERVAL), source=pl.lit(SOURCE),
                              fetched_at=pl.lit(fetched_at, pl.Datetime("us", "UTC"))),
            RAW_INTRADAY, SOURCE)
        counts = dict(frame.group_by("ticker").len().iter_rows())
        status = [intraday_status(SOURCE, t, "ok" if counts.get(t) else "empty",
                                  counts.get(t, 0), "" if counts.get(t) else
                                  "no event session in range") for t in wanted]
        return ExtractResult(frame=frame, status=status_frame(status))


def _draw(units: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Hourly bars for each (ticker, session) of ``units`` (daily OHLCV and open/close UTC)."""
    codes = {t: zlib.crc32(f"{seed}|{t}".encode()) for t in units["ticker"].unique()}
    hour = pl.duration(hours=1)
    per_unit = units.with_columns(
        _n=((pl.col("close_utc") - pl.col("open_utc")).dt.total_minutes() / 60).ceil()
        .cast(pl.Int64).clip(1),
        _code=pl.col("ticker").replace_strict(codes, return_dtype=pl.UInt64),
    ).with_row_index("_unit")
    rows = per_unit.with_columns(_k=pl.int_ranges(1, pl.col("_n") + 1)).explode("_k")
    key = (rows["_code"].to_numpy().astype(np.uint64) * np.uint64(1_000_003)
           + rows["session_date"].dt.epoch("d").to_numpy().astype(np.uint64) * np.uint64(97)
           + rows["_k"].to_numpy().astype(np.uint64))
    u1, u2, u3 = (_uniform(key, s) for s in (1, 2, 3))
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)  # Box-Muller: N(0, 1)
    lo, hi = np.log(rows["low"].to_numpy()), np.log(rows["high"].to_numpy())
    first, last = np.log(rows["open"].to_numpy()), np.log(rows["close"].to_numpy())
    n, k = rows["_n"].to_numpy().astype(np.float64), rows["_k"].to_numpy().astype(np.float64)
    unit = rows["_unit"].to_numpy()
    # a random walk per unit, tied down at both ends: each unit's cumulative sum is its own
    # (one running sum over all units, minus an offset, would change a bar's last bits with
    # whichever units came before it, so a rerun would rewrite the same bars)
    walk = pl.DataFrame({"u": unit, "z": z}).select(
        pl.col("z").cum_sum().over("u")).to_series().to_numpy()
    starts = np.r_[0, np.flatnonzero(np.diff(unit)) + 1]
    end_walk = np.repeat(walk[np.r_[starts[1:], len(z)] - 1], np.diff(np.r_[starts, len(z)]))
    sigma = (hi - lo) / (2.0 * np.sqrt(n))
    point = np.clip(first + (last - first) * k / n + sigma * (walk - k / n * end_walk), lo, hi)
    point = np.where(k == n, last, point)  # the last bar closes at the daily close
    prev = np.r_[np.nan, point[:-1]]
    prev[starts] = first[starts]  # each unit's first bar opens at the daily open
    o, c = np.exp(prev), np.exp(point)
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    high = top + (np.exp(hi) - top) * 0.3 * u3
    low = bottom - (bottom - np.exp(lo)) * 0.3 * u3
    bars = rows.select(
        "ticker", "_unit",
        bar_start_utc=pl.col("open_utc") + (pl.col("_k") - 1) * hour,
        volume=(pl.col("volume") / pl.col("_n")).round(0),
    ).with_columns(open=o, close=c, _top=top, _bottom=bottom, high=high, low=low,
                   _hi=np.exp(hi), _lo=np.exp(lo))
    is_top = pl.col("_top") == pl.col("_top").max().over("_unit")
    is_bottom = pl.col("_bottom") == pl.col("_bottom").min().over("_unit")
    return bars.with_columns(
        high=pl.when(is_top).then(pl.col("_hi")).otherwise(pl.col("high")),
        low=pl.when(is_bottom).then(pl.col("_lo")).otherwise(pl.col("low")),
    ).select("ticker", "bar_start_utc", "open", "high", "low", "close", "volume")
