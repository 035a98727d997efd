"""The expectation suite for core prices (``core.fact_price_daily``).

Input frames follow :data:`contracts.CORE_PRICES` plus ``is_exchange_session: Boolean``
(added by the transform layer from the exchange calendar). Rule names are what a rejected
row lists in ``reasons`` (or a good row in ``quality_flags``):

====================== ======== ===========================================================
rule                   severity unexpected rows
====================== ======== ===========================================================
ticker_null            reject   ticker is null
session_date_null      reject   session_date is null
duplicate_key          reject   every copy of a duplicated (ticker, session_date): we cannot
                                tell which copy is right, so none is kept
open_not_positive      reject   open <= 0 (null open is allowed)
high_not_positive      reject   high <= 0 (null high is allowed)
low_not_positive       reject   low <= 0 (null low is allowed)
close_not_positive     reject   close <= 0
adj_close_not_positive reject   adj_close <= 0
close_null             reject   close is null
adj_close_null         reject   adj_close is null
open_above_high        reject   open > high (skipped if either is null)
open_below_low         reject   open < low (skipped if either is null)
close_above_high       reject   close > high (skipped if high is null)
close_below_low        reject   close < low (skipped if low is null)
volume_null            reject   volume is null (indices carry 0, not null)
volume_negative        reject   volume < 0
session_flag_null      reject   is_exchange_session is null
not_exchange_session   reject   is_exchange_session is False
stale_price            warn     volume == 0 and the bar is flat (high <= low)
====================== ======== ===========================================================

``stale_price`` is the placeholder bar some sources write for a session without trades
(O=H=L=C, volume 0; Korean files, Hong Kong half-days). It only warns because index series
legitimately report zero volume. GX 1.24 row conditions compare a column with a constant,
never with another column, so the rule is "on a zero-volume row, high must exceed low"
(``ExpectColumnPairValuesAToBeGreaterThanB(high, low, row_condition=volume == 0)``): on any
row that passes the reject rules (low <= open, close <= high), high == low is exactly
O=H=L=C, so the rule needs no helper column and no polars re-implementation.

GX compares the price columns rounded to ``PRICE_SIG_FIGS`` significant figures (the suite's
``prepare``), so back-adjustment float noise is not a violation; output rows keep the input's
exact values.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import polars as pl
from great_expectations.expectations.row_conditions import Column

from contracts import CORE_PRICES
from expectations.runner import Rule, Suite, ValidationOutcome, unique_key_rule, validate

__all__ = ["PRICE_SIG_FIGS", "PRICES_COLUMNS", "PRICES_KEY", "PRICES_SUITE", "validate_prices"]

#: The identity of a price row.
PRICES_KEY: list[str] = ["ticker", "session_date"]
#: Columns the suite expects: the core-prices contract plus the calendar flag.
PRICES_COLUMNS: dict[str, pl.DataType] = {**CORE_PRICES, "is_exchange_session": pl.Boolean()}

_EITHER_MISSING = "either_value_is_missing"
_PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
#: Prices are compared at this many significant figures, so float noise from back-adjustment
#: (005930.KS 2020-12-18: close 64056.5546875 vs low 64056.55468750001) is not a violation.
PRICE_SIG_FIGS = 10


def _comparable_prices(frame: pl.DataFrame) -> pl.DataFrame:
    """What GX checks: the frame with its price columns rounded to ``PRICE_SIG_FIGS``."""
    present = [c for c in _PRICE_FIELDS if c in frame.columns]
    return frame.with_columns(pl.col(c).round_sig_figs(PRICE_SIG_FIGS) for c in present)


def _not_null(column: str, name: str) -> Rule:
    return Rule(name, gxe.ExpectColumnValuesToNotBeNull(column=column))


def _positive(column: str) -> Rule:
    return Rule(
        f"{column}_not_positive",
        gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, strict_min=True),
    )


def _at_most(column: str, bound: str, name: str) -> Rule:
    """``column <= bound`` row by row (rows where either is null are skipped)."""
    return Rule(
        name,
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=bound, column_B=column, or_equal=True, ignore_row_if=_EITHER_MISSING
        ),
    )


def _at_least(column: str, bound: str, name: str) -> Rule:
    """``column >= bound`` row by row (rows where either is null are skipped)."""
    return Rule(
        name,
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=column, column_B=bound, or_equal=True, ignore_row_if=_EITHER_MISSING
        ),
    )


PRICES_SUITE = Suite(
    name="core_prices",
    dataset="core.fact_price_daily",
    rules=[
        _not_null("ticker", "ticker_null"),
        _not_null("session_date", "session_date_null"),
        unique_key_rule(PRICES_KEY, "duplicate_key"),
        *(_positive(c) for c in _PRICE_FIELDS),
        _not_null("close", "close_null"),
        _not_null("adj_close", "adj_close_null"),
        _at_most("open", "high", "open_above_high"),
        _at_least("open", "low", "open_below_low"),
        _at_most("close", "high", "close_above_high"),
        _at_least("close", "low", "close_below_low"),
        _not_null("volume", "volume_null"),
        Rule(
            "volume_negative",
            gxe.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
        ),
        _not_null("is_exchange_session", "session_flag_null"),
        Rule(
            "not_exchange_session",
            gxe.ExpectColumnValuesToBeInSet(column="is_exchange_session", value_set=[True]),
        ),
        Rule(
            "stale_price",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="high",
                column_B="low",
                or_equal=False,
                ignore_row_if=_EITHER_MISSING,
                row_condition=Column("volume") == 0,
            ),
            severity="warn",
        ),
    ],
    prepare=_comparable_prices,
)


def validate_prices(frame: pl.DataFrame) -> ValidationOutcome:
    """Validate a core-prices frame (``PRICES_COLUMNS``; extra columns pass through)."""
    return validate(frame, PRICES_SUITE, key=PRICES_KEY)
