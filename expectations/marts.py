"""Expectation suites for the reaction marts (what ``transforms.reactions.build_reaction_marts``
returns, before it replaces the ``marts`` tables).

The marts are computed, not fetched: a failed mart rule is a bug in a transform, never bad
input, so every rule here is ``reject`` and the flow fails (rolls back) on any rejected mart
row. The suites are built from the frame's columns (:func:`mart_suites`), so a mart that
gains a p-value or a CAR window is checked without editing this file:

================================ ==================================================
rule                             unexpected rows
================================ ==================================================
**every mart**
<key>_null                       a key column is null
duplicate_key                    every copy of a duplicated key (one row per key)
<column>_out_of_range            a p-value column (``*_p``, ``p_*``) outside [0, 1]
**marts.event_reaction** (event_id, ticker)
car_0_0_not_ar_day0              car_0_0 != ar_day0 where both are non-null
<car window>_inconsistent        car_a_b is not the sum of the daily ARs of rel_day
                                 a..b in marts.event_window (or is set while a day of
                                 the window has no AR)
thin_<alpha|beta|sigma>_not_null thin_estimation but the model parameter is set
est_n_negative                   est_n < 0
**marts.event_window** (event_id, ticker, rel_day)
rel_day_out_of_window            rel_day outside the event window (default [-10, 20])
car_without_ar                   car is set on a day without an AR
car_not_running_sum              car != the running sum of ar from the window start
**marts.event_segment_summary** (event_id, segment, car_window)
n_above_n_securities             n (securities with a complete CAR) > n_securities
**marts.event_propagation** (event_id, exchange_mic)
n_with_ar_above_n_securities     n_with_ar > n_securities
**marts.event_intraday** (event_id, anchor, ticker, bar_start_utc) and **_mark** (.., mark)
ret_inconsistent                 ret_from_prev_close != close (price) / prev_close - 1
close_above_high, _below_low     the bar's close outside its [low, high] (path)
mark_unknown                     mark is not one of ``transforms.intraday.MARKS``
price_unexplained                a mark's price is null without a missing_reason, or
                                 set with one
================================ ==================================================

Consistency rules compare within ``TOLERANCE`` (absolute): the sums are of a few dozen
floats, so anything larger is a real disagreement. As everywhere in ``expectations/``, the
arithmetic that needs other rows (window sums, running sums) is done in ``prepare`` as helper
columns (``*_gap``: the absolute disagreement, +inf when a needed AR is missing) and the rule
is a GX expectation on that column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial

import great_expectations.expectations as gxe
import polars as pl
from great_expectations.expectations.row_conditions import Column

from expectations.runner import Rule, Suite, ValidationOutcome, unique_key_rule, validate
from transforms.intraday import MARKS

__all__ = [
    "MART_KEYS",
    "TOLERANCE",
    "MartValidationError",
    "mart_suites",
    "raise_on_rejected",
    "validate_marts",
]

#: The grain of each mart.
MART_KEYS: dict[str, list[str]] = {
    "marts.event_reaction": ["event_id", "anchor", "ticker", "model"],
    "marts.event_window": ["event_id", "anchor", "ticker", "rel_day"],
    "marts.event_segment_summary": ["event_id", "anchor", "segment", "car_window", "model"],
    "marts.event_propagation": ["event_id", "anchor", "exchange_mic"],
    "marts.event_intraday": ["event_id", "anchor", "ticker", "bar_start_utc"],
    "marts.event_intraday_mark": ["event_id", "anchor", "ticker", "mark"],
}
TOLERANCE = 1e-9
DEFAULT_WINDOW = (-10, 20)
_CAR = re.compile(r"^car_(0|[mp]\d+)_(0|[mp]\d+)$")
_INF = float("inf")


class MartValidationError(RuntimeError):
    """A mart failed a reject rule: a bug in a transform. Names the mart, rules and a sample."""


def _day(token: str) -> int:
    return 0 if token == "0" else (-1 if token[0] == "m" else 1) * int(token[1:])


def car_windows(columns) -> dict[str, tuple[int, int]]:
    """CAR columns of a frame and their windows: 'car_m1_p1' -> (-1, 1)."""
    return {
        c: (_day(m.group(1)), _day(m.group(2))) for c in columns if (m := _CAR.match(c))
    }


def _p_columns(columns) -> list[str]:
    return [c for c in columns if c.endswith("_p") or c.startswith("p_")]


def _common_rules(name: str, columns) -> list[Rule]:
    key = [k for k in MART_KEYS[name] if k in columns]  # anchor: when studied twice
    rules = [Rule(f"{k}_null", gxe.ExpectColumnValuesToNotBeNull(column=k)) for k in key]
    rules.append(unique_key_rule(key, "duplicate_key"))
    rules += [
        Rule(
            f"{c}_out_of_range",
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1),
        )
        for c in _p_columns(columns)
    ]
    return rules


def _gap_rule(column: str, name: str) -> Rule:
    return Rule(name, gxe.ExpectColumnValuesToBeBetween(column=column, max_value=TOLERANCE))


# -- event_reaction -----------------------------------------------------------------------


def _reaction_checks(frame: pl.DataFrame, window: pl.DataFrame | None) -> pl.DataFrame:
    out = frame
    if {"car_0_0", "ar_day0"} <= set(frame.columns):
        out = out.with_columns(
            car_0_0_vs_ar_day0_gap=(pl.col("car_0_0") - pl.col("ar_day0")).abs()
        )
    windows = car_windows(frame.columns)
    if not windows:
        return out
    unit = ["event_id", "anchor", "ticker"] if "anchor" in frame.columns else ["event_id",
                                                                               "ticker"]
    if window is None or window.height == 0:
        ar = pl.DataFrame(schema={**{k: pl.String for k in unit}, "rel_day": pl.Int64,
                                  "ar": pl.Float64})
    else:
        ar = window.select(*unit, pl.col("rel_day").cast(pl.Int64), "ar")
    sums = ar.group_by(*unit).agg(
        expr
        for col, (a, b) in windows.items()
        for expr in (
            pl.col("ar").filter(pl.col("rel_day").is_between(a, b)).sum().alias(f"_s_{col}"),
            pl.col("ar").filter(pl.col("rel_day").is_between(a, b)).count().alias(f"_n_{col}"),
        )
    )
    joined = out.with_row_index("_pos").join(
        sums, on=unit, how="left", maintain_order="left"
    )
    gaps = {}
    # marts.event_window holds the run's model's ARs: other models' CARs are not sums of them
    other_model = (~pl.col("default_model") if "default_model" in frame.columns
                   else pl.lit(False))
    for col, (a, b) in windows.items():
        complete = pl.col(f"_n_{col}").fill_null(0) == (b - a + 1)
        gaps[f"{col}_gap"] = (
            pl.when(pl.col(col).is_null() | other_model)
            .then(None)
            .when(complete)
            .then((pl.col(col) - pl.col(f"_s_{col}")).abs())
            .otherwise(_INF)
        )
    return joined.sort("_pos").with_columns(**gaps).drop(
        "_pos", *[c for c in sums.columns if c.startswith("_")]
    )


def _reaction_rules(columns) -> list[Rule]:
    rules = _common_rules("marts.event_reaction", columns)
    if {"car_0_0", "ar_day0"} <= set(columns):
        rules.append(_gap_rule("car_0_0_vs_ar_day0_gap", "car_0_0_not_ar_day0"))
    rules += [_gap_rule(f"{c}_gap", f"{c}_inconsistent") for c in car_windows(columns)]
    if "thin_estimation" in columns:
        rules += [
            Rule(
                f"thin_{p}_not_null",
                gxe.ExpectColumnValuesToBeNull(
                    column=p, row_condition=Column("thin_estimation") == True  # noqa: E712
                ),
            )
            for p in ("alpha", "beta", "sigma")
            if p in columns
        ]
    if "est_n" in columns:
        rules.append(
            Rule("est_n_negative", gxe.ExpectColumnValuesToBeBetween(column="est_n", min_value=0))
        )
    return rules


# -- event_window -------------------------------------------------------------------------


def _window_checks(frame: pl.DataFrame) -> pl.DataFrame:
    unit = [c for c in ("event_id", "anchor", "ticker") if c in frame.columns]
    running = (
        pl.col("ar").fill_null(0.0).cum_sum().over(unit, order_by="rel_day")
    )
    return frame.with_columns(
        car_without_ar_flag=pl.when(pl.col("car").is_not_null()).then(pl.col("ar").is_not_null()),
        car_running_gap=(pl.col("car") - running).abs(),
    )


def _window_rules(columns, window: tuple[int, int]) -> list[Rule]:
    rules = _common_rules("marts.event_window", columns)
    rules.append(
        Rule(
            "rel_day_out_of_window",
            gxe.ExpectColumnValuesToBeBetween(
                column="rel_day", min_value=window[0], max_value=window[1]
            ),
        )
    )
    if {"car", "ar"} <= set(columns):
        rules += [
            Rule(
                "car_without_ar",
                gxe.ExpectColumnValuesToBeInSet(column="car_without_ar_flag", value_set=[True]),
            ),
            _gap_rule("car_running_gap", "car_not_running_sum"),
        ]
    return rules


# -- summaries ------------------------------------------------------------------------------


def _at_most(column: str, bound: str, name: str) -> Rule:
    return Rule(
        name,
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=bound, column_B=column, or_equal=True, ignore_row_if="either_value_is_missing"
        ),
    )


def _summary_rules(columns) -> list[Rule]:
    rules = _common_rules("marts.event_segment_summary", columns)
    if {"n", "n_securities"} <= set(columns):
        rules.append(_at_most("n", "n_securities", "n_above_n_securities"))
    return rules


def _propagation_rules(columns) -> list[Rule]:
    rules = _common_rules("marts.event_propagation", columns)
    if {"n_with_ar", "n_securities"} <= set(columns):
        rules.append(_at_most("n_with_ar", "n_securities", "n_with_ar_above_n_securities"))
    return rules


def _intraday_checks(frame: pl.DataFrame) -> pl.DataFrame:
    """``ret_gap``: |ret_from_prev_close - (price / prev_close - 1)|; ``price_explained``:
    a mark's price is null exactly when it carries a ``missing_reason``."""
    price = "price" if "price" in frame.columns else "close"
    out = frame.with_columns(ret_gap=(pl.col("ret_from_prev_close")
                                      - (pl.col(price) / pl.col("prev_close") - 1)).abs())
    if "missing_reason" in frame.columns:
        out = out.with_columns(
            price_explained=pl.col("price").is_null() == pl.col("missing_reason").is_not_null())
    return out


