"""Shares outstanding and daily FX from Yahoo Finance through yfinance (>= 1.7).

Shares: ``yf.Ticker(t).get_shares_full(start, end)``. In yfinance 1.7 that is one request to

    https://query2.finance.yahoo.com/ws/fundamentals-timeseries/v1/finance/timeseries/{T}
        ?symbol={T}&period1={start}&period2={end}          (epoch seconds; plus the crumb)

after the ticker's time-zone lookup (the chart endpoint with ``range=1d``, as for prices). The
answer is ``{"timeseries": {"result": [{"meta": ..., "timestamp": [...], "shares_out":
[...]}], "error": null}}``: UTC epoch seconds and plain share counts. yfinance returns them as a
Series indexed by those instants localised (not converted) to the exchange's time zone, so the
index's calendar date is the UTC date Yahoo stamped -- that date is ``as_of_date``. Without a
``shares_out`` key (nothing in range) it returns None; a body ``{"finance": {"error": {"code":
"Bad Request"}}}`` raises. Counts are stepwise and irregular (one row per filing or change), and
Yahoo sometimes sends two different counts for one date: both are passed on, unjudged; the
status message says how many such dates there are (``transforms.value_moved`` decides).

FX: Yahoo's ``{CCY}=X`` symbols (``JPY=X``, ``EUR=X``, ...) quote units of CCY per one US
dollar -- the convention yfinance itself uses when it converts dividends to USD
(``history._dividends_convert_fx``: ``f'{fx}=X'``, reversed). One convention for every
currency, and the safer one for small units: a quote of ~1450 KRW per USD keeps its
significant digits where one of ~0.00069 USD per KRW may be rounded. So
``usd_per_unit = 1 / close`` of the daily
bar; ``session_date`` is the bar's date in the FX feed's time zone (Europe/London). The bars
are fetched by ``sources.yahoo.YahooSource`` -- the same per-symbol history path, status
handling, retries and batch policy as prices -- and only reshaped here. A bar whose close is
missing or not positive yields a null rate (counted in the status message), never an invented
one.

HTTP statuses: the session extends ``sources.yahoo``'s chart-status session to the timeseries
endpoint: 429 -> ``YFRateLimitError`` and 5xx -> ``YahooTimeseriesServerError`` (both retried
by ``sources.retry``), 404 -> 'empty'. An unknown symbol is normally caught earlier, by the
time-zone lookup's chart 404 (reported 'empty', like prices). 401/403 are left to yfinance's
other-cookie retry; if Yahoo still refuses, the ticker is reported 'error' with the status.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import yfinance as yf

from contracts import conform, empty
from sources.base import ExtractResult, status_frame
from sources.reference import RAW_FX, RAW_SHARES, check_request, status_source, wanted_currencies
from sources.yahoo import (
    RETRYABLE,
    SOURCE,
    YahooSource,
    _ChartStatusSession,
    _utc_now,
    _yfinance_raises,
    each_answer,
)

log = logging.getLogger(__name__)

TIMESERIES_PATH = "/ws/fundamentals-timeseries/v1/finance/timeseries/"
NO_SHARES = "Yahoo has no share count in range"


def fx_symbol(currency: str) -> str:
    """Yahoo's symbol for ``currency`` per US dollar, e.g. 'JPY' -> 'JPY=X'."""
    return f"{currency.upper()}=X"


class YahooTimeseriesServerError(RuntimeError):
    """The fundamentals-timeseries endpoint answered 5xx (transient: retried)."""

    def __init__(self, status: int, ticker: str, body: str):
        super().__init__(f"Yahoo timeseries endpoint answered HTTP {status} for {ticker}: {body}")
        self.status = status
        self.ticker = ticker


#: Failures worth another attempt for a share-count request.
SHARES_RETRYABLE: tuple[type[BaseException], ...] = (*RETRYABLE, YahooTimeseriesServerError)


class _ReferenceStatusSession(_ChartStatusSession):
    """``sources.yahoo``'s status session, extended to the timeseries endpoint."""

    ENDPOINTS = {**_ChartStatusSession.ENDPOINTS,
                 TIMESERIES_PATH: (YahooTimeseriesServerError, "finance")}

    @property
    def last_timeseries_status(self) -> dict[str, int]:
        return self.last_status[TIMESERIES_PATH]


