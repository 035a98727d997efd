"""Expectation suites for reference data: share counts and daily FX (value moved), and
corporate actions.

Input frames are what the sources deliver (``contracts.RAW_SHARES`` / ``RAW_FX`` /
``RAW_ACTIONS``); the good rows become ``contracts.CORE_SHARES`` / ``CORE_FX`` /
``CORE_ACTIONS``. Every rule about these datasets is here (value moved trusts core), as GX
expectations with stable snake_case names:

=========================== ======== ====================================================
rule                        severity unexpected rows
=========================== ======== ====================================================
**shares** (``core_shares``, key ticker + as_of_date)
ticker_null                 reject   ticker is null
as_of_date_null             reject   as_of_date is null
shares_missing              reject   shares_outstanding is null or NaN
shares_not_positive         reject   shares_outstanding <= 0
shares_not_finite           reject   shares_outstanding is +infinity
conflicting_shares          reject   every row of a (ticker, as_of_date) that carries two
                                     or more different usable counts (Yahoo sometimes
                                     sends one real count and one off by a factor; nothing
                                     says which is right, so neither is used)
**fx** (``core_fx``, key currency + session_date)
currency_null               reject   currency is null
currency_form               reject   currency is not three upper-case letters
base_currency               reject   currency is USD (1 by definition; never stored)
session_date_null           reject   session_date is null
rate_missing                reject   usd_per_unit is null or NaN
rate_not_positive           reject   usd_per_unit <= 0
rate_not_finite             reject   usd_per_unit is +infinity
conflicting_rates           reject   every row of a (currency, session_date) with two or
                                     more different usable rates
**actions** (``core_actions``, key ticker + ex_date + action)
ticker_null                 reject   ticker is null
ex_date_null                reject   ex_date is null
action_unknown              reject   action is not dividend or split
action_value_missing        reject   value is null or NaN
action_value_not_positive   reject   value <= 0
action_value_not_finite     reject   value is +infinity
conflicting_actions         reject   every row of a (ticker, ex_date, action) with two or
                                     more different usable values
=========================== ======== ====================================================

Exact repeats of one value for one key are *not* a violation (a source may send a row twice):
they pass, and :func:`shares_to_core` / :func:`fx_to_core` collapse them to one row when they
conform the good rows to the core contract. "Usable" means non-null, finite and positive: a
key with one usable value and one NaN loses only the NaN row.

``conflicting_*`` need a per-key count, so ``prepare`` adds ``distinct_values`` (the number of
distinct usable values of the row's key; null when the row itself is not usable) and the rule
is ``ExpectColumnValuesToBeBetween(distinct_values, max_value=1)``.
"""

from __future__ import annotations

import sys

import great_expectations.expectations as gxe
import polars as pl

from contracts import ACTION_KINDS, CORE_ACTIONS, CORE_FX, CORE_SHARES
from expectations.runner import (
    QUALITY_FLAGS,
    Rule,
    Suite,
    ValidationOutcome,
    not_null_rule,
    validate,
)

__all__ = [
    "FX_KEY",
    "FX_SUITE",
    "SHARES_KEY",
    "SHARES_SUITE",
    "fx_to_core",
    "shares_to_core",
    "validate_fx",
    "validate_shares",
    "ACTIONS_SUITE",
    "actions_to_core",
    "validate_actions",
]

SHARES_KEY: list[str] = ["ticker", "as_of_date"]
FX_KEY: list[str] = ["currency", "session_date"]
ACTIONS_KEY: list[str] = ["ticker", "ex_date", "action"]
_DISTINCT = "distinct_values"


def _with_distinct(key: list[str], value: str):
    def prepare(frame: pl.DataFrame) -> pl.DataFrame:
        v = pl.col(value).cast(pl.Float64)
        usable = v.is_not_null() & v.is_finite() & (v > 0)
        return frame.with_columns(
            pl.when(usable)
            .then(v.filter(usable).n_unique().over(key))
            .cast(pl.Int64)
            .alias(_DISTINCT)
        )

    return prepare


