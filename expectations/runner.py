"""Generic Great Expectations (GX 1.x) runner: split a polars frame into good and rejected rows.

A :class:`Suite` is a named list of :class:`Rule` s; each rule wraps one GX *row-level*
expectation (a column-map, column-pair-map or multicolumn-map expectation, e.g.
``gxe.ExpectColumnValuesToNotBeNull(column="close")``) plus a short stable name and a
severity:

* ``"reject"``: every row the expectation marks as unexpected is quarantined; the rule's
  name is listed in that row's ``reasons``.
* ``"warn"``: the row still loads; the rule's name is listed in its ``quality_flags``.

:func:`validate` runs the whole suite as ONE GX validation of the whole frame (converted to
pandas with a 0..n-1 RangeIndex; GX 1.24 cannot validate polars frames) with
``result_format="COMPLETE"``.  Row attribution is read from GX's own
``unexpected_index_list``: without ``unexpected_index_column_names`` GX returns the pandas
index labels of the unexpected rows, i.e. their row positions (GX keeps the original labels
through null filtering and row conditions).  That is ~3x faster than naming a row-id column,
for which GX does one ``DataFrame.at`` lookup per unexpected row and column.  No rule is
re-implemented in polars.  A ``mostly``-tolerant rule still attributes its unexpected rows.

Aggregate (table-level) expectations cannot name rows, so a :class:`Rule` refuses them.
Key uniqueness is a multicolumn-map expectation in GX 1.24
(``ExpectCompoundColumnsToBeUnique``) whose unexpected rows are *every* copy of a duplicated
key (pandas ``duplicated(keep=False)``): :func:`unique_key_rule` therefore quarantines all
copies and keeps none, because nothing tells which copy is right.

GX is imported with analytics disabled, its metric progress bars are switched off, and the
ephemeral context is built once per process (:func:`gx_context`).

Each :class:`ValidationOutcome` keeps GX's own ``ExpectationSuiteValidationResult``
(``gx_result``) so that ``expectations.docs.build_data_docs`` can render the run's Data Docs
from it without validating twice, and the suite's ``dataset`` for the audit tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.expectations.expectation import (  # noqa: E402
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    Expectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.row_conditions import (  # noqa: E402
    AndCondition,
    ComparisonCondition,
    NullityCondition,
    OrCondition,
    deserialize_row_condition,
)

__all__ = [
    "QUALITY_FLAGS",
    "REASONS",
    "RESULTS_SCHEMA",
    "ExpectationRunError",
    "Rule",
    "Severity",
    "Suite",
    "ValidationOutcome",
    "gx_context",
    "unique_key_rule",
    "validate",
]

Severity = Literal["reject", "warn"]

#: List[String] column on ``ValidationOutcome.good``: names of the failed "warn" rules.
QUALITY_FLAGS = "quality_flags"
#: List[String] column on ``ValidationOutcome.rejected``: names of the failed "reject" rules.
REASONS = "reasons"
#: Schema of ``ValidationOutcome.results`` (one row per rule, in suite order).
RESULTS_SCHEMA: dict[str, pl.DataType] = {
    "suite": pl.String(),
    "expectation": pl.String(),  # the rule's name
    "gx_type": pl.String(),  # e.g. "expect_column_values_to_not_be_null"
    "severity": pl.String(),
    "success": pl.Boolean(),
    "element_count": pl.Int64(),  # rows GX evaluated (after any row_condition)
    "unexpected_count": pl.Int64(),
    "sample": pl.String(),  # JSON list of <= 3 unexpected rows: key + the rule's columns
}

_ROW_ID = "__aftershock_row_id__"
_META_KEY = "aftershock_rule"
_SAMPLE_SIZE = 3
_ROW_LEVEL = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
_SEVERITIES = ("reject", "warn")


class ExpectationRunError(RuntimeError):
    """GX could not evaluate a rule (or the suite). ``suite`` and ``rule`` name the culprit;
    ``gx_traceback`` keeps GX's own traceback text for debugging."""

    def __init__(
        self, suite: str, rule: str | None, message: str, gx_traceback: str | None = None
    ) -> None:
        where = f"suite {suite!r}" + (f", rule {rule!r}" if rule else "")
        super().__init__(f"{where}: {message}")
        self.suite = suite
        self.rule = rule
        self.gx_traceback = gx_traceback


