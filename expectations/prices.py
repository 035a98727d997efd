"""The expectation suite for core prices (``core.fact_price_daily``).

Input frames follow :data:`contracts.CORE_PRICES` plus ``unparsed: String`` (the source's
text of cells that did not parse, ``contracts.RAW_PRICES``) and ``is_exchange_session:
Boolean`` (added by the transform layer from the exchange calendar). Rule names are what a rejected
row lists in ``reasons`` (or a good row in ``quality_flags``):

====================== ======== ===========================================================
rule                   severity unexpected rows
====================== ======== ===========================================================
ticker_null            reject   ticker is null
session_date_null      reject   session_date is null
value_unparseable      reject   a cell had text that is not a value (``N/A``, ``abc``,
                                ``2025-13-01``, ``1,000``): the value is null and the row's
                                ``unparsed`` keeps the text, so the quarantined row shows it
duplicate_key          reject   every copy of a duplicated (ticker, session_date) whose copies
                                differ: we cannot tell which copy is right, so none is kept
duplicate_collapsed    warn     the row came more than once with every value equal: one copy
                                is kept (raw keeps them all), flagged
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
value_not_finite       reject   a price or the volume is NaN or +-infinity (GX itself sees
                                NaN as missing, so a NaN close also lists ``close_null``)
price_out_of_range     reject   a price above ``MAX_PRICE`` (1e9): no instrument trades there
implausible_level      reject   adj_close more than ``IMPLAUSIBLE_FACTOR`` (10x) above or below
                                the median of the ticker's previous ``RECENT_ROWS`` (5) usable
                                levels: a faulty bar (a 100x print, 1e308), never a move
stale_price            warn     volume == 0 and the bar is flat (high <= low)
extreme_move           warn     adj_close moved more than ``EXTREME_MOVE`` (40 %) from the
                                ticker's previous row (no corporate-action table exists yet,
                                so every such move is flagged, none is explained away)
adj_ratio_jump         warn     adj_close / close changed by more than ``ADJ_RATIO_JUMP``
                                (5 %) from the ticker's previous row: a new split or dividend
                                adjustment, or a mis-adjusted row
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

Rules that need the previous session (``extreme_move``, ``adj_ratio_jump``) are still GX
expectations: ``prepare`` adds helper columns -- ``day_move`` (adj_close over the ticker's
previous usable adj_close, minus 1), ``adj_ratio_change`` (the same for adj_close / close),
``level_vs_recent`` (adj_close over the median of the previous ``RECENT_ROWS`` usable
adj_close values), ``max_price`` (the largest finite price field) and ``non_finite_values``
(how many of the price and volume fields are NaN or infinite) -- and the rules are
``ExpectColumnValuesToBeBetween`` on them. "Previous" is the ticker's previous row by session
date whose close and adj_close are finite, positive and below ``MAX_PRICE``, whose level is
plausible (``implausible_level``) and whose key is not duplicated, in the frame or in the
optional ``context`` rows (e.g. the last loaded sessions from core, so that the first row of
an incremental extract is compared too); context rows are never validated themselves.

:func:`gap_report` is the per-ticker missing-session report (audit.gap_report) against each
venue's exchange calendar, and :data:`GAPS_SUITE` its one warn rule, so gaps also appear in
audit.validation_result and the Data Docs.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import great_expectations.expectations as gxe
import polars as pl
from great_expectations.expectations.row_conditions import Column

from contracts import CORE_PRICES
from expectations.runner import (
    QUALITY_FLAGS,
    Rule,
    Suite,
    ValidationOutcome,
    not_null_rule,
    unique_key_rule,
    validate,
)

__all__ = [
    "ADJ_RATIO_JUMP",
    "EXTREME_MOVE",
    "GAP_REPORT",
    "GAPS_SUITE",
    "HELPER_COLUMNS",
    "PRICE_SIG_FIGS",
    "PRICES_COLUMNS",
    "PRICES_KEY",
    "PRICES_SUITE",
    "gap_report",
    "validate_gaps",
    "validate_prices",
]

#: The identity of a price row.
PRICES_KEY: list[str] = ["ticker", "session_date"]
#: Columns the suite expects: the core-prices contract plus the calendar flag.
PRICES_COLUMNS: dict[str, pl.DataType] = {**CORE_PRICES, "unparsed": pl.String(),
                                          "is_exchange_session": pl.Boolean()}

_EITHER_MISSING = "either_value_is_missing"
_PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
#: Prices are compared at this many significant figures, so float noise from back-adjustment
#: (005930.KS 2020-12-18: close 64056.5546875 vs low 64056.55468750001) is not a violation.
PRICE_SIG_FIGS = 10
#: A day move (adj_close over the previous session's) beyond this fraction is flagged.
EXTREME_MOVE = 0.40
#: A change of adj_close / close beyond this fraction from the previous session is flagged.
ADJ_RATIO_JUMP = 0.05
#: Columns ``prepare`` adds for GX (they appear in result samples, never in output rows).
HELPER_COLUMNS = ("non_finite_values", "day_move", "adj_ratio_change", "max_price",
                  "level_vs_recent")
_VALUE_FIELDS = (*_PRICE_FIELDS, "volume")
#: No instrument of any venue trades above this in its own currency (the dearest listings are
#: about 1e6, e.g. Korean won shares and BRK.A); a bar above it is a data fault.
MAX_PRICE = 1e9
#: A bar whose adj_close is this many times above or below the median of the ticker's
#: previous RECENT_ROWS usable adj_close values is not a move but a faulty level (adj_close
#: already carries splits and dividends, so no corporate action explains it).
IMPLAUSIBLE_FACTOR = 10.0
RECENT_ROWS = 5


def _comparable_prices(frame: pl.DataFrame, context: pl.DataFrame | None = None) -> pl.DataFrame:
    """What GX checks: price columns rounded to ``PRICE_SIG_FIGS``, plus the helper columns."""
    present = [c for c in _PRICE_FIELDS if c in frame.columns]
    checked = frame.with_columns(pl.col(c).round_sig_figs(PRICE_SIG_FIGS) for c in present)
    finite = [c for c in _VALUE_FIELDS if c in frame.columns]
    non_finite = pl.sum_horizontal(
        (pl.col(c).cast(pl.Float64).is_nan() | pl.col(c).cast(pl.Float64).is_infinite())
        .fill_null(False)
        .cast(pl.Int64)
        for c in finite
    )
    finite_max = pl.max_horizontal(
        pl.when(pl.col(c).is_finite()).then(pl.col(c).cast(pl.Float64)) for c in present
    ) if present else pl.lit(None, pl.Float64)
    return checked.with_columns(
        non_finite_values=non_finite if finite else pl.lit(0, pl.Int64),
        max_price=finite_max,
        **_previous_session_changes(frame, context),
    )


def _usable(column: str) -> pl.Expr:
    value = pl.col(column)
    return value.is_not_null() & value.is_finite() & (value > 0)


def _previous_session_changes(
    frame: pl.DataFrame, context: pl.DataFrame | None
) -> dict[str, pl.Series]:
    """``day_move``, ``adj_ratio_change`` and ``level_vs_recent`` of every frame row, in frame
    order.

    Each is the row's value over the same value of the ticker's previous usable row (by
    session date, from the frame or ``context``) minus 1; null for a ticker's first row or
    when the row itself is not usable.
    """
    cols = ["ticker", "session_date", "close", "adj_close"]
    rows = frame.select(cols).with_row_index("_pos")
    if context is not None and context.height:
        extra = context.select(pl.col(c).cast(frame.schema[c]) for c in cols).join(
            frame.select("ticker", "session_date"),
            on=["ticker", "session_date"],
            how="anti",
            nulls_equal=False,
        )
        rows = pl.concat([rows, extra], how="diagonal")
    # a duplicated key has no single "previous row": its copies are never anyone's previous;
    # nor is a row whose date did not parse (it has no place in the sequence)
    unique = (pl.len().over("ticker", "session_date") == 1) & pl.col("session_date").is_not_null()
    usable = (_usable("close") & _usable("adj_close") & unique
              & (pl.col("close") < MAX_PRICE) & (pl.col("adj_close") < MAX_PRICE))
    # the median of the previous few usable levels: one faulty bar cannot move it, so the
    # bar after a spike is compared with the real level, not with the spike
    recent = (pl.when(usable).then(pl.col("adj_close")).shift(1)
              .rolling_median(window_size=RECENT_ROWS, min_samples=1)
              .over("ticker", order_by="session_date"))
    rows = rows.with_columns(level_vs_recent=pl.when(usable).then(pl.col("adj_close") / recent))
    level = pl.col("level_vs_recent")
    plausible = level.is_null() | level.is_between(1 / IMPLAUSIBLE_FACTOR, IMPLAUSIBLE_FACTOR)
    adj = pl.when(usable & plausible).then(pl.col("adj_close"))
    ratio = pl.when(usable & plausible).then(pl.col("adj_close") / pl.col("close"))

    def change(value: pl.Expr) -> pl.Expr:
        previous = value.shift(1).forward_fill().over("ticker", order_by="session_date")
        return value / previous - 1.0

    changed = (
        rows.with_columns(day_move=change(adj), adj_ratio_change=change(ratio))
        .filter(pl.col("_pos").is_not_null())
        .sort("_pos")
    )
    return {
        "day_move": changed["day_move"],
        "adj_ratio_change": changed["adj_ratio_change"],
        "level_vs_recent": changed["level_vs_recent"],
    }


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
        not_null_rule("ticker", "ticker_null"),
        not_null_rule("session_date", "session_date_null"),
        Rule("value_unparseable", gxe.ExpectColumnValuesToBeNull(column="unparsed")),
        unique_key_rule(PRICES_KEY, "duplicate_key"),
        *(_positive(c) for c in _PRICE_FIELDS),
        not_null_rule("close", "close_null"),
        not_null_rule("adj_close", "adj_close_null"),
        _at_most("open", "high", "open_above_high"),
        _at_least("open", "low", "open_below_low"),
        _at_most("close", "high", "close_above_high"),
        _at_least("close", "low", "close_below_low"),
        not_null_rule("volume", "volume_null"),
        Rule(
            "volume_negative",
            gxe.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
        ),
        not_null_rule("is_exchange_session", "session_flag_null"),
        Rule(
            "not_exchange_session",
            gxe.ExpectColumnValuesToBeInSet(column="is_exchange_session", value_set=[True]),
        ),
        Rule(
            "value_not_finite",
            gxe.ExpectColumnValuesToBeBetween(column="non_finite_values", max_value=0),
        ),
        Rule(
            "price_out_of_range",
            gxe.ExpectColumnValuesToBeBetween(column="max_price", max_value=MAX_PRICE),
        ),
        Rule(
            "implausible_level",
            gxe.ExpectColumnValuesToBeBetween(
                column="level_vs_recent", min_value=1 / IMPLAUSIBLE_FACTOR,
                max_value=IMPLAUSIBLE_FACTOR),
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
        Rule(
            "extreme_move",
            gxe.ExpectColumnValuesToBeBetween(
                column="day_move", min_value=-EXTREME_MOVE, max_value=EXTREME_MOVE
            ),
            severity="warn",
        ),
        Rule(
            "adj_ratio_jump",
            gxe.ExpectColumnValuesToBeBetween(
                column="adj_ratio_change", min_value=-ADJ_RATIO_JUMP, max_value=ADJ_RATIO_JUMP
            ),
            severity="warn",
        ),
    ],
    prepare=_comparable_prices,
)


def validate_prices(
    frame: pl.DataFrame, *, context: pl.DataFrame | None = None
) -> ValidationOutcome:
    """Validate a core-prices frame (``PRICES_COLUMNS``; extra columns pass through).

    ``context`` (optional; ticker, session_date, close, adj_close): earlier rows of the same
    tickers, e.g. ``load.read_prices(con)`` -- only used as the "previous session" of the
    frame's first rows; never validated, never returned. A context row with the key of a
    frame row is ignored (the frame's row wins).
    """
    frame, copied = _collapse_exact_copies(frame)
    suite = PRICES_SUITE if context is None else Suite(
        name=PRICES_SUITE.name,
        dataset=PRICES_SUITE.dataset,
        rules=PRICES_SUITE.rules,
        prepare=partial(_comparable_prices, context=context),
    )
    outcome = validate(frame, suite, key=PRICES_KEY)
    if copied is None:
        return outcome
    was_copied = pl.struct(PRICES_KEY).is_in(
        copied.select(pl.struct(PRICES_KEY)).to_series().implode())
    return dataclasses.replace(outcome, good=outcome.good.with_columns(
        pl.when(was_copied)
        .then(pl.col(QUALITY_FLAGS).list.concat(pl.lit(["duplicate_collapsed"])))
        .otherwise(pl.col(QUALITY_FLAGS))
        .alias(QUALITY_FLAGS)
    ))


def _collapse_exact_copies(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(the frame with exact copies of a row kept once, the keys that had copies or None).
    Copies that differ in any value are left for ``duplicate_key`` to reject."""
    flat = [c for c, t in frame.schema.items() if not t.is_nested()]
    row = pl.struct(flat)
    copied = frame.select(row.is_duplicated()).to_series()
    if frame.height == 0 or not copied.any():
        return frame, None
    keys = frame.filter(copied).select(PRICES_KEY).unique()
    return frame.filter(row.is_first_distinct()), keys


# --------------------------------------------------------------------------- gap report

#: One row per ticker (audit.gap_report without run_id): sessions of its venue between its
#: first and last row, and those without a row.
GAP_REPORT: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "exchange_mic": pl.String(),
    "first_session": pl.Date(),
    "last_session": pl.Date(),
    "expected_sessions": pl.Int64(),
    "present": pl.Int64(),
    "missing": pl.Int64(),
    "first_missing": pl.Date(),
    "last_missing": pl.Date(),
    "missing_dates": pl.List(pl.Date()),
}