def _value_rules(value: str, prefix: str, conflicting: str) -> list[Rule]:
    return [
        not_null_rule(value, f"{prefix}_missing"),
        Rule(
            f"{prefix}_not_positive",
            gxe.ExpectColumnValuesToBeBetween(column=value, min_value=0, strict_min=True),
        ),
        Rule(
            f"{prefix}_not_finite",
            gxe.ExpectColumnValuesToBeBetween(column=value, max_value=sys.float_info.max),
        ),
        Rule(conflicting, gxe.ExpectColumnValuesToBeBetween(column=_DISTINCT, max_value=1)),
    ]


SHARES_SUITE = Suite(
    name="core_shares",
    dataset="core.fact_shares_outstanding",
    rules=[
        not_null_rule("ticker", "ticker_null"),
        not_null_rule("as_of_date", "as_of_date_null"),
        *_value_rules("shares_outstanding", "shares", "conflicting_shares"),
    ],
    prepare=_with_distinct(SHARES_KEY, "shares_outstanding"),
)

FX_SUITE = Suite(
    name="core_fx",
    dataset="core.fact_fx_daily",
    rules=[
        not_null_rule("currency", "currency_null"),
        Rule(
            "currency_form",
            gxe.ExpectColumnValuesToMatchRegex(column="currency", regex=r"^[A-Z]{3}$"),
        ),
        Rule("base_currency", gxe.ExpectColumnValuesToNotBeInSet(column="currency",
                                                                 value_set=["USD"])),
        not_null_rule("session_date", "session_date_null"),
        *_value_rules("usd_per_unit", "rate", "conflicting_rates"),
    ],
    prepare=_with_distinct(FX_KEY, "usd_per_unit"),
)


ACTIONS_SUITE = Suite(
    name="core_actions",
    dataset="core.fact_corporate_action",
    rules=[
        not_null_rule("ticker", "ticker_null"),
        not_null_rule("ex_date", "ex_date_null"),
        Rule("action_unknown", gxe.ExpectColumnValuesToBeInSet(column="action",
                                                               value_set=list(ACTION_KINDS))),
        *_value_rules("value", "action_value", "conflicting_actions"),
    ],
    prepare=_with_distinct(ACTIONS_KEY, "value"),
)


def validate_shares(raw: pl.DataFrame) -> ValidationOutcome:
    """Validate raw share counts (``RAW_SHARES``; extra columns pass through)."""
    return validate(raw, SHARES_SUITE, key=SHARES_KEY)


def validate_fx(raw: pl.DataFrame) -> ValidationOutcome:
    """Validate raw FX rates (``RAW_FX``; extra columns pass through)."""
    return validate(raw, FX_SUITE, key=FX_KEY)


def validate_actions(raw: pl.DataFrame) -> ValidationOutcome:
    """Validate raw corporate actions (``RAW_ACTIONS``; extra columns pass through)."""
    return validate(raw, ACTIONS_SUITE, key=ACTIONS_KEY)


def _to_core(good: pl.DataFrame, key: list[str], contract: dict[str, pl.DataType]):
    return (
        good.drop(QUALITY_FLAGS, strict=False)
        .select(pl.col(c).cast(t) for c, t in contract.items())
        .unique(subset=key, keep="first", maintain_order=True)
        .sort(key)
    )


def shares_to_core(good: pl.DataFrame) -> pl.DataFrame:
    """``validate_shares(raw).good`` -> ``CORE_SHARES`` rows, one per key (repeats collapsed)."""
    return _to_core(good, SHARES_KEY, CORE_SHARES)


def actions_to_core(good: pl.DataFrame) -> pl.DataFrame:
    """``validate_actions(raw).good`` -> ``CORE_ACTIONS`` rows, one per key."""
    return _to_core(good, ACTIONS_KEY, CORE_ACTIONS)


def fx_to_core(good: pl.DataFrame) -> pl.DataFrame:
    """``validate_fx(raw).good`` -> ``CORE_FX`` rows, one per key (repeats collapsed)."""
    return _to_core(good, FX_KEY, CORE_FX)
