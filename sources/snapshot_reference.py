"""Recorded share counts and FX: the offline twin of ``yahoo_reference``.

Optional files in a snapshot folder (the same folder as the price CSVs):

* ``shares/<TICKER>.csv`` with columns ``date,shares_outstanding``: a plain share count in
  force from that date (one row per change or report)
* ``fx/<CCY>.csv`` with columns ``date,usd_per_unit``: the value of one unit of CCY in US
  dollars on that FX session date (JPY ~0.0067, EUR ~1.08; not units per dollar)

A missing file is not an error: that ticker's count, or that currency's rate, is unknown. The
status row says 'empty' and downstream the value is null and flagged, never guessed.
``../shared/market-snapshot`` has neither folder, so on the real recording every share count
and every non-USD rate is unknown. A file that exists but is malformed stops the run with a
one-line ``SourceError`` that names the file and, for a bad value, its line and column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from contracts import conform, empty
from sources.base import ExtractResult, SourceError, status_frame
from sources.reference import RAW_FX, RAW_SHARES, check_request, status_source, wanted_currencies

SOURCE = "snapshot"
SHARES_DIR = "shares"
FX_DIR = "fx"


class SnapshotReferenceSource:
    """Reads ``shares/<TICKER>.csv`` and ``fx/<CCY>.csv`` from one snapshot folder."""

    name = SOURCE

    def __init__(self, folder: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.folder = Path(folder)
        self.clock = clock or (lambda: datetime.now(UTC))
        if not self.folder.is_dir():
            raise SourceError(f"snapshot folder not found: {self.folder}")

    def shares(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        wanted = check_request(tickers, start, end, "tickers")
        frames, status = self._read_all(
            wanted, SHARES_DIR, "shares_outstanding", "as_of_date", start, end
        )
        rows = [f.select("ticker", "as_of_date", "shares_outstanding", "source", "fetched_at")
                for f in frames]
        return ExtractResult(
            frame=conform(pl.concat(rows), RAW_SHARES, SOURCE) if rows else empty(RAW_SHARES),
            status=status_frame(status),
        )

    def fx(self, currencies: Sequence[str], start: date, end: date) -> ExtractResult:
        wanted = wanted_currencies(currencies, start, end)
        frames, status = self._read_all(wanted, FX_DIR, "usd_per_unit", "session_date", start, end)
        rows = [f.rename({"ticker": "currency"}) for f in frames]
        return ExtractResult(
            frame=conform(pl.concat(rows), RAW_FX, SOURCE) if rows else empty(RAW_FX),
            status=status_frame(status),
        )

    def _read_all(
        self,
        names: list[str],
        subfolder: str,
        value: str,
        date_column: str,
        start: date,
        end: date,
    ) -> tuple[list[pl.DataFrame], list[dict]]:
        fetched_at = self.clock()
        dataset = "shares" if subfolder == SHARES_DIR else "fx"
        frames, status = [], []
        for name in names:  # one small file per ticker or currency
            path = self.folder / subfolder / f"{name}.csv"
            if not path.is_file():
                status.append(
                    _status(name, dataset, "empty", 0, f"no file {subfolder}/{path.name} in "
                            f"snapshot: {'share count' if dataset == 'shares' else 'rate'} unknown")
                )
                continue
            frame = read_dated_csv(path, value, date_column).filter(
                pl.col(date_column).is_between(start, end)
            )
            frames.append(
                frame.with_columns(
                    ticker=pl.lit(name), source=pl.lit(SOURCE), fetched_at=pl.lit(fetched_at)
                )
            )
            status.append(
                _status(name, dataset, "ok" if frame.height else "empty", frame.height,
                        "" if frame.height else "nothing in range")
            )
        return frames, status


def read_dated_csv(path: Path, value: str, date_column: str = "date") -> pl.DataFrame:
    """One ``date,<value>`` file as (``date_column``, ``value``), the value Float64.

    Malformed input raises SourceError naming the file and, for a bad value, its line and
    column (the same one-line style as ``sources.snapshot.read_snapshot_csv``). An empty cell is
    a missing value (null), not an error.
    """
    try:
        text = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{path}: unreadable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in ("date", value) if c not in text.columns]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)}")
    if text.height == 0:
        raise SourceError(f"{path}: empty file (no data rows)")
    raw_date = pl.col("date").str.strip_chars()
    raw_value = pl.col(value).str.strip_chars()
    parsed = text.select(
        raw_date.str.to_date("%Y-%m-%d", strict=False).alias(date_column),
        raw_value.cast(pl.Float64, strict=False).alias(value),
        bad_date=raw_date.str.to_date("%Y-%m-%d", strict=False).is_null(),
        bad_value=raw_value.cast(pl.Float64, strict=False).is_null()
        & raw_value.is_not_null()
        & (raw_value != ""),
    ).with_row_index("i")
    for flag, column in (("bad_date", "date"), ("bad_value", value)):
        hit = parsed.filter(pl.col(flag))
        if hit.height:
            i = hit["i"][0]
            raise SourceError(
                f"{path}: line {i + 2}: column {column!r} has unparseable value {text[column][i]!r}"
            )
    return parsed.select(date_column, value)


def _status(name: str, dataset: str, status: str, rows: int, message: str) -> dict:
    return {"ticker": name, "source": status_source(SOURCE, dataset), "status": status,
            "rows": rows, "message": message}