class YahooReferenceSource:
    """``ReferenceSource`` over Yahoo Finance: share counts and FX, with retries and status.

    The settings mean what they mean for ``YahooSource``. ``timeout`` applies to the FX bars;
    ``get_shares_full`` takes none and uses yfinance's own (10 s for the time-zone lookup,
    30 s for the timeseries request).
    """

    name = SOURCE

    def __init__(
        self,
        *,
        batch_size: int = 20,
        attempts: int = 4,
        base_delay: float = 2.0,
        max_delay: float = 30.0,
        timeout: float = 20.0,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ):
        # YahooSource validates the settings, and fetches the FX bars
        self._bars = YahooSource(
            batch_size=batch_size,
            attempts=attempts,
            base_delay=base_delay,
            max_delay=max_delay,
            timeout=timeout,
            sleep=sleep,
            rng=rng,
            clock=clock,
        )
        self.batch_size = batch_size
        self.timeout = timeout
        self.retry = self._bars.retry  # one policy and random stream for every backoff
        self._clock = clock
        self._session: _ReferenceStatusSession | None = None

    # -- ReferenceSource -------------------------------------------------------------------

    def shares(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        """Share counts with ``as_of_date`` in [start, end], one status row per ticker."""
        wanted = check_request(tickers, start, end, "tickers")
        frames: list[pl.DataFrame] = []
        statuses: list[dict] = []
        with _yfinance_raises():
            for i in range(0, len(wanted), self.batch_size):
                batch = wanted[i : i + self.batch_size]
                self._shares_batch(batch, start, end, frames, statuses)
        frame = conform(pl.concat(frames) if frames else empty(RAW_SHARES), RAW_SHARES, SOURCE)
        return ExtractResult(frame=frame, status=status_frame(statuses))

    def fx(self, currencies: Sequence[str], start: date, end: date) -> ExtractResult:
        """USD per unit of each non-USD currency, from the daily bars of ``{CCY}=X``."""
        wanted = wanted_currencies(currencies, start, end)
        symbols = {fx_symbol(c): c for c in wanted}
        self._bars._session = self._session_for_requests()  # one cookie jar for both datasets
        bars = self._bars.prices(list(symbols), start, end)
        close = pl.col("close")
        frame = bars.frame.select(
            currency=pl.col("ticker").replace_strict(symbols, return_dtype=pl.String),
            session_date="session_date",
            usd_per_unit=pl.when(close > 0).then(1.0 / close).otherwise(None),
            source="source",
            fetched_at="fetched_at",
        )
        unusable = (
            bars.frame.filter(close.is_null() | (close <= 0))
            .group_by("ticker")
            .agg(pl.len().cast(pl.Int64).alias("_unusable"))
        )
        note = pl.format("{} bar(s) with no usable close: rate left null", "_unusable")
        message = pl.col("message")
        status = (
            bars.status.join(unusable, on="ticker", how="left", maintain_order="left")
            .with_columns(
                source=pl.lit(status_source(SOURCE, "fx")),
                message=pl.when(pl.col("_unusable").is_null())
                .then(message)
                .when(message == "")
                .then(note)
                .otherwise(pl.format("{}; {}", message, note)),
            )
            .drop("_unusable")
        )
        return ExtractResult(frame=conform(frame, RAW_FX, SOURCE), status=status)

    # -- internals -------------------------------------------------------------------------

    def _session_for_requests(self) -> _ReferenceStatusSession:
        if self._session is None:
            self._session = _ReferenceStatusSession(impersonate="chrome")
        return self._session

    def _shares_batch(
        self,
        batch: list[str],
        start: date,
        end: date,
        frames: list[pl.DataFrame],
        statuses: list[dict],
    ) -> None:
        answered = each_answer(batch, lambda t: self._shares_full(t, start, end), self.retry,
                               retry_on=SHARES_RETRYABLE, what="yahoo shares",
                               refusal=self._refusal, statuses=statuses)
        for ticker, series in answered:
            try:
                frame = _reshape_shares(ticker, series, start, end, self._clock())
            except _WireShapeError as exc:
                statuses.append(_status(ticker, "error", 0, str(exc)))
                continue
            if frame.height == 0:
                statuses.append(_status(ticker, "empty", 0, NO_SHARES))
                continue
            frames.append(frame)
            statuses.append(_status(ticker, "ok", frame.height, _duplicate_note(frame)))

    def _refusal(self, ticker: str) -> int | None:
        """401/403 if that was Yahoo's last answer to a chart or timeseries request."""
        if self._session is None:
            return None
        key = ticker.upper()
        for seen in (self._session.last_timeseries_status, self._session.last_chart_status):
            if seen.get(key) in (401, 403):
                return seen[key]
        return None

    def _shares_full(self, ticker: str, start: date, end: date) -> pd.Series | None:
        session = self._session_for_requests()
        key = ticker.upper()
        session.last_chart_status.pop(key, None)
        session.last_timeseries_status.pop(key, None)
        return yf.Ticker(ticker, session=session).get_shares_full(
            start=start,
            end=end + timedelta(days=1),  # yfinance's end is exclusive; ours is inclusive
        )


class _WireShapeError(ValueError):
    """yfinance returned something this adapter does not know how to read."""


def _reshape_shares(
    ticker: str, series: pd.Series | None, start: date, end: date, fetched_at: datetime
) -> pl.DataFrame:
    """yfinance's share-count Series -> RAW_SHARES rows with as_of_date in [start, end]."""
    if series is None or len(series) == 0:
        return empty(RAW_SHARES)
    if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
        raise _WireShapeError(
            f"yfinance share counts came as {type(series).__name__} "
            f"indexed by {type(getattr(series, 'index', None)).__name__}, not a dated Series"
        )
    # the index is Yahoo's UTC stamp localised to the exchange zone: its date is Yahoo's date
    dates = [ts.date() for ts in series.index]
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    frame = pl.DataFrame(
        {
            "ticker": [ticker] * len(dates),
            "as_of_date": dates,
            "shares_outstanding": values,
            "source": [SOURCE] * len(dates),
            "fetched_at": pl.Series([fetched_at] * len(dates), dtype=pl.Datetime("us", "UTC")),
        },
        schema_overrides={"as_of_date": pl.Date()},
    ).with_columns(pl.col("shares_outstanding").fill_nan(None))
    frame = frame.filter(pl.col("as_of_date").is_between(start, end))
    return conform(frame, RAW_SHARES, SOURCE)


def _duplicate_note(frame: pl.DataFrame) -> str:
    conflicting = (
        frame.group_by("as_of_date")
        .agg(pl.col("shares_outstanding").n_unique().alias("n"))
        .filter(pl.col("n") > 1)
        .height
    )
    if not conflicting:
        return ""
    return f"{conflicting} date(s) carry more than one share count (all passed on)"


def _status(ticker: str, status: str, rows: int, message: str) -> dict:
    return {
        "ticker": ticker,
        "source": status_source(SOURCE, "shares"),
        "status": status,
        "rows": rows,
        "message": message,
    }