@dataclass(frozen=True, eq=False)
class Rule:
    """One row-level GX expectation with a stable name and a severity."""

    name: str
    expectation: Expectation
    severity: Severity = "reject"

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"rule name must be a non-empty snake_case word: {self.name!r}")
        if self.severity not in _SEVERITIES:
            raise ValueError(f"rule {self.name!r}: severity must be one of {_SEVERITIES}")
        if not isinstance(self.expectation, _ROW_LEVEL):
            raise TypeError(
                f"rule {self.name!r}: {type(self.expectation).__name__} is not a row-level "
                "(column-map, column-pair-map or multicolumn-map) expectation, so its "
                "failures cannot be attributed to rows"
            )

    @property
    def gx_type(self) -> str:
        return self.expectation.expectation_type

    @property
    def columns(self) -> list[str]:
        """Columns the expectation reads (its domain plus any row_condition columns)."""
        kwargs = self.expectation.configuration.kwargs
        cols = [kwargs[k] for k in ("column", "column_A", "column_B") if kwargs.get(k)]
        cols += list(kwargs.get("column_list") or [])
        cols += _condition_columns(getattr(self.expectation, "row_condition", None))
        return list(dict.fromkeys(cols))


@dataclass(frozen=True, eq=False)
class Suite:
    """A named list of rules for one dataset (e.g. ``core.fact_price_daily``).

    ``prepare`` (optional) maps the input frame to the frame GX checks: same rows, same
    order, e.g. prices rounded to significant figures so float noise from back-adjustment
    does not count as a violation. The outcome's ``good``/``rejected`` rows always carry the
    input's own values.
    """

    name: str
    dataset: str
    rules: Sequence[Rule] = field(default_factory=tuple)
    prepare: Callable[[pl.DataFrame], pl.DataFrame] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"suite {self.name!r}: duplicate rule name(s) {', '.join(dupes)}")
        if not self.rules:
            raise ValueError(f"suite {self.name!r} has no rules")

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)


@dataclass(frozen=True, eq=False)
class ValidationOutcome:
    """``good``: input columns + ``quality_flags``; ``rejected``: input columns + ``reasons``;
    ``results``: one row per rule (:data:`RESULTS_SCHEMA`). Input row order is kept."""

    suite: str
    good: pl.DataFrame
    rejected: pl.DataFrame
    results: pl.DataFrame
    #: GX's own ExpectationSuiteValidationResult (for Data Docs: ``expectations.docs``).
    gx_result: Any = field(default=None, repr=False)
    #: The dataset the suite guards (``Suite.dataset``, e.g. ``core.fact_price_daily``).
    dataset: str = ""

    @property
    def passed(self) -> bool:
        """True when no row was rejected."""
        return self.rejected.height == 0

    @property
    def flagged(self) -> pl.DataFrame:
        """The good rows that carry at least one warn flag."""
        return self.good.filter(pl.col(QUALITY_FLAGS).list.len() > 0)


def not_null_rule(column: str, name: str) -> Rule:
    """``name`` for every row whose ``column`` is null (every suite's most common rule)."""
    return Rule(name, gxe.ExpectColumnValuesToNotBeNull(column=column))


def unique_key_rule(key: Sequence[str], name: str = "duplicate_key") -> Rule:
    """Reject every copy of a duplicated ``key`` (keep none: we cannot tell which is right).

    GX marks all copies (pandas ``duplicated(keep=False)``). Rows whose key is entirely null
    are skipped (reject those with a not-null rule); in a partly null key, nulls compare equal.
    """
    if not key:
        raise ValueError("unique_key_rule needs at least one key column")
    if len(key) == 1:  # ExpectCompoundColumnsToBeUnique needs two or more columns
        return Rule(name, gxe.ExpectColumnValuesToBeUnique(column=key[0]), "reject")
    return Rule(name, gxe.ExpectCompoundColumnsToBeUnique(column_list=list(key)), "reject")


@cache
def gx_context() -> Any:
    """The process-wide ephemeral GX context and its whole-dataframe batch definition."""
    context = gx.get_context(mode="ephemeral")
    context.enable_analytics(False)
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas(name="aftershock").add_dataframe_asset(name="frame")
    batch_definition = asset.add_batch_definition_whole_dataframe(name="whole_frame")
    return context, batch_definition


_GX_LOCK = threading.Lock()  # one GX validation at a time: the shared context is not thread-safe