def _intraday_rules(name: str, columns) -> list[Rule]:
    rules = _common_rules(name, columns)
    rules.append(_gap_rule("ret_gap", "ret_inconsistent"))
    if "mark" in columns:
        rules += [
            Rule("mark_unknown", gxe.ExpectColumnValuesToBeInSet(column="mark",
                                                                 value_set=list(MARKS))),
            Rule("price_unexplained", gxe.ExpectColumnValuesToBeInSet(
                column="price_explained", value_set=[True])),
        ]
    else:
        rules.append(_at_most("close", "high", "close_above_high"))
        rules.append(_at_most("low", "close", "close_below_low"))
    return rules


def mart_suites(
    marts: Mapping[str, pl.DataFrame], window: tuple[int, int] = DEFAULT_WINDOW
) -> dict[str, Suite]:
    """The suite of every known mart in ``marts`` (unknown tables get none)."""
    suites: dict[str, Suite] = {}
    win = marts.get("marts.event_window")
    for name, frame in marts.items():
        columns = frame.columns
        short = name.split(".")[-1]
        if name == "marts.event_reaction":
            rules = _reaction_rules(columns)
            prepare = partial(_reaction_checks, window=win)
        elif name == "marts.event_window":
            rules, prepare = _window_rules(columns, window), _window_checks
        elif name == "marts.event_segment_summary":
            rules, prepare = _summary_rules(columns), None
        elif name == "marts.event_propagation":
            rules, prepare = _propagation_rules(columns), None
        elif name in ("marts.event_intraday", "marts.event_intraday_mark"):
            rules, prepare = _intraday_rules(name, columns), _intraday_checks
        else:
            continue
        suites[name] = Suite(name=f"mart_{short}", dataset=name, rules=rules, prepare=prepare)
    return suites


def validate_marts(
    marts: Mapping[str, pl.DataFrame], window: tuple[int, int] = DEFAULT_WINDOW
) -> list[ValidationOutcome]:
    """One outcome per known mart (``MART_KEYS``), in the order of ``marts``.

    ``window``: the event window of the study (``EventStudyConfig.window``).
    """
    return [
        validate(marts[name], suite, key=[k for k in MART_KEYS[name] if k in marts[name].columns])
        for name, suite in mart_suites(marts, window).items()
    ]


def raise_on_rejected(outcomes: list[ValidationOutcome]) -> None:
    """Raise :class:`MartValidationError` naming every mart with rejected rows."""
    failed = [o for o in outcomes if o.rejected.height]
    if not failed:
        return
    parts = []
    for o in failed:
        rules = o.results.filter(~pl.col("success") & (pl.col("severity") == "reject"))
        named = ", ".join(
            f"{r['expectation']} ({r['unexpected_count']}) e.g. {r['sample']}"
            for r in rules.iter_rows(named=True)
        )
        parts.append(f"{o.dataset}: {o.rejected.height} row(s) failed {named}")
    raise MartValidationError("mart validation failed (a transform bug): " + "; ".join(parts))
