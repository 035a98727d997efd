"""A deterministic synthetic market, so the whole pipeline runs and is tested with no network.

Returns are a market factor plus an AI-supply-chain factor, weighted by segment, plus
idiosyncratic noise; catalog events shock each segment on the event's day 0 of each venue, with
realistic volume spikes. Instruments that track one underlying (an ETF and a future on an
index, a second listing of a share; ``TRACKING_GROUPS``) move with it, up to a small tracking
noise. The same seed gives the same data; every row says ``source='demo'``. Series start at
``EPOCH`` and are drawn to a fixed horizon, so a later end date only appends rows and never
changes history. A session is written only once it has closed (its venue's close in UTC is not
after the source's clock), so a run on a trading day never invents that day's close. A few
defects real feeds have (a close above the day's high, a stale zero-volume row) are planted so
the quality gates have something to catch.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import NamedTuple

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


class TrackingGroup(NamedTuple):
    """An underlying and the instruments that track it, each with its daily tracking noise."""

    underlying: str
    trackers: dict[str, float]  # ticker -> sd of its daily return around the underlying's


#: Instruments that track one underlying. A tracker's return over one of its sessions is the
#: underlying's factor return compounded over the underlying's sessions since the tracker's
#: previous session (so the price paths stay locked, holidays included), plus the underlying's
#: event shock as seen on the tracker's own venue (its day 0 there, e.g. the next Xetra session
#: for a US-afternoon release), plus its own noise: ETF tracking error, futures basis, and for
#: the Xetra line of Nvidia the part of NVDA's day that is not yet known at the Xetra close
#: (kept tiny: the demo has no intraday timing and no EUR/USD in its prices). Its open, high,
#: low, volume and planted defects stay its own. A tracker whose underlying is not among the
#: securities gets an independent series.
TRACKING_GROUPS: tuple[TrackingGroup, ...] = (
    TrackingGroup("^NDX", {"QQQ": 0.0002, "NQ=F": 0.0008}),  # Nasdaq-100
    TrackingGroup("^GSPC", {"SPY": 0.0002, "ES=F": 0.0008}),  # S&P 500
    TrackingGroup("NVDA", {"NVD.DE": 0.0015}),  # Nvidia, Xetra line in EUR
)
#: tracker -> (underlying, tracking noise), derived from ``TRACKING_GROUPS``
TRACKS: dict[str, tuple[str, float]] = {
    ticker: (group.underlying, noise)
    for group in TRACKING_GROUPS
    for ticker, noise in group.trackers.items()
}
PRICE_SCALE = {"JPY": 150.0, "KRW": 1300.0, "TWD": 30.0, "HKD": 8.0, "CNY": 7.0}


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


class DemoSource:
    """Generates prices for the securities it is given, on each venue's real session grid.

    ``securities``: ticker, segment, exchange_mic, currency. ``sessions``: exchange_mic,
    session_date and (as ``transforms.calendar.exchange_sessions`` gives it) close_utc.
    ``day0``: event_id, exchange_mic, day0. ``events``: event_id, kind, lab_country.
    ``clock``: the current instant (default: the real UTC clock). It stamps ``fetched_at``
    and decides which sessions have closed; tests freeze it.
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
        days = days_total()
        market_rng = np.random.default_rng(self.seed)
        mkt = market_rng.normal(0.0004, 0.010, days)
        ai = market_rng.normal(0.0004, 0.013, days)
        known = self.securities.filter(pl.col("ticker").is_in(list(tickers)))
        frames, status = [], []
        fetched_at = self.clock()
        now = fetched_at.astimezone(UTC)  # a session that has not closed by now is not written
        for sec in known.iter_rows(named=True):  # one vectorised series per security
            frame = self._series(sec, mkt, ai).filter(
                pl.col("session_date").is_between(start, end) & (pl.col("close_utc") <= now)
            ).drop("close_utc")
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
        """Every session of the security from ``EPOCH`` to ``HORIZON``, with its close in UTC."""
        ticker, segment = sec["ticker"], sec["segment"]
        vol = LOADINGS.get(segment, (1.0, 0.5, 0.02))[2]
        noise, p0, base_volume = self._draws(ticker, sec["currency"])
        track = TRACKS.get(ticker)
        under = self._security(track[0]) if track else None
        # a tracker takes the event shock its underlying's segment gets, on its own venue
        sess = self._grid(sec["exchange_mic"], under["segment"] if under else segment)
        n = sess.height
        offset = sess["offset"].to_numpy()
        shock = sess["shock"].fill_null(0.0).to_numpy()
        if under is None:
            idio = shock * (1.0 + 0.3 * noise[0, offset])
            ret = self._factor(segment, noise, mkt, ai)[offset] + idio
        else:
            ret = self._tracking(under, offset, shock, mkt, ai) + track[1] * noise[1, offset]
        close = p0 * np.cumprod(1.0 + ret)
        prev = np.concatenate([[p0], close[:-1]])
        open_ = prev * (1.0 + 0.3 * vol * noise[2, offset])
        high = np.maximum(open_, close) * (1.0 + np.abs(0.4 * vol * noise[3, offset]))
        low = np.minimum(open_, close) * (1.0 - np.abs(0.4 * vol * noise[4, offset]))
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
                "close_utc": sess["close_utc"],
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "adj_close": close,
                "volume": volume,
                "source": self.name,
            }
        )

    def _tracking(self, under: dict, offset: np.ndarray, shock: np.ndarray,
                  mkt: np.ndarray, ai: np.ndarray) -> np.ndarray:
        """A tracker's return on its sessions (``offset``) before its own noise.

        The underlying's factor return compounded over the underlying's sessions since the
        tracker's previous session (none on a day only the tracker trades, two after a day
        only the underlying traded), plus ``shock`` (the tracker venue's day-0 shocks) scaled
        as the underlying scales its own.
        """
        u_noise = self._draws(under["ticker"], under["currency"])[0]
        u_offset = self._grid(under["exchange_mic"], under["segment"])["offset"].to_numpy()
        factor = self._factor(under["segment"], u_noise, mkt, ai)[u_offset]
        growth = np.concatenate([[0.0], np.cumsum(np.log1p(factor))])  # log growth to session k
        upto = np.searchsorted(u_offset, offset, side="right")
        since = np.concatenate([np.searchsorted(u_offset, offset[:1], side="left"), upto[:-1]])
        return np.expm1(growth[upto] - growth[since]) + shock * (1.0 + 0.3 * u_noise[0, offset])

    def _draws(self, ticker: str, currency: str) -> tuple[np.ndarray, float, float]:
        """The security's own seeded stream: (6, days_total()) noise, starting price, volume
        level. ``sources.demo_reference.start_price`` repeats the first two draws."""
        rng = np.random.default_rng(_seed(self.seed, ticker))
        noise = rng.normal(0.0, 1.0, (6, days_total()))  # fixed draw per calendar day
        p0 = rng.uniform(20.0, 400.0) * PRICE_SCALE.get(currency, 1.0)
        return noise, p0, rng.uniform(2e6, 6e7)

    @staticmethod
    def _factor(segment: str, noise: np.ndarray, mkt: np.ndarray, ai: np.ndarray) -> np.ndarray:
        """Return per calendar day without event shocks: factors plus idiosyncratic noise."""
        beta_m, beta_ai, vol = LOADINGS.get(segment, (1.0, 0.5, 0.02))
        return beta_m * mkt + beta_ai * ai + vol * noise[1]

    def _security(self, ticker: str) -> dict | None:
        rows = self.securities.filter(pl.col("ticker") == ticker).to_dicts()
        return rows[0] if rows else None

    def _grid(self, mic: str, segment: str) -> pl.DataFrame:
        """The venue's sessions from ``EPOCH`` to ``HORIZON``: session_date, close_utc (the
        calendar's close; a sessions frame without one counts a session closed at the end of
        its UTC date), offset (calendar days from ``EPOCH``) and the segment's day-0 shock."""
        close_utc = (
            pl.col("close_utc") if "close_utc" in self.sessions.columns
            else pl.col("session_date").cast(pl.Datetime("us")) + pl.duration(days=1)
        ).dt.replace_time_zone(None).dt.replace_time_zone("UTC")
        return (
            self.sessions.filter(
                (pl.col("exchange_mic") == mic) & pl.col("session_date").is_between(EPOCH, HORIZON)
            )
            .select("session_date", close_utc=close_utc)
            .sort("session_date")
            .join(
                self.shocks.filter(
                    (pl.col("exchange_mic") == mic) & (pl.col("segment") == segment)
                ).select("session_date", "shock"),
                on="session_date",
                how="left",
            )
            .with_columns(offset=(pl.col("session_date") - pl.lit(EPOCH)).dt.total_days())
        )


def days_total() -> int:
    """Calendar days drawn per series (EPOCH..HORIZON): fixed, so history never changes."""
    return (HORIZON - EPOCH).days + 1