def validate(frame: pl.DataFrame, suite: Suite, *, key: list[str]) -> ValidationOutcome:
    """Validate ``frame`` against ``suite`` in one GX run and split it into good/rejected.

    ``key`` columns identify rows in the ``sample`` of each result (they are not checked for
    uniqueness here; add :func:`unique_key_rule` to the suite for that).
    """
    for reserved in (QUALITY_FLAGS, REASONS, _ROW_ID):
        if reserved in frame.columns:
            raise ValueError(f"suite {suite.name!r}: input already has a {reserved!r} column")
    checked = _prepared(frame, suite)
    missing_key = [k for k in key if k not in checked.columns]
    if missing_key:
        raise ExpectationRunError(suite.name, None, f"key column(s) missing: {missing_key}")
    for rule in suite.rules:
        missing = [c for c in rule.columns if c not in checked.columns]
        if missing:
            raise ExpectationRunError(
                suite.name, rule.name, f"{rule.gx_type} needs missing column(s) {missing}"
            )

    gx_results, gx_result = _run_gx(checked, suite)

    n = frame.height
    hits: dict[str, list] = {_ROW_ID: [], "rule": [], "order": [], "reject": []}
    result_rows = []
    for order, rule in enumerate(suite.rules):
        res = gx_results[rule.name]
        rows = _unexpected_rows(res, suite, rule, n)
        hits[_ROW_ID] += rows
        hits["rule"] += [rule.name] * len(rows)
        hits["order"] += [order] * len(rows)
        hits["reject"] += [rule.severity == "reject"] * len(rows)
        result_rows.append(
            {
                "suite": suite.name,
                "expectation": rule.name,
                "gx_type": rule.gx_type,
                "severity": rule.severity,
                "success": bool(res.success),
                "element_count": res.result.get("element_count"),
                "unexpected_count": res.result.get("unexpected_count", 0),
                "sample": _sample(checked, rows, key, rule),
            }
        )

    # Only the unexpected (row, rule) pairs go through Python; lists are built in polars.
    names = pl.List(pl.String())
    per_row = (
        pl.DataFrame(
            hits,
            schema={
                _ROW_ID: pl.get_index_type(),
                "rule": pl.String(),
                "order": pl.Int64(),
                "reject": pl.Boolean(),
            },
        )
        .sort(_ROW_ID, "order")
        .group_by(_ROW_ID, maintain_order=True)
        .agg(
            pl.col("rule").filter(pl.col("reject")).alias(REASONS),
            pl.col("rule").filter(~pl.col("reject")).alias(QUALITY_FLAGS),
        )
    )
    tagged = (
        frame.with_row_index(_ROW_ID)
        .join(per_row, on=_ROW_ID, how="left", maintain_order="left")
        .with_columns(
            pl.col(REASONS).fill_null(pl.lit([], dtype=names)),
            pl.col(QUALITY_FLAGS).fill_null(pl.lit([], dtype=names)),
        )
        .drop(_ROW_ID)
    )
    is_rejected = pl.col(REASONS).list.len() > 0
    good = tagged.filter(~is_rejected).drop(REASONS)
    rejected = tagged.filter(is_rejected).drop(QUALITY_FLAGS)
    if good.height + rejected.height != n:  # explicit, so it also holds under python -O
        raise AssertionError(
            f"suite {suite.name!r}: {good.height} good + {rejected.height} rejected != {n} rows"
        )
    results = pl.DataFrame(result_rows, schema=RESULTS_SCHEMA)
    return ValidationOutcome(
        suite=suite.name,
        good=good,
        rejected=rejected,
        results=results,
        gx_result=gx_result,
        dataset=suite.dataset,
    )


# --------------------------------------------------------------------------- internals


