"""Hourly bars from Yahoo Finance through yfinance: the live twin of the snapshot's
``intraday/`` files.

``yf.Ticker(t).history(interval='1h', prepost=False, ...)`` -- the chart endpoint, the same
path, status session, retries and batch policy as the daily bars (``sources.yahoo``).

Yahoo's limits, respected here rather than discovered as errors: bars of 1 h (and 60m, 90m)
are served for the last **730 days** only, 2m..30m for 60 days, 1m for 7 days; a request that
reaches further back fails with "The requested range must be within the last 730 days". So
the request is cut to what Yahoo keeps (``KEEP_DAYS``) and the status message says when it
was. Bars come indexed by their start in the exchange's time zone; they are converted to UTC.
Regular-session bars only: pre/post-market bars exist for US listings alone, and a venue's
sessions are what the suite checks bars against. An hourly bar of a session that has not
closed is kept as Yahoo sends it (it is re-fetched, and replaced, by the next run).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import yfinance as yf

from contracts import INTRADAY_INTERVAL, RAW_INTRADAY, conform, empty
from sources.base import ExtractResult, status_frame
from sources.intraday import intraday_status, yahoo_window
from sources.yahoo import (
    NO_DATA,
    RETRYABLE,
    SOURCE,
    YahooSource,
    _ChartStatusSession,
    _yfinance_raises,
    each_answer,
)

#: Days of 1 h history Yahoo serves (its documented limit for intervals of an hour).
KEEP_DAYS = 730
_COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}


class YahooIntradaySource:
    """``IntradaySource`` over Yahoo Finance; settings as ``sources.yahoo.YahooSource``."""

    name = SOURCE

    def __init__(self, **settings) -> None:
        self._daily = YahooSource(**settings)  # validates settings; owns retry and clock
        self._session: _ChartStatusSession | None = None

    def intraday(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        if isinstance(tickers, str):
            raise TypeError("tickers must be a sequence of symbols, not one string")
        wanted = list(dict.fromkeys(tickers))
        now = self._daily._clock()
        window = yahoo_window(start, end, now.date(), KEEP_DAYS)
        if window is None:
            note = f"before Yahoo's {KEEP_DAYS}-day limit for {INTRADAY_INTERVAL} bars"
            return ExtractResult(empty(RAW_INTRADAY), status_frame(
                [intraday_status(SOURCE, t, "empty", 0, note) for t in wanted]))
        first, last = window
        cut = (f"bars before {first} not served by Yahoo ({KEEP_DAYS}-day limit)"
               if first > start else "")
        frames: list[pl.DataFrame] = []
        statuses: list[dict] = []
        answers: list[dict] = []
        size = self._daily.batch_size
        with _yfinance_raises():
            for i in range(0, len(wanted), size):
                batch = wanted[i:i + size]
                for ticker, history in each_answer(
                        batch, lambda t: self._history(t, first, last), self._daily.retry,
                        retry_on=RETRYABLE, what="yahoo intraday", refusal=self._refusal,
                        statuses=answers):
                    try:
                        frame = reshape_intraday(ticker, history, self._daily._clock())
                    except ValueError as exc:  # a wire shape we do not know: say so, go on
                        statuses.append(intraday_status(SOURCE, ticker, "error", 0, str(exc)))
                        continue
                    if frame.height:
                        frames.append(frame)
                    statuses.append(intraday_status(
                        SOURCE, ticker, "ok" if frame.height else "empty", frame.height,
                        cut if frame.height else "; ".join(x for x in (NO_DATA, cut) if x)))
        statuses += [intraday_status(SOURCE, a["ticker"], a["status"], 0, a["message"])
                     for a in answers]
        frame = pl.concat(frames) if frames else empty(RAW_INTRADAY)
        return ExtractResult(frame=frame, status=status_frame(statuses))

    def _refusal(self, ticker: str) -> int | None:
        status = self._session.last_chart_status.get(ticker.upper()) if self._session else None
        return status if status in (401, 403) else None

    def _history(self, ticker: str, start: date, end: date) -> pd.DataFrame:
        if self._session is None:
            self._session = _ChartStatusSession(impersonate="chrome")
        self._session.last_chart_status.pop(ticker.upper(), None)
        return yf.Ticker(ticker, session=self._session).history(
            start=start, end=end + timedelta(days=1), interval=INTRADAY_INTERVAL,
            prepost=False, auto_adjust=False, back_adjust=False, actions=False, repair=False,
            keepna=False, rounding=False, timeout=self._daily.timeout,
        )


def reshape_intraday(ticker: str, history: pd.DataFrame, fetched_at: datetime) -> pl.DataFrame:
    """yfinance's hourly frame -> ``RAW_INTRADAY`` rows (bar starts in UTC); bars with no
    price at all are not bars and are left out."""
    if history.empty:
        return empty(RAW_INTRADAY)
    missing = [c for c in _COLUMNS if c not in history.columns]
    if missing or not isinstance(history.index, pd.DatetimeIndex):
        lacks = ", ".join(missing) or "a time index"
        raise ValueError(f"{ticker}: yfinance hourly frame lacks {lacks}")
    index = history.index if history.index.tz is not None else history.index.tz_localize("UTC")
    values = {ours: history[theirs].to_numpy(dtype="float64", na_value=np.nan)
              for theirs, ours in _COLUMNS.items()}
    keep = ~np.isnan(np.column_stack([values[c] for c in ("open", "high", "low", "close")])).all(1)
    frame = pl.DataFrame({
        "ticker": ticker,
        "bar_start_utc": pl.Series(index.tz_convert("UTC").tz_localize(None)[keep].to_numpy())
        .cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        "interval": INTRADAY_INTERVAL,
        **{c: v[keep] for c, v in values.items()},
        "source": SOURCE,
    }).with_columns(pl.selectors.float().fill_nan(None),
                    fetched_at=pl.lit(fetched_at, pl.Datetime("us", "UTC")))
    return conform(frame, RAW_INTRADAY, SOURCE)

