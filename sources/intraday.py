"""Hourly bars: the protocol every intraday source implements, and the snapshot twin.

Sources: live ``sources.yahoo_intraday`` (yfinance, ``interval='1h'``), offline
``SnapshotIntradaySource`` here (recorded files) and ``sources.demo_intraday`` (generated from
the demo's daily bars). Each returns ``sources.base.ExtractResult`` with ``RAW_INTRADAY`` rows
and one status row per requested ticker, ``source`` = ``"<source>.intraday"`` so that the rows
share ``audit.extract_status`` with the daily ones without being mistaken for them.

Hourly bars are optional per ticker: a ticker without them is reported 'empty' and its
intraday measures are null and flagged downstream, never guessed. Rows are reshaped, never
judged (``expectations.intraday`` owns every rule).

Snapshot layout: ``intraday/<TICKER>_1h_<anything>.csv`` in the snapshot folder, columns
``datetime_utc,open,high,low,close,volume``; ``datetime_utc`` is the bar's start in UTC
(``2025-01-27 14:00:00``, an explicit ``+00:00`` or ``Z`` is accepted). Several files of one
ticker are read together (e.g. one per recorded week).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import polars as pl

from contracts import INTRADAY_INTERVAL, RAW_INTRADAY, conform, empty
from sources.base import ExtractResult, SourceError, status_frame

INTRADAY_DIR = "intraday"
COLUMNS = ("datetime_utc", "open", "high", "low", "close", "volume")
NUMERIC = ("open", "high", "low", "close", "volume")


class IntradaySource(Protocol):
    """Fetches hourly bars for ``tickers`` starting on UTC dates in [start, end]."""

    name: str

    def intraday(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult: ...


def status_source(source: str) -> str:
    """The ``source`` of an intraday status row, e.g. ``yahoo.intraday``."""
    return f"{source}.intraday"


def intraday_status(source: str, ticker: str, status: str, rows: int, message: str) -> dict:
    return {"ticker": ticker, "source": status_source(source), "status": status,
            "rows": rows, "message": message}


def in_range(start: date, end: date) -> pl.Expr:
    """Bars that start on a UTC date in [start, end]."""
    day = pl.col("bar_start_utc").dt.date()
    return (day >= start) & (day <= end)


class SnapshotIntradaySource:
    """Reads ``intraday/<TICKER>_1h_*.csv`` from one snapshot folder."""

    name = "snapshot"

    def __init__(self, folder: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.folder = Path(folder)
        self.clock = clock or (lambda: datetime.now(UTC))
        if not self.folder.is_dir():
            raise SourceError(f"snapshot folder not found: {self.folder}")

    def files(self, ticker: str) -> list[Path]:
        return sorted((self.folder / INTRADAY_DIR).glob(f"{ticker}_{INTRADAY_INTERVAL}_*.csv"))

    def available(self) -> list[str]:
        """Tickers with at least one hourly file (the universe decides which are loaded)."""
        return sorted({p.name.split(f"_{INTRADAY_INTERVAL}_")[0]
                       for p in (self.folder / INTRADAY_DIR).glob(f"*_{INTRADAY_INTERVAL}_*.csv")})

    def intraday(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        if isinstance(tickers, str):
            raise TypeError("tickers must be a sequence of symbols, not one string")
        fetched_at = self.clock()
        frames, statuses = [], []
        for ticker in dict.fromkeys(tickers):  # a handful of files per ticker
            paths = self.files(ticker)
            if not paths:
                statuses.append(intraday_status(self.name, ticker, "empty", 0,
                                                "no hourly bars in the snapshot"))
                continue
            try:
                bars = pl.concat([read_intraday_csv(p) for p in paths])
            except SourceError as exc:
                statuses.append(intraday_status(self.name, ticker, "error", 0, str(exc)))
                continue
            bars = bars.filter(in_range(start, end)).with_columns(
                ticker=pl.lit(ticker), interval=pl.lit(INTRADAY_INTERVAL),
                source=pl.lit(self.name), fetched_at=pl.lit(fetched_at, pl.Datetime("us", "UTC")))
            frames.append(conform(bars, RAW_INTRADAY, self.name))
            statuses.append(intraday_status(self.name, ticker, "ok" if bars.height else "empty",
                                            bars.height, "" if bars.height else "nothing in range"))
        frame = pl.concat(frames) if frames else empty(RAW_INTRADAY)
        return ExtractResult(frame=frame, status=status_frame(statuses))


def read_intraday_csv(path: Path) -> pl.DataFrame:
    """One hourly file as (bar_start_utc, open, high, low, close, volume).

    Anything that is not a bar of the layout raises ``SourceError`` naming the file and, for a
    bad value, its line and column; an empty cell is a missing value (null).
    """
    try:
        text = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{path}: unreadable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in COLUMNS if c not in text.columns]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)}")
    stamp = pl.col("datetime_utc").str.strip_chars().str.replace(r"(Z|\+00:00)$", "")
    parsed = text.select(
        bar_start_utc=stamp.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False,
                                            time_unit="us").dt.replace_time_zone("UTC"),
        **{c: pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in NUMERIC},
    )
    for column in COLUMNS:
        ours = "bar_start_utc" if column == "datetime_utc" else column
        given = text[column].str.strip_chars().fill_null("") != ""
        bad = (given & parsed[ours].is_null()).arg_true()
        if bad.len():
            line = int(bad[0]) + 2  # the header is line 1
            raise SourceError(f"{path}: line {line}: column '{column}' has unparseable value "
                              f"{text[column][int(bad[0])]!r}")
    return parsed


def yahoo_window(start: date, end: date, today: date, keep_days: int) -> tuple[date, date] | None:
    """The part of [start, end] an intraday interval that Yahoo keeps ``keep_days`` can
    answer (None if nothing): earlier bars are not served, so they are not asked for."""
    first = max(start, today - timedelta(days=keep_days - 1))
    return (first, end) if first <= end else None