def _prepared(frame: pl.DataFrame, suite: Suite) -> pl.DataFrame:
    if suite.prepare is None:
        return frame
    try:
        checked = suite.prepare(frame)
    except Exception as exc:
        raise ExpectationRunError(
            suite.name, None, f"prepare failed: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    if checked.height != frame.height or _ROW_ID in checked.columns:
        raise ExpectationRunError(suite.name, None, "prepare must keep the rows and their order")
    return checked


def _condition_columns(condition: Any) -> list[str]:
    if isinstance(condition, dict):
        condition = deserialize_row_condition(condition)
    if isinstance(condition, (ComparisonCondition, NullityCondition)):
        return [condition.column.name]
    if isinstance(condition, (AndCondition, OrCondition)):
        return [c for sub in condition.conditions for c in _condition_columns(sub)]
    return []  # None, or a legacy string condition (not parsed here)


def _run_gx(frame: pl.DataFrame, suite: Suite) -> tuple[dict[str, Any], Any]:
    """One GX validation of the whole frame: (results keyed by rule name, GX's suite result)."""
    pdf = frame.to_pandas()
    pdf.index = pd.RangeIndex(len(pdf))  # GX reports unexpected rows by these labels
    gx_suite = gx.ExpectationSuite(
        name=suite.name,
        expectations=[
            r.expectation.copy(
                deep=True, update={"meta": {**(r.expectation.meta or {}), _META_KEY: r.name}}
            )
            for r in suite.rules
        ],
    )
    result_format = {
        "result_format": "COMPLETE",  # full unexpected_index_list
        "partial_unexpected_count": _SAMPLE_SIZE,
        "return_unexpected_index_query": False,
    }
    try:
        with _GX_LOCK:
            _, batch_definition = gx_context()
            batch = batch_definition.get_batch(batch_parameters={"dataframe": pdf})
            suite_result = batch.validate(gx_suite, result_format=result_format)
    except Exception as exc:  # GX failed as a whole: no single rule to blame
        raise ExpectationRunError(
            suite.name,
            None,
            f"GX validation failed: {type(exc).__name__}: {exc}",
            traceback.format_exc(),
        ) from None

    by_rule: dict[str, Any] = {}
    for res in suite_result.results:
        name = (res.expectation_config.meta or {}).get(_META_KEY)
        error = _exception_of(res)
        if error is not None:
            rule = suite.rule(name) if name else None
            gx_type = rule.gx_type if rule else res.expectation_config.type
            raise ExpectationRunError(
                suite.name, name, f"GX could not evaluate {gx_type}: {error[0]}", error[1]
            )
        by_rule[name] = res
    absent = [r.name for r in suite.rules if r.name not in by_rule]
    if absent:
        raise ExpectationRunError(suite.name, absent[0], "GX returned no result for the rule")
    return by_rule, suite_result


def _exception_of(res: Any) -> tuple[str, str | None] | None:
    """(message, traceback) if GX caught an exception for this result, else None.

    GX 1.24 reports an exception either as one ``{"raised_exception": ...}`` dict or, when a
    metric failed to resolve, as a dict of such entries keyed by metric id."""
    info = res.exception_info or {}
    entries: Iterable[Any] = [info] if "raised_exception" in info else info.values()
    for entry in entries:
        get = entry.get if isinstance(entry, dict) else lambda k, e=entry: getattr(e, k, None)
        if get("raised_exception"):
            message = (get("exception_message") or "unknown error").strip().splitlines()
            return (message[-1] if message else "unknown error"), get("exception_traceback")
    return None


def _unexpected_rows(res: Any, suite: Suite, rule: Rule, n: int) -> list[int]:
    """Row positions GX marked unexpected for ``rule`` (from its unexpected_index_list)."""
    count = res.result.get("unexpected_count") or 0
    index_list = res.result.get("unexpected_index_list")
    if count and index_list is None:
        raise ExpectationRunError(
            suite.name, rule.name, f"{count} unexpected rows but GX returned no row index"
        )
    rows = sorted({int(item) for item in index_list or []})  # RangeIndex labels
    if len(rows) != count or (rows and not 0 <= rows[0] <= rows[-1] < n):
        raise ExpectationRunError(
            suite.name,
            rule.name,
            f"GX reported {count} unexpected rows but indexed {len(rows)} distinct rows",
        )
    return rows


def _jsonable(value: Any) -> Any:
    """A GX/pandas/numpy scalar as a JSON value (NaN/NaT/None -> null, midnight -> date)."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # not a scalar
        return str(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _sample(frame: pl.DataFrame, rows: list[int], key: Sequence[str], rule: Rule) -> str:
    """Short JSON of the first few unexpected rows: key columns, then the rule's columns."""
    cols = list(dict.fromkeys([*key, *rule.columns]))
    picked = frame[rows[:_SAMPLE_SIZE]].select(cols).to_dicts()
    return json.dumps(
        [{c: _jsonable(v) for c, v in row.items()} for row in picked],
        default=str,
        separators=(",", ":"),
    )
