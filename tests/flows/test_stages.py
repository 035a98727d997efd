"""The shared stages on a real (temporary) warehouse: corporate actions ride along with the
prices, are judged by their suite, loaded by key, quarantined with reasons, and reloading
changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from contracts import RAW_ACTIONS, RAW_FX, RAW_PRICES, RAW_SHARES, conform, empty
from flows.stages import load_batch, prepare_reference, stage_batch
from sources.base import ExtractResult, status_frame
from warehouse import load
from warehouse.connection import connect, query_frame

AT = datetime(2025, 2, 1, tzinfo=UTC)
DAYS = [date(2025, 1, d) for d in (21, 22, 23, 24, 27)]


class Source:
    """Five NVDA bars and the actions a source reported with them."""

    name = "yahoo"

    def __init__(self, actions: list[tuple]) -> None:
        self.actions = actions

    def prices(self, tickers, start, end) -> ExtractResult:
        rows = [{"ticker": "NVDA", "session_date": d, "open": 140.0 + i, "high": 150.0 + i,
                 "low": 130.0 + i, "close": 142.0 + i, "adj_close": 142.0 + i, "volume": 1e8,
                 "source": "yahoo", "fetched_at": AT}
                for i, d in enumerate(DAYS) if start <= d <= end and "NVDA" in tickers]
        actions = pl.DataFrame(
            [dict(zip(("ticker", "ex_date", "action", "value"), a, strict=True))
             | {"source": "yahoo", "fetched_at": AT} for a in self.actions],
            schema=RAW_ACTIONS,
        )
        return ExtractResult(
            frame=conform(pl.DataFrame(rows, schema=RAW_PRICES), RAW_PRICES, "yahoo"),
            status=status_frame([{"ticker": t, "source": "yahoo", "status": "ok",
                                  "rows": len(rows), "message": ""} for t in tickers]),
            actions=actions,
        )


class NoReference:
    def shares(self, tickers, start, end) -> ExtractResult:
        return ExtractResult(frame=empty(RAW_SHARES), status=status_frame([]))

    def fx(self, currencies, start, end) -> ExtractResult:
        return ExtractResult(frame=empty(RAW_FX), status=status_frame([]))


@pytest.fixture(scope="module")
def ref():
    return prepare_reference(date(2025, 2, 1))


def stored(path: str) -> list[tuple]:
    con = connect(path)
    try:
        return query_frame(con, "SELECT ticker, ex_date, action, value, run_id FROM "
                                "core.fact_corporate_action ORDER BY ex_date, action").rows()
    finally:
        con.close()


def run(path: str, ref, actions: list[tuple], run_id: str) -> dict[str, int]:
    batch = stage_batch(Source(actions), NoReference(), ref, {"NVDA": DAYS[0]}, DAYS[-1])
    con = connect(path)
    try:
        with load.transaction(con):
            return load_batch(con, run_id, batch)
    finally:
        con.close()


def test_actions_are_judged_loaded_and_reloaded_idempotently(tmp_path, ref):
    path = str(tmp_path / "w.duckdb")
    reported = [
        ("NVDA", date(2025, 1, 23), "dividend", 0.01),
        ("NVDA", date(2025, 1, 24), "split", 10.0),
        ("NVDA", date(2025, 1, 27), "split", -2.0),  # not positive
        ("NVDA", date(2025, 1, 22), "spinoff", 1.0),  # not an action we know
        ("NVDA", date(2025, 1, 10), "dividend", 0.01),  # before the batch's start: not loaded
    ]
    counts = run(path, ref, reported, "r1")
    assert (counts["actions.inserted"], counts["actions.quarantined"]) == (2, 2)
    assert stored(path) == [("NVDA", date(2025, 1, 23), "dividend", 0.01, "r1"),
                            ("NVDA", date(2025, 1, 24), "split", 10.0, "r1")]
    con = connect(path)
    try:
        held = query_frame(con, "SELECT row_key, reasons FROM audit.quarantine "
                                "WHERE dataset = 'actions' ORDER BY row_key").rows()
    finally:
        con.close()
    assert held == [("NVDA|2025-01-22|spinoff", ["action_unknown"]),
                    ("NVDA|2025-01-27|split", ["action_value_not_positive"])]

    again = run(path, ref, reported[:2], "r2")  # the same day again: nothing changes
    assert (again["actions.inserted"], again["actions.updated"]) == (0, 0)
    assert [r[-1] for r in stored(path)] == ["r1", "r1"]


def test_a_source_without_actions_loads_none(tmp_path, ref):
    path = str(tmp_path / "w.duckdb")
    counts = run(path, ref, [], "r1")
    assert counts["actions.inserted"] == 0 and counts["prices.inserted"] == 5
    assert stored(path) == []
