"""The one small protocol every price source implements, and its result type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import polars as pl

#: Per-ticker outcome of an extract (audit.extract_status): ok, empty or error.
EXTRACT_STATUS: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "source": pl.String(),
    "status": pl.String(),
    "rows": pl.Int64(),
    "message": pl.String(),
}


class SourceError(RuntimeError):
    """A source cannot run at all (missing folder, malformed file); the message names the thing."""


@dataclass(frozen=True)
class ExtractResult:
    """Rows fetched (``contracts.RAW_PRICES``) and one status row per requested ticker;
    ``actions``: corporate actions (``contracts.RAW_ACTIONS``) when the source reports them
    (Yahoo, with the prices), else None."""

    frame: pl.DataFrame
    status: pl.DataFrame
    actions: pl.DataFrame | None = None


class PriceSource(Protocol):
    """Fetches daily prices for ``tickers`` with session dates in [start, end]."""

    name: str

    def prices(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult: ...


def status_frame(rows: list[dict]) -> pl.DataFrame:
    """Build an EXTRACT_STATUS frame from plain dicts (one per ticker)."""
    return pl.DataFrame(rows, schema=EXTRACT_STATUS)