def gap_report(
    prices: pl.DataFrame, sessions: pl.DataFrame, securities: pl.DataFrame
) -> pl.DataFrame:
    """Missing sessions per ticker against its venue's calendar (``GAP_REPORT``).

    ``prices``: ticker, session_date (e.g. the run's good rows, or all of core); ``sessions``:
    ``transforms.calendar.exchange_sessions``; ``securities``: ticker, exchange_mic. Only a
    ticker's span counts (its first to its last row that falls on a session of its venue), so
    a late listing or a short recording is not a gap. Rows on non-session dates are ignored
    (the suite rejects them). Tickers not in ``securities`` have no row. Sorted by ticker.
    """
    venue = securities.select("ticker", "exchange_mic")
    sess = sessions.select("exchange_mic", "session_date")
    have = (
        prices.select("ticker", "session_date")
        .drop_nulls()
        .unique()
        .join(venue, on="ticker")
        .join(sess, on=["exchange_mic", "session_date"])
    )
    spans = have.group_by("ticker", "exchange_mic").agg(
        first_session=pl.col("session_date").min(),
        last_session=pl.col("session_date").max(),
        present=pl.len().cast(pl.Int64),
    )
    expected = (
        spans.join(sess, on="exchange_mic")
        .filter(pl.col("session_date").is_between(pl.col("first_session"), pl.col("last_session")))
        .join(have.select("ticker", "session_date", _have=pl.lit(True)),
              on=["ticker", "session_date"], how="left")
    )
    missing = pl.col("session_date").filter(pl.col("_have").is_null()).sort()
    per_ticker = expected.group_by("ticker").agg(
        expected_sessions=pl.len().cast(pl.Int64),
        missing_dates=missing,
    )
    return (
        spans.join(per_ticker, on="ticker")
        .with_columns(
            missing=pl.col("missing_dates").list.len().cast(pl.Int64),
            first_missing=pl.col("missing_dates").list.first(),
            last_missing=pl.col("missing_dates").list.last(),
        )
        .select(pl.col(c).cast(t) for c, t in GAP_REPORT.items())
        .sort("ticker")
    )


#: The gap report's suite: a ticker with missing sessions loads (it is a report), flagged.
GAPS_SUITE = Suite(
    name="price_gaps",
    dataset="audit.gap_report",
    rules=[
        Rule(
            "missing_sessions",
            gxe.ExpectColumnValuesToBeBetween(column="missing", max_value=0),
            severity="warn",
        ),
    ],
)


def validate_gaps(report: pl.DataFrame) -> ValidationOutcome:
    """Run :data:`GAPS_SUITE` on a :func:`gap_report` frame (for audit.validation_result)."""
    return validate(report, GAPS_SUITE, key=["ticker"])
