"""A deterministic synthetic market, so the whole pipeline runs and is tested with no network.

Returns are a market factor plus an AI-supply-chain factor, weighted by segment, plus
idiosyncratic noise; catalog events shock each segment on the event's day 0 of each venue, with
realistic volume spikes. The same seed gives the same data; every row says ``source='demo'``.
Series start at ``EPOCH`` and are drawn to a fixed horizon, so a later end date only appends
rows and never changes history. A few defects real feeds have (a close above the day's high, a
stale zero-volume row) are planted so the quality gates have something to catch.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from contracts import RAW_PRICES, conform
from sources.base import ExtractResult, status_frame

EPOCH = date(2021, 1, 4)
HORIZON = date(2030, 12, 31)

#: segment -> (beta to market factor, beta to AI factor, daily idiosyncratic vol)
LOADINGS: dict[str, tuple[float, float, float]] = {
    "accelerators": (1.2, 1.4, 0.022),
    "foundry": (1.1, 1.0, 0.017),
    "memory": (1.2, 1.0, 0.022),
    "networking_silicon": (1.2, 1.1, 0.020),
    "semicap_equipment": (1.2, 0.9, 0.018),
    "servers_networking": (1.1, 1.0, 0.024),
    "power_cooling": (0.8, 0.9, 0.020),
    "hyperscalers_cloud": (1.0, 0.5, 0.013),
    "ai_software": (1.1, 0.4, 0.022),
    "china_ai": (0.7, 0.3, 0.022),
    "benchmark": (1.0, 0.15, 0.002),
}

#: day-0 shock by segment for an event from a Chinese lab (the "cheap AI" scare),
#: and for any other release (the AI trade rallies a little).
SHOCK_CHINA_OPEN: dict[str, float] = {
    "accelerators": -0.10, "foundry": -0.06, "memory": -0.06, "networking_silicon": -0.09,
    "semicap_equipment": -0.05, "servers_networking": -0.07, "power_cooling": -0.12,
    "hyperscalers_cloud": -0.01, "ai_software": 0.01, "china_ai": 0.05, "benchmark": -0.01,
}
SHOCK_OTHER: dict[str, float] = {
    "accelerators": 0.02, "foundry": 0.012, "memory": 0.012, "networking_silicon": 0.015,
    "semicap_equipment": 0.01, "servers_networking": 0.015, "power_cooling": 0.012,
    "hyperscalers_cloud": 0.008, "ai_software": 0.01, "china_ai": 0.005, "benchmark": 0.002,
}
KIND_SCALE = {"app_launch": 1.6, "model_release": 0.25}
PRICE_SCALE = {"JPY": 150.0, "KRW": 1300.0, "TWD": 30.0, "HKD": 8.0, "CNY": 7.0}


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


class DemoSource:
    """Generates prices for the securities it is given, on each venue's real session grid.

    ``securities``: ticker, segment, exchange_mic, currency. ``sessions``: exchange_mic,
    session_date. ``day0``: event_id, exchange_mic, day0. ``events``: event_id, kind,
    lab_country.
    """

    name = "demo"

    def __init__(
        self,
        securities: pl.DataFrame,
        sessions: pl.DataFrame,
        day0: pl.DataFrame,
        events: pl.DataFrame,
        seed: int = 20250127,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.securities = securities
        self.sessions = sessions
        self.seed = seed
        self.clock = clock or (lambda: datetime.now(UTC))
        self.shocks = self._segment_shocks(day0, events)

    def _segment_shocks(self, day0: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
        """(exchange_mic, session_date, segment, shock): the event effect each venue sees."""
        china_open = pl.col("lab_country") == "CN"
        rows = [
            {"china_open": flag, "segment": seg, "base": table[seg]}
            for flag, table in ((True, SHOCK_CHINA_OPEN), (False, SHOCK_OTHER))
            for seg in table
        ]
        ev = events.select(
            "event_id",
            china_open=china_open,
            scale=pl.col("kind").replace_strict(KIND_SCALE, default=0.5, return_dtype=pl.Float64),
        )
        # a seeded per-event strength in [0.75, 1.25], so events differ but reruns do not
        # (one crc32 per catalog event, mapped in one vectorised replace)
        ids = events["event_id"].unique().sort().to_list()
        strengths = pl.DataFrame(
            {"event_id": ids,
             "strength": [0.75 + (_seed(self.seed, e) % 1000) / 2000.0 for e in ids]},
            schema={"event_id": pl.String, "strength": pl.Float64},
        )
        return (
            day0.join(ev, on="event_id")
            .join(strengths, on="event_id")
            .join(pl.DataFrame(rows), on="china_open")
            .with_columns(shock=pl.col("base") * pl.col("scale") * pl.col("strength"))
            .sort("exchange_mic", "day0", "segment", "event_id")  # a fixed order to sum in
            .group_by("exchange_mic", pl.col("day0").alias("session_date"), "segment")
            .agg(pl.col("shock").sum())
        )

    def prices(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        days = (HORIZON - EPOCH).days + 1
        market_rng = np.random.default_rng(self.seed)
        mkt = market_rng.normal(0.0004, 0.010, days)
        ai = market_rng.normal(0.0004, 0.013, days)
        known = self.securities.filter(pl.col("ticker").is_in(list(tickers)))
        frames, status = [], []
        fetched_at = self.clock()
        for sec in known.iter_rows(named=True):  # one vectorised series per security
            frame = self._series(sec, mkt, ai).filter(
                pl.col("session_date").is_between(start, end)
            )
            frames.append(frame.with_columns(fetched_at=pl.lit(fetched_at),
                                             unparsed=pl.lit(None, pl.String)))
            status.append(
                {"ticker": sec["ticker"], "source": self.name,
                 "status": "ok" if frame.height else "empty", "rows": frame.height,
                 "message": ""}
            )
        for ticker in sorted(set(tickers) - set(known["ticker"])):
            status.append({"ticker": ticker, "source": self.name, "status": "error", "rows": 0,
                           "message": "not in the demo universe"})
        raw = pl.concat([conform(f, RAW_PRICES, "demo") for f in frames]) if frames else None
        return ExtractResult(
            frame=raw if raw is not None else pl.DataFrame(schema=RAW_PRICES),
            status=status_frame(status),
        )

    def _series(self, sec: dict, mkt: np.ndarray, ai: np.ndarray) -> pl.DataFrame:
        ticker, segment = sec["ticker"], sec["segment"]
        beta_m, beta_ai, vol = LOADINGS.get(segment, (1.0, 0.5, 0.02))
        rng = np.random.default_rng(_seed(self.seed, ticker))
        sess = (
            self.sessions.filter(
                (pl.col("exchange_mic") == sec["exchange_mic"])
                & pl.col("session_date").is_between(EPOCH, HORIZON)
            )
            .select("session_date")
            .sort("session_date")
            .join(
                self.shocks.filter(
                    (pl.col("exchange_mic") == sec["exchange_mic"])
                    & (pl.col("segment") == segment)
                ).select("session_date", "shock"),
                on="session_date",
                how="left",
            )
        )
        n = sess.height
        offset = sess.select(
            (pl.col("session_date") - pl.lit(EPOCH)).dt.total_days()
        ).to_series().to_numpy()
        noise = rng.normal(0.0, 1.0, (6, days_total()))  # fixed draw per calendar day
        shock = sess["shock"].fill_null(0.0).to_numpy()
        idio = shock * (1.0 + 0.3 * noise[0, offset])
        ret = beta_m * mkt[offset] + beta_ai * ai[offset] + vol * noise[1, offset] + idio
        p0 = rng.uniform(20.0, 400.0) * PRICE_SCALE.get(sec["currency"], 1.0)
        close = p0 * np.cumprod(1.0 + ret)
        prev = np.concatenate([[p0], close[:-1]])
        open_ = prev * (1.0 + 0.3 * vol * noise[2, offset])
        high = np.maximum(open_, close) * (1.0 + np.abs(0.4 * vol * noise[3, offset]))
        low = np.minimum(open_, close) * (1.0 - np.abs(0.4 * vol * noise[4, offset]))
        base_volume = rng.uniform(2e6, 6e7)
        volume = np.round(
            base_volume * np.exp(0.25 * noise[5, offset]) * (1.0 + 25.0 * np.abs(shock))
        )
        # planted defects: roughly one in 1500 sessions, chosen from the fixed draw
        defect = (np.abs(noise[5, offset]) > 3.2) & (np.arange(n) > 0)
        stale = (np.abs(noise[4, offset]) > 3.3) & ~defect
        high = np.where(defect, close * 0.995, high)
        open_ = np.where(stale, close, open_)
        high = np.where(stale, close, high)
        low = np.where(stale, close, low)
        volume = np.where(stale, 0.0, volume)
        return pl.DataFrame(
            {
                "ticker": ticker,
                "session_date": sess["session_date"],
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "adj_close": close,
                "volume": volume,
                "source": self.name,
            }
        )


def days_total() -> int:
    """Calendar days drawn per series (EPOCH..HORIZON): fixed, so history never changes."""
    return (HORIZON - EPOCH).days + 1

