"""Recorded daily prices: a folder of ``<TICKER>.csv`` with ``date,open,high,low,close,volume``.

This is the offline twin of the live source and reads exactly the format of
``../shared/market-snapshot``. Recorded closes are taken as adjusted closes (the recordings are
back-adjusted series, see that folder's SOURCES.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from contracts import RAW_PRICES, conform
from sources.base import ExtractResult, SourceError, status_frame

COLUMNS = ("date", "open", "high", "low", "close", "volume")
NUMERIC = ("open", "high", "low", "close", "volume")


class SnapshotSource:
    """Reads the recorded CSV files of the requested tickers from one folder."""

    name = "snapshot"

    def __init__(self, folder: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.folder = Path(folder)
        self.clock = clock or (lambda: datetime.now(UTC))
        if not self.folder.is_dir():
            raise SourceError(f"snapshot folder not found: {self.folder}")

    def available(self) -> list[str]:
        """Tickers that have a file in the folder."""
        return sorted(p.stem for p in self.folder.glob("*.csv"))

    def prices(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        fetched_at = self.clock()
        frames, status = [], []
        for ticker in tickers:  # one file per ticker
            path = self.folder / f"{ticker}.csv"
            if not path.exists():
                status.append(_status(ticker, "empty", 0, f"no file {path.name} in snapshot"))
                continue
            whole = read_snapshot_csv(path)
            # a row whose date did not parse has no date to window by: it goes to the suite
            frame = whole.filter(pl.col("session_date").is_between(start, end)
                                 | pl.col("session_date").is_null())
            # a recording cannot hold a session that has not happened: say so, never drop it
            # silently (the run's window ends at `end`, so such a row is never loaded)
            future = whole.filter(pl.col("session_date") > max(end, fetched_at.date()))
            unparsed = frame.filter(pl.col("unparsed").is_not_null()).height
            message = "; ".join(filter(None, (
                f"{future.height} row(s) dated in the future, not loaded: date_in_future "
                f"({', '.join(str(d) for d in future['session_date'].head(3))}"
                f"{', …' if future.height > 3 else ''})" if future.height else "",
                f"{unparsed} row(s) with a value that does not parse: value_unparseable "
                f"(quarantined with the text)" if unparsed else "",
            )))
            frames.append(
                frame.with_columns(
                    ticker=pl.lit(ticker),
                    adj_close=pl.col("close"),
                    source=pl.lit(self.name),
                    fetched_at=pl.lit(fetched_at),
                )
            )
            status.append(_status(ticker, "ok" if frame.height else "empty", frame.height,
                                  message))
        raw = pl.concat([conform(f, RAW_PRICES, "snapshot") for f in frames]) if frames else None
        return ExtractResult(
            frame=raw if raw is not None else pl.DataFrame(schema=RAW_PRICES),
            status=status_frame(status),
        )


def _status(ticker: str, status: str, rows: int, message: str) -> dict:
    return {"ticker": ticker, "source": "snapshot", "status": status, "rows": rows,
            "message": message}


def read_snapshot_csv(path: Path) -> pl.DataFrame:
    """One recorded file as (session_date, open, high, low, close, volume, unparsed).

    A cell that has text but does not parse (``N/A``, ``abc``, ``2025-13-01``, ``1,000``) is a
    row-level fault: its value is null and ``unparsed`` keeps the text (see
    ``contracts.RAW_PRICES``), so the suite quarantines the row and the file's other rows load.
    What makes the whole file unreadable -- undecodable bytes, missing columns, a row with more
    fields than the header, no data rows -- raises SourceError naming the file.
    """
    try:
        text = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{path}: unreadable CSV ({str(exc).splitlines()[0]})") from None
    if text.height == 0:
        raise SourceError(f"{path}: empty file (no data rows)")
    missing = [c for c in COLUMNS if c not in text.columns]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)}")
    cells = text.select(pl.col(c).str.strip_chars() for c in COLUMNS)
    parsed = cells.select(
        pl.col("date").str.to_date("%Y-%m-%d", strict=False).alias("session_date"),
        *(pl.col(c).cast(pl.Float64, strict=False) for c in NUMERIC),
    )
    names = ("session_date", *NUMERIC)
    # {"<column>":"<text>"} for each cell that had text but did not parse (json_encode escapes)
    pieces = [
        pl.when(parsed[name].is_null() & (cells[src].fill_null("") != ""))
        .then(pl.struct(text[src].alias(src)).struct.json_encode()
              .str.strip_prefix("{").str.strip_suffix("}"))
        for name, src in zip(names, COLUMNS, strict=True)
    ]
    fields = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    return parsed.with_columns(
        unparsed=pl.when(fields != "").then(pl.format("{{{}}}", fields)).otherwise(None)
    )
