"""The core-prices suite on a hand-made frame (one row per failure type) and on real data."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest

from expectations.prices import PRICES_COLUMNS, PRICES_KEY, PRICES_SUITE, validate_prices
from expectations.runner import RESULTS_SCHEMA

SHARED = Path(
    os.environ.get("AFTERSHOCK_SHARED", Path(__file__).resolve().parents[2].parent / "shared")
)
SNAPSHOT = SHARED / "market-snapshot"

D = dt.date


def _row(ticker, day, o, h, lo, c, *, adj=None, vol=1_000.0, session=True):
    return {
        "ticker": ticker,
        "session_date": day,
        "open": o,
        "high": h,
        "low": lo,
        "close": c,
        "adj_close": c if adj is None else adj,
        "volume": vol,
        "source": "test",
        "currency": "USD",
        "is_exchange_session": session,
    }


#: (row, expected reasons if rejected else None, expected quality_flags if good)
CASES = [
    (_row("AAA", D(2024, 1, 2), 10, 11, 9, 10.5), None, []),
    (_row("AAA", D(2024, 1, 3), 10.5, 12, 10, 11.5), None, []),
    (_row("BBB", D(2024, 1, 2), 20, 21, 19, 20), None, []),
    # null open/high/low are allowed; zero volume on a bar with a range is not stale
    (_row("BBB", D(2024, 1, 3), None, 21, 19, 20), None, []),
    (_row("^IDX", D(2024, 1, 2), 100, 102, 99, 101, vol=0.0), None, []),
    # the stale placeholder: O=H=L=C and volume 0 -> loads, flagged
    (_row("BBB", D(2024, 1, 4), 20, 20, 20, 20, vol=0.0), None, ["stale_price"]),
    (_row(None, D(2024, 1, 4), 10, 11, 9, 10), ["ticker_null"], None),
    (_row("AAA", D(2024, 1, 5), 10, 11, 9, 10), ["duplicate_key"], None),
    (_row("AAA", D(2024, 1, 5), 10, 11, 9, 10.2), ["duplicate_key"], None),
    # a negative close is also below the (positive) low: both reasons are listed
    (
        _row("AAA", D(2024, 1, 8), 10, 11, 9, -1.0, adj=10),
        ["close_not_positive", "close_below_low"],
        None,
    ),
    (_row("AAA", D(2024, 1, 9), 10, 11, 9, 12), ["close_above_high"], None),
    (_row("AAA", D(2024, 1, 10), 9, 11, 9.5, 10), ["open_below_low"], None),
    (_row("AAA", D(2024, 1, 11), 10, 11, 9, 10, vol=-5.0), ["volume_negative"], None),
    (_row("AAA", D(2024, 1, 13), 10, 11, 9, 10, session=False), ["not_exchange_session"], None),
]


@pytest.fixture(scope="module")
def handmade() -> pl.DataFrame:
    return pl.DataFrame([c[0] for c in CASES], schema=PRICES_COLUMNS)


@pytest.fixture(scope="module")
def outcome(handmade):
    return validate_prices(handmade)


def _key(row: dict) -> tuple:
    return (row["ticker"], row["session_date"], row["close"])


def test_rejected_rows_and_their_exact_reasons(outcome):
    expected = {_key(row): reasons for row, reasons, _ in CASES if reasons is not None}
    got = {_key(r): r["reasons"] for r in outcome.rejected.to_dicts()}
    assert got == expected


def test_good_rows_carry_quality_flags(outcome):
    expected = {_key(row): flags for row, reasons, flags in CASES if reasons is None}
    got = {_key(r): r["quality_flags"] for r in outcome.good.to_dicts()}
    assert got == expected


def test_counts_add_up_and_schemas(outcome, handmade):
    assert outcome.good.height + outcome.rejected.height == handmade.height
    assert outcome.good.height == sum(1 for _, reasons, _ in CASES if reasons is None)
    assert outcome.good.schema == pl.Schema(
        {**handmade.schema, "quality_flags": pl.List(pl.String)}
    )
    assert outcome.rejected.schema == pl.Schema({**handmade.schema, "reasons": pl.List(pl.String)})
    assert not outcome.passed


def test_results_one_row_per_rule_with_unexpected_counts(outcome):
    results = outcome.results
    assert results.schema == pl.Schema(RESULTS_SCHEMA)
    assert results["expectation"].to_list() == [r.name for r in PRICES_SUITE.rules]
    assert set(results["suite"]) == {"core_prices"}
    expected_unexpected = {
        "ticker_null": 1,
        "duplicate_key": 2,
        "close_not_positive": 1,
        "close_below_low": 1,
        "close_above_high": 1,
        "open_below_low": 1,
        "volume_negative": 1,
        "not_exchange_session": 1,
        "stale_price": 1,
    }
    for row in results.to_dicts():
        count = expected_unexpected.get(row["expectation"], 0)
        assert row["unexpected_count"] == count, row["expectation"]
        assert row["success"] is (count == 0), row["expectation"]
        assert len(json.loads(row["sample"])) == min(count, 3)
    stale = results.row(by_predicate=pl.col("expectation") == "stale_price", named=True)
    assert stale["severity"] == "warn"
    assert stale["gx_type"] == "expect_column_pair_values_a_to_be_greater_than_b"
    assert stale["element_count"] == 2  # GX counts only the rows its row_condition keeps
    assert json.loads(stale["sample"]) == [
        {"ticker": "BBB", "session_date": "2024-01-04", "high": 20.0, "low": 20.0, "volume": 0.0}
    ]
    above = results.row(by_predicate=pl.col("expectation") == "close_above_high", named=True)
    assert json.loads(above["sample"]) == [
        {"ticker": "AAA", "session_date": "2024-01-09", "high": 11.0, "close": 12.0}
    ]


def test_float_noise_from_back_adjustment_is_not_a_violation():
    # 005930.KS 2020-12-18 in the snapshot: close is 1 ulp below low
    frame = pl.DataFrame(
        [_row("005930.KS", D(2020, 12, 18), 64319.8, 64670.8, 64056.55468750001, 64056.5546875)],
        schema=PRICES_COLUMNS,
    )
    outcome = validate_prices(frame)
    assert outcome.rejected.height == 0
    assert outcome.good["low"].item() == 64056.55468750001  # outputs keep the input's values


def _snapshot_prices(path: Path, ticker: str) -> pl.DataFrame:
    raw = pl.read_csv(
        path,
        schema_overrides={
            "date": pl.Date,
            **dict.fromkeys(["open", "high", "low", "close", "volume"], pl.Float64),
        },
    )
    return raw.select(
        pl.lit(None, pl.String).alias("unparsed"),
        pl.lit(ticker).alias("ticker"),
        pl.col("date").alias("session_date"),
        "open",
        "high",
        "low",
        "close",
        pl.col("close").alias("adj_close"),
        "volume",
        pl.lit("snapshot").alias("source"),
        pl.lit("KRW").alias("currency"),
        pl.lit(True).alias("is_exchange_session"),
    )


@pytest.mark.snapshot
@pytest.mark.skipif(not SNAPSHOT.is_dir(), reason=f"market snapshot not found at {SNAPSHOT}")
def test_real_000660_ks():
    frame = _snapshot_prices(SNAPSHOT / "000660.KS.csv", "000660.KS")
    outcome = validate_prices(frame)

    assert outcome.good.height + outcome.rejected.height == frame.height
    rejected = {r["session_date"]: r["reasons"] for r in outcome.rejected.to_dicts()}
    assert rejected == {
        D(2023, 2, 2): ["close_below_low"],
        D(2023, 2, 9): ["close_above_high"],
        D(2024, 10, 14): ["close_below_low"],
    }

    # independent count of stale placeholder rows (SOURCES.md: 15 zero-volume stale rows)
    o, h, lo, c = (pl.col(x) for x in ("open", "high", "low", "close"))
    stale = frame.filter((pl.col("volume") == 0) & (o == h) & (h == lo) & (lo == c))
    assert stale.height == 15
    flagged = outcome.good.filter(pl.col("quality_flags").list.contains("stale_price"))
    assert flagged["session_date"].to_list() == stale["session_date"].to_list()
    others = outcome.good.filter(pl.col("quality_flags").list.len() > 0)
    assert others.height == flagged.height  # no other flag fires
    assert (
        outcome.results.filter(pl.col("expectation") == "stale_price")["unexpected_count"].item()
        == stale.height
    )


def test_key_is_ticker_and_session_date():
    assert PRICES_KEY == ["ticker", "session_date"]
