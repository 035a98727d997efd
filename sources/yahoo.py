"""Daily prices from Yahoo Finance through yfinance (>= 1.7), shaped into ``RAW_PRICES``.

How yfinance 1.7 is driven, and why not with ``yf.download``:

* ``yf.download`` cannot report failures: its per-ticker worker (``multi._download_one``)
  catches *every* exception, rate limits included, and keeps the text in a per-call context
  that it only logs; the failed ticker comes back as all-NaN columns, indistinguishable from
  a ticker with no data. (``yf.shared._ERRORS`` still exists but nothing writes to it.) So a
  batch here is a list of tickers fetched one by one with ``yf.Ticker(t).history(...)`` --
  which is exactly what ``download`` does inside (one chart request per ticker), minus the
  swallowing. With ``yf.config.debug.hide_exceptions = False`` (set for the duration of a
  call, then restored) ``history`` raises instead of returning an empty frame.
* yfinance hides HTTP statuses. Any 4xx/5xx first costs a second round trip with its other
  cookie strategy; then a 5xx becomes a JSON-decoding error (HTML body) or "possibly delisted;
  no price data found" (JSON body) -- a Yahoo outage would read as "no data" -- and a 404
  (unknown symbol) sends it on to the quoteSummary endpoint, which raises a curl HTTPError 404
  for the first two such symbols in a process and ``YFTzMissingError`` after. So yfinance is
  given a session (its documented ``session=`` hook; a curl_cffi session impersonating Chrome
  like yfinance's own) that turns chart-endpoint statuses into typed errors:
  429 -> ``YFRateLimitError`` and 5xx -> ``YahooServerError`` (both retried with backoff),
  404 -> ``YahooNotFound`` (the ticker is reported 'empty'). 401/403 stay with yfinance, which
  retries them with its other cookie strategy and then reports "no price data"; the session
  remembers the status so that such a ticker is reported 'error', not 'empty'.
* yfinance's own retry loop (``yf.config.network.retries``, which sleeps for real) is set to
  0 during a call so that ``sources.retry`` is the only retry policy.

Outcome per ticker (``sources.base.status_frame``): 'ok' with its rows; 'empty' when Yahoo has
no data for it (unknown, delisted, nothing in range); 'error' when the fetch failed. A
retryable failure (rate limit, timeout, connection error, 5xx) that outlasts the retries
abandons the rest of its batch -- also reported 'error' -- and the next batch goes on, so a
Yahoo that refuses us costs at most one backoff schedule per batch, not per ticker.

No validity rules live here: rows are reshaped, never judged. Bars whose prices are all
missing (Yahoo sends them for halts and padding) are not prices, so they are not emitted, but
they are counted in the ticker's status message.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
import polars as pl
import requests
import yfinance as yf
from curl_cffi import requests as curl_requests
from yfinance.exceptions import YFRateLimitError, YFTickerMissingError

from contracts import RAW_ACTIONS, RAW_PRICES, conform, empty
from sources.base import ExtractResult, status_frame
from sources.retry import RetryPolicy, describe

log = logging.getLogger(__name__)

SOURCE = "yahoo"
NO_DATA = "no data returned — possibly delisted or unknown to Yahoo"

#: yfinance column -> RAW_PRICES column. 'Adj Close' is optional (falls back to 'Close').
_PRICE_COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Close": "close"}
_CHART_PATH = "/v8/finance/chart/"


class YahooServerError(RuntimeError):
    """The chart endpoint answered 5xx (transient: retried)."""

    def __init__(self, status: int, ticker: str, body: str):
        super().__init__(f"Yahoo chart endpoint answered HTTP {status} for {ticker}: {body}")
        self.status = status
        self.ticker = ticker


class YahooNotFound(YFTickerMissingError):
    """The chart endpoint answered 404: Yahoo does not know the symbol (reported 'empty')."""

    def __init__(self, ticker: str, description: str):
        super().__init__(ticker, f"HTTP 404: {description}", possibly_delisted=False)


#: Failures worth another attempt: rate limits, timeouts, dropped connections, 5xx.
RETRYABLE: tuple[type[BaseException], ...] = (
    YFRateLimitError,
    YahooServerError,
    curl_requests.exceptions.Timeout,
    curl_requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,  # yfinance falls back to `requests` without curl_cffi
    requests.exceptions.ConnectionError,
    TimeoutError,
    ConnectionError,
)


class _WireShapeError(ValueError):
    """yfinance returned a frame this adapter does not know how to read."""


def _error_description(response, envelope: str = "chart") -> str:
    """Yahoo's error text from its JSON envelope (``{"chart": {"error": {"description"}}}``,
    ``"finance"`` for the timeseries endpoint), else the start of the body."""
    try:
        return str(response.json()[envelope]["error"]["description"])
    except Exception:  # not Yahoo's JSON error envelope: show the start of the body
        return (response.text or "").strip()[:200] or "(empty body)"


class _ChartStatusSession(curl_requests.Session):
    """A curl_cffi session whose responses from Yahoo's data endpoints raise on 404, 429 and 5xx.

    401/403 are left to yfinance, which retries them once with its other cookie strategy;
    the last status per endpoint and symbol is kept so that a refusal yfinance then turns
    into a "no price data" error can be reported as the error it is. Other endpoints (cookie,
    crumb) are left to yfinance's own handling.
    """

    #: endpoint path -> (error raised on 5xx, the JSON envelope of its error body)
    ENDPOINTS: dict[str, tuple[type[Exception], str]] = {_CHART_PATH: (YahooServerError, "chart")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_status: dict[str, dict[str, int]] = {path: {} for path in self.ENDPOINTS}

    @property
    def last_chart_status(self) -> dict[str, int]:
        return self.last_status[_CHART_PATH]

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        path = urlsplit(str(url)).path
        for endpoint, (server_error, envelope) in self.ENDPOINTS.items():
            if endpoint not in path:
                continue
            status = response.status_code
            ticker = unquote(path.rsplit("/", 1)[-1])
            self.last_status[endpoint][ticker.upper()] = status
            if status == 429:
                raise YFRateLimitError()
            if status >= 500:
                raise server_error(status, ticker, _error_description(response, envelope))
            if status == 404:
                raise YahooNotFound(ticker, _error_description(response, envelope))
        return response


@contextmanager
def _yfinance_raises() -> Iterator[None]:
    """Make yfinance raise instead of logging, and not retry on its own; restore afterwards."""
    debug, network = yf.config.debug, yf.config.network
    saved = (debug.hide_exceptions, network.retries)
    debug.hide_exceptions = False
    network.retries = 0
    try:
        yield
    finally:
        debug.hide_exceptions, network.retries = saved


def _utc_now() -> datetime:
    return datetime.now(UTC)


class YahooSource:
    """``PriceSource`` over Yahoo Finance (yfinance), with retries and per-ticker status."""

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
        if batch_size < 1 or attempts < 1:
            raise ValueError(f"batch_size and attempts must be >= 1, got {batch_size}, {attempts}")
        if base_delay < 0 or max_delay < 0 or timeout <= 0:
            raise ValueError("delays must be >= 0 and the timeout > 0")
        self.batch_size = batch_size
        self.retry = RetryPolicy(attempts=attempts, base_delay=base_delay, max_delay=max_delay,
                                 sleep=sleep, rng=rng)
        self.timeout = timeout
        self._clock = clock
        self._session: _ChartStatusSession | None = None

    # -- PriceSource -----------------------------------------------------------------------

    def prices(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        """Daily bars with exchange-local session dates in [start, end], one status per ticker."""
        if isinstance(tickers, str):
            raise TypeError("tickers must be a sequence of symbols, not one string")
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        wanted = list(dict.fromkeys(tickers))  # de-duplicated, order kept
        frames: list[pl.DataFrame] = []
        actions: list[pl.DataFrame] = []
        statuses: list[dict] = []
        with _yfinance_raises():
            for i in range(0, len(wanted), self.batch_size):
                batch = wanted[i : i + self.batch_size]
                self._fetch_batch(batch, start, end, frames, statuses, actions)
        frame = conform(pl.concat(frames) if frames else empty(RAW_PRICES), RAW_PRICES, SOURCE)
        found = conform(pl.concat(actions) if actions else empty(RAW_ACTIONS), RAW_ACTIONS,
                        SOURCE)
        return ExtractResult(frame=frame, status=status_frame(statuses), actions=found)

    # -- internals -------------------------------------------------------------------------

    def _fetch_batch(
        self,
        batch: list[str],
        start: date,
        end: date,
        frames: list[pl.DataFrame],
        statuses: list[dict],
        actions: list[pl.DataFrame] | None = None,
    ) -> None:
        answered = each_answer(batch, lambda t: self._history(t, start, end), self.retry,
                               retry_on=RETRYABLE, what="yahoo", refusal=self._refusal,
                               statuses=statuses)
        for ticker, history in answered:
            try:
                fetched_at = self._clock()
                frame, blank_dates = _reshape(ticker, history, fetched_at)
                if actions is not None:
                    actions.append(_reshape_actions(ticker, history, fetched_at))
            except _WireShapeError as exc:
                statuses.append(_status(ticker, "error", 0, str(exc)))
                continue
            note = _blank_note(blank_dates)
            if frame.height == 0:
                message = NO_DATA if note is None else f"{NO_DATA}; {note}"
                statuses.append(_status(ticker, "empty", 0, message))
            else:
                frames.append(frame)
                statuses.append(_status(ticker, "ok", frame.height, note or ""))

    def _refusal(self, ticker: str) -> int | None:
        """401/403 if that was Yahoo's last answer to a chart request for ``ticker``."""
        status = self._session.last_chart_status.get(ticker.upper()) if self._session else None
        return status if status in (401, 403) else None

    def _history(self, ticker: str, start: date, end: date) -> pd.DataFrame:
        if self._session is None:
            self._session = _ChartStatusSession(impersonate="chrome")
        self._session.last_chart_status.pop(ticker.upper(), None)
        return yf.Ticker(ticker, session=self._session).history(
            start=start,
            end=end + timedelta(days=1),  # yfinance's end is exclusive; ours is inclusive
            interval="1d",
            auto_adjust=False,  # keep raw OHLC and 'Adj Close' side by side
            back_adjust=False,
            actions=True,  # dividends and splits ride along in the same chart response
            repair=False,  # repair is a validity judgement; not this layer's job
            keepna=True,  # let nothing be dropped out of sight; blank bars are counted here
            rounding=False,
            timeout=self.timeout,
        )


