"""Deterministic synthetic share counts and FX: the demo twin of ``yahoo_reference``.

Share counts are stepwise, as Yahoo's are: a count in force from ``EPOCH`` and then one change
per quarter on a seeded date. Most changes are buybacks and some are issuance, about -1 % a year
on average. There are no splits, because the demo prices have none. The scale is set so that
market capitalisations look plausible *given the demo prices*. The demo draws each security's
starting price at random (e.g. NVDA starts near 300, not 13), so real share counts would give
absurd caps. Instead each equity gets a rough real market cap for January 2021
(``START_CAP_USD``), and its count is that cap divided by the demo's own starting price in USD.
From then on the cap moves with the demo price path. ``start_price`` re-derives the demo's
starting price from the same seeded stream as ``sources.demo``; a test checks that the two
agree. Tickers missing from ``START_CAP_USD`` get a seeded cap between $5B and $200B. Indices,
futures and ETFs have no share count: they are reported 'empty' (not applicable).

FX is a mean-reverting random walk of the log rate around realistic levels (``FX_LEVELS``,
USD per unit). It is AR(1) with phi 0.995, so deviations halve in about 140 weekdays. The
daily volatility suits each currency, down to a near-peg for HKD. One value per weekday
(FX trades Monday to Friday). Series are drawn once from ``EPOCH`` to ``HORIZON`` per seed,
so a later end date never changes history. Every row says ``source='demo'``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
from scipy.signal import lfilter

from contracts import conform, empty
from sources.base import ExtractResult, status_frame
from sources.demo import EPOCH, HORIZON, PRICE_SCALE, _seed, days_total
from sources.reference import (
    RAW_FX,
    RAW_SHARES,
    SHARE_KINDS,
    check_request,
    status_source,
    wanted_currencies,
)

SOURCE = "demo"
DEFAULT_SEED = 20250127  # the same default as sources.demo.DemoSource

#: USD per unit of each currency: the level the demo rate reverts to.
FX_LEVELS: dict[str, float] = {
    "JPY": 0.0067,
    "KRW": 0.00072,
    "TWD": 0.031,
    "HKD": 0.128,
    "CNY": 0.138,
    "EUR": 1.08,
    "GBP": 1.27,
    "AUD": 0.66,
}
#: daily volatility of the log rate (HKD is pegged to the dollar, CNY is managed)
FX_VOL: dict[str, float] = {"HKD": 0.0003, "CNY": 0.0015, "TWD": 0.003}
DEFAULT_FX_VOL = 0.005
FX_PHI = 0.995

#: Rough market caps in early January 2021, USD billions, rounded. They set the scale of the
#: synthetic share counts and nothing else. Two listings of one company get the same cap, and
#: share classes (GOOG, GOOGL) each get their own class's part. Companies that listed later
#: (ARM, GFS, ALAB, CRWV, GEV, CEG, TLN) get a plausible size for their first years.
START_CAP_USD: dict[str, float] = {
    "NVDA": 325, "NVD.DE": 325, "AMD": 110, "AVGO": 180, "ARM": 60, "QCOM": 175,
    "2454.TW": 42, "TSM": 560, "2330.TW": 560, "INTC": 205, "GFS": 25, "0981.HK": 25,
    "MU": 85, "005930.KS": 480, "000660.KS": 90, "MRVL": 35, "CRDO": 2, "ALAB": 8,
    "TXN": 150, "ASML": 205, "ASML.AS": 205, "AMAT": 80, "LRCX": 70, "KLAC": 40,
    "8035.T": 58, "6857.T": 15, "SMCI": 1.6, "DELL": 55, "HPE": 15, "ANET": 23, "CSCO": 190,
    "VRT": 7, "ETN": 48, "GEV": 30, "CEG": 14, "VST": 10, "NRG": 10, "NEE": 150, "TLN": 3,
    "MSFT": 1680, "GOOGL": 620, "GOOG": 570, "AMZN": 1630, "META": 770, "ORCL": 185,
    "AAPL": 2220, "CRWV": 20, "9984.T": 160, "PLTR": 45, "CRM": 200, "NOW": 105, "SNOW": 80,
    "ADBE": 240, "IBM": 112, "BABA": 630, "9988.HK": 630, "BIDU": 75, "0700.HK": 700,
    "300766.SZ": 1.5,
}

#: one share-count change per quarter, on a seeded day within the quarter's first month
QUARTER_DAYS = 91
CHANGE_MEAN, CHANGE_SD = -0.0025, 0.006


def start_price(seed: int, ticker: str, currency: str) -> float:
    """The demo's starting price of ``ticker`` (local currency), from ``sources.demo``'s stream.

    ``DemoSource._series`` seeds its generator with ``_seed(seed, ticker)``, draws its
    (6, days_total()) noise block, then the starting price uniform on [20, 400] times the
    currency's ``PRICE_SCALE``. The same draws in the same order give the same number.
    """
    rng = np.random.default_rng(_seed(seed, ticker))
    rng.normal(0.0, 1.0, (6, days_total()))
    return float(rng.uniform(20.0, 400.0) * PRICE_SCALE.get(currency, 1.0))


class DemoReferenceSource:
    """Synthetic share counts for the equities of ``securities`` and FX for their currencies.

    ``securities``: ticker, currency, kind (the security master).
    """

    name = SOURCE

    def __init__(
        self,
        securities: pl.DataFrame,
        seed: int = DEFAULT_SEED,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.securities = securities.select("ticker", "currency", "kind")
        self.seed = seed
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- ReferenceSource -------------------------------------------------------------------

    def shares(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        wanted = check_request(tickers, start, end, "tickers")
        known = {row["ticker"]: row for row in self.securities.iter_rows(named=True)}
        fetched_at = self.clock()
        frames, status = [], []
        for ticker in wanted:  # one vectorised series per security
            sec = known.get(ticker)
            if sec is None:
                status.append(_status(ticker, "shares", "error", 0, "not in the demo universe"))
                continue
            if sec["kind"] not in SHARE_KINDS:
                status.append(_status(ticker, "shares", "empty", 0,
                                      f"{sec['kind']}: no shares outstanding (not applicable)"))
                continue
            frame = self._share_series(ticker, sec["currency"]).filter(
                pl.col("as_of_date").is_between(start, end)
            )
            frames.append(frame.with_columns(fetched_at=pl.lit(fetched_at)))
            status.append(_status(ticker, "shares", "ok" if frame.height else "empty",
                                  frame.height, "" if frame.height else "no change in range"))
        return ExtractResult(
            frame=conform(pl.concat(frames), RAW_SHARES, SOURCE) if frames else empty(RAW_SHARES),
            status=status_frame(status),
        )

    def fx(self, currencies: Sequence[str], start: date, end: date) -> ExtractResult:
        wanted = wanted_currencies(currencies, start, end)
        fetched_at = self.clock()
        frames, status = [], []
        for currency in wanted:
            if currency not in FX_LEVELS:
                status.append(_status(currency, "fx", "error", 0,
                                      f"no demo rate for currency {currency}"))
                continue
            frame = self._fx_series(currency).filter(
                pl.col("session_date").is_between(start, end)
            )
            frames.append(frame.with_columns(fetched_at=pl.lit(fetched_at)))
            status.append(_status(currency, "fx", "ok" if frame.height else "empty",
                                  frame.height, ""))
        return ExtractResult(
            frame=conform(pl.concat(frames), RAW_FX, SOURCE) if frames else empty(RAW_FX),
            status=status_frame(status),
        )

    # -- series ----------------------------------------------------------------------------

    def _share_series(self, ticker: str, currency: str) -> pl.DataFrame:
        rng = np.random.default_rng(_seed(self.seed, "shares", ticker))
        cap_usd = START_CAP_USD.get(ticker)
        if cap_usd is None:
            cap_usd = float(np.exp(rng.uniform(np.log(5.0), np.log(200.0))))
        price_usd = start_price(self.seed, ticker, currency) * FX_LEVELS.get(currency, 1.0)
        quarters = (HORIZON - EPOCH).days // QUARTER_DAYS + 1
        offsets = np.arange(quarters) * QUARTER_DAYS + rng.integers(0, 31, quarters)
        offsets[0] = 0  # the count in force at the start of the demo market
        steps = np.exp(rng.normal(CHANGE_MEAN, CHANGE_SD, quarters))
        steps[0] = 1.0
        counts = np.round(cap_usd * 1e9 / price_usd * np.cumprod(steps))
        return pl.DataFrame(
            {
                "ticker": ticker,
                "as_of_date": [EPOCH + timedelta(days=int(d)) for d in offsets],
                "shares_outstanding": counts,
                "source": SOURCE,
            }
        ).filter(pl.col("as_of_date") <= HORIZON)

    def _fx_series(self, currency: str) -> pl.DataFrame:
        days = pl.date_range(EPOCH, HORIZON, "1d", eager=True)
        weekdays = days.filter(days.dt.weekday() <= 5)
        rng = np.random.default_rng(_seed(self.seed, "fx", currency))
        shocks = rng.normal(0.0, FX_VOL.get(currency, DEFAULT_FX_VOL), weekdays.len())
        deviation = lfilter([1.0], [1.0, -FX_PHI], shocks)  # AR(1) of the log rate's deviation
        return pl.DataFrame(
            {
                "currency": currency,
                "session_date": weekdays,
                "usd_per_unit": FX_LEVELS[currency] * np.exp(deviation),
                "source": SOURCE,
            }
        )


def _status(name: str, dataset: str, status: str, rows: int, message: str) -> dict:
    return {"ticker": name, "source": status_source(SOURCE, dataset), "status": status,
            "rows": rows, "message": message}
