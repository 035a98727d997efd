"""The expectation suite for hourly bars (``core.fact_price_intraday``).

Input frames are ``contracts.RAW_INTRADAY`` plus ``session_date`` and ``exchange_mic`` (added
by ``transforms.intraday.intraday_to_core`` from the venue's exchange calendar: the session
whose [open, close) holds the bar's start, null if none). Every rule about hourly bars is
here, as GX expectations with stable names (what a quarantined row lists in ``reasons``):

======================= ======== ===========================================================
rule                    severity unexpected rows
======================= ======== ===========================================================
ticker_null             reject   ticker is null
bar_start_null          reject   bar_start_utc is null
ticker_unknown          reject   the ticker is not in the universe (no venue, no sessions)
interval_unknown        reject   interval is not ``contracts.INTRADAY_INTERVAL`` ('1h')
duplicate_key           reject   every copy of a (ticker, bar_start_utc) that came twice:
                                 which copy is right cannot be told, so neither is kept
close_null              reject   close is null
open_not_positive ..    reject   a price <= 0 (open, high, low, close)
open_above_high, ..     reject   the bar is not inside its own [low, high]: open or close
                                 above high or below low
volume_negative         reject   volume < 0 (null volume is allowed; indices send 0)
bar_outside_session     reject   the bar does not start inside a session of its venue (a
                                 bar on a holiday, before the open or after the close, or a
                                 time stamp that was not UTC)
======================= ======== ===========================================================

Bars are in UTC by contract (``RAW_INTRADAY`` casts the instant to UTC; a source that stamps
local time as if it were UTC shows as ``bar_outside_session``).
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import polars as pl

from contracts import INTRADAY_INTERVAL
from expectations.runner import (
    Rule,
    Suite,
    ValidationOutcome,
    not_null_rule,
    unique_key_rule,
    validate,
)

INTRADAY_KEY: list[str] = ["ticker", "bar_start_utc"]
_PRICES = ("open", "high", "low", "close")
_EITHER_MISSING = "either_value_is_missing"


def _pair(a: str, b: str, name: str) -> Rule:
    """``a >= b`` row by row (rows where either is null are skipped)."""
    return Rule(name, gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=a, column_B=b, or_equal=True, ignore_row_if=_EITHER_MISSING))


INTRADAY_SUITE = Suite(
    name="core_intraday",
    dataset="core.fact_price_intraday",
    rules=[
        not_null_rule("ticker", "ticker_null"),
        not_null_rule("bar_start_utc", "bar_start_null"),
        not_null_rule("exchange_mic", "ticker_unknown"),
        Rule("interval_unknown",
             gxe.ExpectColumnValuesToBeInSet(column="interval", value_set=[INTRADAY_INTERVAL])),
        unique_key_rule(INTRADAY_KEY, "duplicate_key"),
        not_null_rule("close", "close_null"),
        *(Rule(f"{c}_not_positive",
               gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=True))
          for c in _PRICES),
        _pair("high", "open", "open_above_high"),
        _pair("open", "low", "open_below_low"),
        _pair("high", "close", "close_above_high"),
        _pair("close", "low", "close_below_low"),
        Rule("volume_negative", gxe.ExpectColumnValuesToBeBetween(column="volume", min_value=0)),
        not_null_rule("session_date", "bar_outside_session"),
    ],
)


def validate_intraday(bars: pl.DataFrame) -> ValidationOutcome:
    """Validate hourly bars (``RAW_INTRADAY`` + session_date, exchange_mic)."""
    return validate(bars, INTRADAY_SUITE, key=INTRADAY_KEY)