def _reshape(
    ticker: str, history: pd.DataFrame, fetched_at: datetime
) -> tuple[pl.DataFrame, list[date]]:
    """yfinance's frame -> RAW_PRICES rows, and the dates of the all-blank bars left out."""
    if history.empty:
        return empty(RAW_PRICES), []
    missing = [c for c in [*_PRICE_COLUMNS, "Volume"] if c not in history.columns]
    if missing:
        raise _WireShapeError(
            f"yfinance frame lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, history.columns))})"
        )
    if not isinstance(history.index, pd.DatetimeIndex):
        raise _WireShapeError(f"yfinance frame index is {type(history.index).__name__}, not dates")

    def column(name: str) -> np.ndarray:
        return history[name].to_numpy(dtype="float64", na_value=np.nan)

    values = {ours: column(theirs) for theirs, ours in _PRICE_COLUMNS.items()}
    values["adj_close"] = column("Adj Close" if "Adj Close" in history.columns else "Close")
    prices = np.column_stack(list(values.values()))
    blank = np.isnan(prices).all(axis=1)
    # The index is midnight in the exchange's time zone (tz-aware from Ticker.history):
    # its calendar date is the local session date. Never convert to UTC first.
    session_dates = [ts.date() for ts in history.index]

    keep = ~blank
    n = int(keep.sum())
    frame = pl.DataFrame(
        {
            "ticker": [ticker] * n,
            "session_date": [d for d, k in zip(session_dates, keep, strict=True) if k],
            **{name: array[keep] for name, array in values.items()},
            "volume": column("Volume")[keep],
            "source": [SOURCE] * n,
            "fetched_at": pl.Series([fetched_at] * n, dtype=pl.Datetime("us", "UTC")),
            "unparsed": pl.Series([None] * n, dtype=pl.String),  # yfinance sends numbers
        },
        schema_overrides={"session_date": pl.Date()},
    ).with_columns(pl.selectors.float().fill_nan(None))  # missing value = null, not NaN
    blank_dates = [d for d, b in zip(session_dates, blank, strict=True) if b]
    return conform(frame, RAW_PRICES, SOURCE), blank_dates


