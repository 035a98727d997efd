"""The generic GX runner: row attribution, bookkeeping, errors, speed."""

from __future__ import annotations

import datetime as dt
import json

import great_expectations.expectations as gxe
import numpy as np
import polars as pl
import pytest
from great_expectations.datasource.fluent.interfaces import Batch
from great_expectations.expectations.row_conditions import Column

from expectations.prices import PRICES_COLUMNS, validate_prices
from expectations.runner import (
    ExpectationRunError,
    Rule,
    Suite,
    gx_context,
    unique_key_rule,
    validate,
)

KEY = ["id", "day"]
D0 = dt.date(2024, 1, 1)


def _frame(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"id": [f"r{i}" for i in range(n)], "day": [D0 + dt.timedelta(days=i) for i in range(n)]}
    return pl.DataFrame({**base, **cols})


SUITE = Suite(
    name="demo",
    dataset="demo.table",
    rules=[
        Rule("x_null", gxe.ExpectColumnValuesToNotBeNull(column="x")),
        Rule(
            "y_not_positive",
            gxe.ExpectColumnValuesToBeBetween(column="y", min_value=0, strict_min=True),
        ),
        Rule(
            "y_above_x",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="x", column_B="y", or_equal=True),
        ),
        Rule("z_unknown", gxe.ExpectColumnValuesToBeInSet(column="z", value_set=["a", "b"])),
        Rule("z_is_b", gxe.ExpectColumnValuesToNotBeInSet(column="z", value_set=["b"]), "warn"),
    ],
)


def test_reasons_list_every_failed_reject_rule_in_suite_order():
    frame = _frame(
        x=[1.0, None, 5.0, 1.0, 2.0],
        y=[0.5, -1.0, 6.0, 0.5, 1.0],
        z=["a", "q", "a", "b", "b"],
    )
    out = validate(frame, SUITE, key=KEY)
    assert out.rejected.select("id", "reasons").to_dicts() == [
        # every failure is listed; GX's pair default (ignore_row_if="both_values_are_missing")
        # counts a pair with one null side as unexpected
        {"id": "r1", "reasons": ["x_null", "y_not_positive", "y_above_x", "z_unknown"]},
        {"id": "r2", "reasons": ["y_above_x"]},
    ]
    # good rows keep input order and carry warn-rule names only
    assert out.good.select("id", "quality_flags").to_dicts() == [
        {"id": "r0", "quality_flags": []},
        {"id": "r3", "quality_flags": ["z_is_b"]},
        {"id": "r4", "quality_flags": ["z_is_b"]},
    ]
    assert out.good.columns == [*frame.columns, "quality_flags"]
    assert out.rejected.columns == [*frame.columns, "reasons"]
    counts = dict(out.results.select("expectation", "unexpected_count").iter_rows())
    assert counts == {"x_null": 1, "y_not_positive": 1, "y_above_x": 2, "z_unknown": 1, "z_is_b": 2}
    sample = json.loads(out.results.filter(pl.col("expectation") == "z_is_b")["sample"].item())
    assert sample == [
        {"id": "r3", "day": "2024-01-04", "z": "b"},
        {"id": "r4", "day": "2024-01-05", "z": "b"},
    ]


@pytest.mark.parametrize("key", [["k"], ["k", "j"]])
def test_every_copy_of_a_duplicated_key_is_rejected(key):
    suite = Suite("dups", "demo.table", [unique_key_rule(key)])
    frame = pl.DataFrame(
        {"k": ["a", "b", "b", "c", "c", "c"], "j": [1] * 6, "v": [1, 2, 3, 4, 5, 6]}
    )
    out = validate(frame, suite, key=key)
    assert out.rejected["v"].to_list() == [2, 3, 4, 5, 6]  # keep none: we cannot tell which
    assert out.rejected["reasons"].to_list() == [["duplicate_key"]] * 5
    assert out.good["v"].to_list() == [1]


def test_mostly_tolerant_rule_still_attributes_its_rows():
    suite = Suite(
        "tol",
        "demo.table",
        [Rule("x_null", gxe.ExpectColumnValuesToNotBeNull(column="x", mostly=0.5))],
    )
    out = validate(_frame(x=[1.0, None, 2.0, 3.0]), suite, key=KEY)
    assert out.results["success"].item() is True
    assert out.rejected["id"].to_list() == ["r1"]


def test_nan_counts_as_null_in_gx():
    # GX sees pandas NaN as missing: a NaN fails not-null and is skipped by range checks
    suite = Suite(
        "nan",
        "demo.table",
        [
            Rule("x_null", gxe.ExpectColumnValuesToNotBeNull(column="x")),
            Rule("y_negative", gxe.ExpectColumnValuesToBeBetween(column="y", min_value=0)),
        ],
    )
    out = validate(_frame(x=[float("nan"), 1.0], y=[float("nan"), 1.0]), suite, key=KEY)
    assert out.rejected.select("id", "reasons").to_dicts() == [{"id": "r0", "reasons": ["x_null"]}]


