"""The bad-input catalogue's shared pieces: the real pipeline steps, on a temporary warehouse.

``load_prices`` does what one daily run does with a price extract, minus Prefect: conform
(``transforms.prices.to_core``), judge (``expectations.prices.validate_prices``), then in one
transaction upsert the good rows and quarantine the rejected ones with the same loaders as
the flow (``warehouse.load``). It returns what the warehouse then holds, so each case can
assert the exact outcome -- loaded, loaded with a flag, quarantined with its reasons, or
refused -- and that every good row of the same input arrived unchanged.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache

import duckdb
import polars as pl
import pytest

from contracts import RAW_PRICES
from expectations.prices import validate_prices
from transforms import calendar, prices
from warehouse import load, seeds
from warehouse.connection import connect, query_frame

FETCHED_AT = datetime(2025, 2, 1, 22, 0, tzinfo=UTC)
#: NVDA's sessions in the test week (XNYS): 2025-01-21 .. 2025-01-31
SESSIONS = [date(2025, 1, d) for d in (21, 22, 23, 24, 27, 28, 29, 30, 31)]
_runs = itertools.count(1)


@cache
def securities() -> pl.DataFrame:
    return seeds.read_universe()


@cache
def sessions() -> pl.DataFrame:
    return calendar.exchange_sessions(
        securities()["exchange_mic"].unique().to_list(), date(2024, 6, 1), date(2025, 3, 31)
    )


def bar(day: date, close: float, *, ticker: str = "NVDA", **overrides) -> dict:
    """One raw bar: open = close, high/low +-1 %, adj_close = close, volume 1e6."""
    row = {
        "ticker": ticker,
        "session_date": day,
        "open": close,
        "high": close * 1.01,
        "low": close * 0.99,
        "close": close,
        "adj_close": close,
        "volume": 1e6,
        "source": "test",
        "fetched_at": FETCHED_AT,
    }
    row.update(overrides)
    return row


def good_week(ticker: str = "NVDA", start: float = 140.0) -> list[dict]:
    """Nine clean sessions, +0.5 % a day."""
    return [bar(d, round(start * 1.005**i, 4), ticker=ticker) for i, d in enumerate(SESSIONS)]


def raw_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RAW_PRICES)


@dataclass
class Loaded:
    """What the warehouse holds after ``load_prices``."""

    core: pl.DataFrame  # core.fact_price_daily
    quarantine: pl.DataFrame  # audit.quarantine (row_key, reasons, row_json)
    results: pl.DataFrame  # audit.validation_result of the run

    def core_row(self, ticker: str, day: date) -> dict | None:
        hit = self.core.filter((pl.col("ticker") == ticker) & (pl.col("session_date") == day))
        return hit.row(0, named=True) if hit.height else None

    def reasons(self, ticker: str, day: date | None) -> list[list[str]]:
        key = f"{ticker}|{day.isoformat() if day else '∅'}"
        return [list(r) for r in self.quarantine.filter(pl.col("row_key") == key)["reasons"]]


@pytest.fixture(scope="module")
def load_prices(tmp_path_factory):
    """``load_prices(raw) -> Loaded``: one run into a fresh warehouse per call."""

    def run(raw: pl.DataFrame) -> Loaded:
        path = str(tmp_path_factory.mktemp("wh") / "w.duckdb")
        run_id = f"bad-{next(_runs)}"
        core_rows = prices.to_core(raw, securities(), sessions())
        outcome = validate_prices(core_rows)
        con = connect(path)
        try:
            load.start_run(con, run_id, "daily-refresh", "test", {})
            with load.transaction(con):
                load.upsert_prices(con, outcome.good.drop("is_exchange_session"), run_id)
                load.quarantine(con, outcome.rejected, "prices", ["ticker", "session_date"],
                                run_id)
                load.append(con, "audit.validation_result",
                            outcome.results.with_columns(run_id=pl.lit(run_id)))
            load.finish_run(con, run_id, "success")
        finally:
            con.close()
        con = duckdb.connect(path, read_only=True)
        try:
            return Loaded(
                core=query_frame(con, "SELECT * FROM core.fact_price_daily "
                                      "ORDER BY ticker, session_date"),
                quarantine=query_frame(con, "SELECT row_key, reasons, row_json "
                                            "FROM audit.quarantine WHERE run_id = ? "
                                            "ORDER BY row_key", [run_id]),
                results=query_frame(con, "SELECT * FROM audit.validation_result "
                                         "WHERE run_id = ?", [run_id]),
            )
        finally:
            con.close()

    return run


def assert_good_rows_loaded(loaded: Loaded, good: list[dict], skip: set[tuple] = frozenset()):
    """Every row of ``good`` (except keys in ``skip``) is in core with its values, unflagged."""
    for row in good:
        key = (row["ticker"], row["session_date"])
        if key in skip:
            continue
        got = loaded.core_row(*key)
        assert got is not None, f"good row {key} was lost"
        for column in ("open", "high", "low", "close", "adj_close", "volume"):
            assert got[column] == row[column], (key, column)
        assert got["quality_flags"] == [], (key, got["quality_flags"])


@pytest.fixture(scope="module")
def kit():
    """The helpers above, for test modules (``--import-mode=importlib`` cannot import this
    conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        bar=bar, good_week=good_week, raw_frame=raw_frame, securities=securities,
        sessions=sessions, assert_good_rows_loaded=assert_good_rows_loaded, SESSIONS=SESSIONS,
    )