#: yfinance's action columns (zero on days without one) -> our action names.
_ACTION_COLUMNS = {"Dividends": "dividend", "Stock Splits": "split"}


def _reshape_actions(ticker: str, history: pd.DataFrame, fetched_at: datetime) -> pl.DataFrame:
    """yfinance's Dividends / Stock Splits columns -> RAW_ACTIONS rows (non-zero days only).

    Their dates are the index's local session dates, as for prices. A value the suite must
    judge (NaN, negative) is kept, never dropped here; only yfinance's 0 = "none that day" is.
    """
    if history.empty or not any(c in history.columns for c in _ACTION_COLUMNS):
        return empty(RAW_ACTIONS)
    dates = [ts.date() for ts in history.index]
    parts = []
    for theirs, ours in _ACTION_COLUMNS.items():
        if theirs not in history.columns:
            continue
        values = history[theirs].to_numpy(dtype="float64", na_value=np.nan)
        hit = values != 0  # NaN != 0: kept for the suite to reject
        parts.append(pl.DataFrame({
            "ticker": [ticker] * int(hit.sum()),
            "ex_date": [d for d, h in zip(dates, hit, strict=True) if h],
            "action": [ours] * int(hit.sum()),
            "value": values[hit],
        }, schema_overrides={"ex_date": pl.Date()}))
    frame = pl.concat(parts).with_columns(
        pl.col("value").fill_nan(None), source=pl.lit(SOURCE),
        fetched_at=pl.lit(fetched_at, pl.Datetime("us", "UTC")),
    )
    return conform(frame, RAW_ACTIONS, SOURCE)