def test_empty_frame():
    out = validate(_frame(x=[1.0], y=[1.0], z=["a"]).clear(), SUITE, key=KEY)
    assert out.good.height == out.rejected.height == 0
    assert out.results.height == len(SUITE.rules)
    assert out.results["unexpected_count"].to_list() == [0] * len(SUITE.rules)


def test_missing_column_names_suite_and_rule():
    with pytest.raises(ExpectationRunError, match=r"suite 'demo', rule 'z_unknown'.*\['z'\]") as e:
        validate(_frame(x=[1.0], y=[1.0]), SUITE, key=KEY)
    assert (e.value.suite, e.value.rule) == ("demo", "z_unknown")
    conditional = Rule(
        "x_null_when_w",
        gxe.ExpectColumnValuesToNotBeNull(column="x", row_condition=Column("w") > 0),
    )
    with pytest.raises(ExpectationRunError, match=r"rule 'x_null_when_w'.*\['w'\]"):
        validate(_frame(x=[1.0]), Suite("cond", "demo.table", [conditional]), key=KEY)
    with pytest.raises(ExpectationRunError, match="key column"):
        validate(_frame(x=[1.0], y=[1.0], z=["a"]), SUITE, key=["nope"])


def test_gx_failure_is_wrapped_without_a_deep_traceback():
    suite = Suite(
        "bad",
        "demo.table",
        [Rule("s_range", gxe.ExpectColumnValuesToBeBetween(column="s", min_value=0))],
    )
    with pytest.raises(ExpectationRunError) as e:
        validate(_frame(s=["x", "y"]), suite, key=KEY)
    message = str(e.value)
    assert message.startswith("suite 'bad', rule 's_range': GX could not evaluate")
    assert "\n" not in message
    assert e.value.__cause__ is None and e.value.__context__ is None
    assert "Traceback" in (e.value.gx_traceback or "")  # GX's own traceback is kept aside


def test_rule_and_suite_are_checked_when_built():
    with pytest.raises(ValueError, match="severity"):
        Rule("x", gxe.ExpectColumnValuesToNotBeNull(column="x"), "fatal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="snake_case"):
        Rule("x null", gxe.ExpectColumnValuesToNotBeNull(column="x"))
    with pytest.raises(TypeError, match="cannot be attributed to rows"):
        Rule("rows", gxe.ExpectTableRowCountToBeBetween(min_value=1))
    with pytest.raises(ValueError, match="duplicate rule name"):
        Suite("s", "d", [Rule("a", gxe.ExpectColumnValuesToNotBeNull(column="x"))] * 2)
    with pytest.raises(ValueError, match="quality_flags"):
        validate(_frame(x=[1.0], y=[1.0], z=["a"], quality_flags=[1]), SUITE, key=KEY)


def test_prepare_must_keep_rows():
    suite = Suite(
        "prep",
        "demo.table",
        [Rule("x_null", gxe.ExpectColumnValuesToNotBeNull(column="x"))],
        prepare=lambda f: f.head(1),
    )
    with pytest.raises(ExpectationRunError, match="keep the rows"):
        validate(_frame(x=[1.0, 2.0]), suite, key=KEY)


def test_context_is_built_once_and_progress_bars_are_off(capfd):
    assert gx_context() is gx_context()
    validate(_frame(x=[1.0, None], y=[1.0, 1.0], z=["a", "b"]), SUITE, key=KEY)
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err + captured.out


def test_100k_rows_in_one_gx_validation(monkeypatch):
    rng = np.random.default_rng(7)
    n = 100_000
    close = rng.uniform(100, 500, n)  # within implausible_level's 10x of any neighbour
    frame = pl.DataFrame(
        {
            "ticker": [f"T{i % 50:02d}" for i in range(n)],
            "session_date": [D0 + dt.timedelta(days=i // 50) for i in range(n)],
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": rng.integers(-1, 10_000, n).astype(float),  # ~1/10_000 negative
            "source": "synthetic",
            "currency": "USD",
            "unparsed": None,
            "is_exchange_session": True,
        },
        schema=PRICES_COLUMNS,
    )
    calls = []
    real_validate = Batch.validate
    monkeypatch.setattr(
        Batch, "validate", lambda self, *a, **k: calls.append(1) or real_validate(self, *a, **k)
    )
    out = validate_prices(frame)  # its speed is measured in bench/, not asserted here
    assert len(calls) == 1
    assert out.good.height + out.rejected.height == n
    assert out.rejected.height == int((frame["volume"] < 0).sum())