def _blank_note(blank_dates: list[date]) -> str | None:
    if not blank_dates:
        return None
    shown = ", ".join(d.isoformat() for d in blank_dates[:5])
    more = f" and {len(blank_dates) - 5} more" if len(blank_dates) > 5 else ""
    return f"left out {len(blank_dates)} bar(s) with no prices: {shown}{more}"


def each_answer(batch: list[str], fetch: Callable[[str], Any], policy: RetryPolicy, *,
                retry_on: tuple[type[BaseException], ...], what: str,
                refusal: Callable[[str], int | None],
                statuses: list[dict]) -> Iterator[tuple[str, Any]]:
    """``(ticker, answer)`` for each ticker of ``batch`` Yahoo answered, fetched with retries;
    a status row for each it did not. Yahoo refusing us (``retry_on`` on every attempt)
    abandons the rest of the batch: asking again would only prolong the ban. A ticker Yahoo
    knows nothing about is ``empty`` -- unless Yahoo's last answer for it was 401/403
    (``refusal``), which is an ``error``, as is anything else yfinance raises."""
    for position, ticker in enumerate(batch):
        try:
            answer = policy(lambda t=ticker: fetch(t), retry_on=retry_on,
                            what=f"{what} {ticker}", logger=log)
        except retry_on as exc:
            reason = policy.gave_up(exc)
            statuses.append(_status(ticker, "error", 0, reason))
            statuses.extend(
                _status(skipped, "error", 0,
                        f"not fetched: batch abandoned after {ticker} failed: {reason}")
                for skipped in batch[position + 1:]
            )
            log.error("%s batch abandoned at %s: %s", what, ticker, reason)
            return
        except YFTickerMissingError as exc:
            refused = refusal(ticker)
            if refused is not None:
                message = f"Yahoo refused the request (HTTP {refused}): {exc.rationale}"
                statuses.append(_status(ticker, "error", 0, message))
            else:
                statuses.append(_status(ticker, "empty", 0, f"{NO_DATA} ({exc.rationale})"))
            continue
        except Exception as exc:  # anything else from yfinance: report, go on
            refused = refusal(ticker)
            message = describe(exc) if refused is None else (
                f"Yahoo refused the request (HTTP {refused})")  # yfinance trips over the body
            log.error("%s %s failed: %s", what, ticker, message)
            statuses.append(_status(ticker, "error", 0, message))
            continue
        yield ticker, answer


def _status(ticker: str, status: str, rows: int, message: str) -> dict:
    return {"ticker": ticker, "source": SOURCE, "status": status, "rows": rows, "message": message}
