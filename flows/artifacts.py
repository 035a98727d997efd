"""What a run publishes to Prefect: a markdown summary and a table of the new reactions.

Both are keyed artifacts (``<flow>-run-summary``, ``<flow>-new-reactions``), so the Prefect UI's
Artifacts page shows their history run after run. They are read back from the warehouse inside
the run (the counts it recorded, its validation results, the marts it rebuilt), so they say what
was committed, not what was attempted. Publishing never fails a run: a problem is logged.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import duckdb
import polars as pl

from warehouse import status as sql

#: Most rows put in the reactions table artifact (largest |AR| first).
MAX_TABLE_ROWS = 500
#: Reactions listed in the markdown summary.
TOP_REACTIONS = 10

_STAGES = ("extracted", "raw_landed", "inserted", "updated", "quarantined")


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:
        return logging.getLogger("aftershock.artifacts")


def _counts_by_dataset(counts: dict[str, int]) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """{'prices.inserted': 5} -> ({'prices': {'inserted': 5}}, {}); tables go to the second."""
    datasets: dict[str, dict[str, int]] = {}
    tables: dict[str, int] = {}
    for name, n in counts.items():
        if name.startswith(("marts.", "core.")):
            tables[name] = n
        else:
            dataset, _, stage = name.rpartition(".")
            datasets.setdefault(dataset or name, {})[stage] = n
    return datasets, tables


def _pct(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def _num(x: float | None, digits: int = 2) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def summary_markdown(summary: Any, validation: pl.DataFrame, reactions: pl.DataFrame,
                     flow: str, top: int = TOP_REACTIONS) -> str:
    """The markdown summary of one run (pure: frames in, text out)."""
    datasets, tables = _counts_by_dataset(dict(summary.counts))
    lines = [f"# Aftershock {flow} run `{summary.run_id}`: **{summary.status}**", "",
             f"Warehouse: `{summary.warehouse}`"]
    error = getattr(summary, "error", None)
    if error:
        lines += ["", f"Error: `{error}`"]
    failed = list(getattr(summary, "failed_tickers", []) or [])
    if failed:
        lines += ["", f"Tickers not fetched ({len(failed)}): " + ", ".join(failed)]
    lines += ["", "## Rows per dataset", "",
              "| dataset | " + " | ".join(s.replace("_", " ") for s in _STAGES)
              + " | passed validation |",
              "|---|" + "---:|" * (len(_STAGES) + 1)]
    for dataset, stages in datasets.items():
        extracted, rejected = stages.get("extracted"), stages.get("quarantined", 0)
        rate = (extracted - rejected) / extracted if extracted else None
        lines.append(f"| {dataset} | " + " | ".join(f"{stages[s]:,}" if s in stages else ""
                                                    for s in _STAGES)
                     + f" | {_pct(rate)}{' %' if rate is not None else ''} |")
    if validation.height:
        per_rule = validation.group_by("suite", "expectation", "severity").agg(
            pl.col("success").all(), pl.col("unexpected").sum()
        ).sort("suite", "expectation")
        met = per_rule.filter("success")
        lines += ["", "## Validation", "",
                  f"Expectations met: {met.height} of {per_rule.height}."]
        missed = per_rule.filter(~pl.col("success"))
        if missed.height:
            lines += ["", "| suite | expectation | severity | unexpected rows |",
                      "|---|---|---|---:|"]
            lines += [f"| {r['suite']} | {r['expectation']} | {r['severity']} | "
                      f"{r['unexpected']:,} |" for r in missed.iter_rows(named=True)]
    if tables:
        lines += ["", "## Tables rebuilt", "", "| table | rows |", "|---|---:|"]
        lines += [f"| {t} | {n:,} |" for t, n in tables.items()]
    events = (reactions.group_by("event_id", "event_name", "day0")
              .agg(pl.len().alias("securities")).sort("day0", "event_id")
              if reactions.height else reactions)
    lines += ["", f"## New events ({events.height})", ""]
    if events.height == 0:
        lines.append("No event's day-0 prices were loaded by this run.")
    else:
        shown = events.tail(20)
        if events.height > shown.height:
            lines.append(f"The {shown.height} most recent of {events.height}:")
            lines.append("")
        lines += [f"- {r['day0']} `{r['event_id']}` {r['event_name']} "
                  f"({r['securities']} securities)" for r in shown.iter_rows(named=True)]
        ranked = reactions.filter(pl.col("ar_day0").is_not_null()
                                  & (pl.col("segment") != "benchmark"))
        if ranked.height:
            lines += ["", f"## Top {min(top, ranked.height)} reactions "
                      "(|day-0 abnormal return|)", "",
                      "| event | day 0 | ticker | segment | return % | AR % | CAR[0,+5] % | t |",
                      "|---|---|---|---|---:|---:|---:|---:|"]
            lines += [
                f"| {r['event_id']} | {r['day0']} | {r['ticker']} | {r['segment']} | "
                f"{_pct(r['ret_day0'])} | {_pct(r['ar_day0'])} | {_pct(r['car_0_p5'])} | "
                f"{_num(r['car_0_0_t'])} |"
                for r in ranked.head(top).iter_rows(named=True)
            ]
    return "\n".join(lines) + "\n"


def reactions_table(reactions: pl.DataFrame, max_rows: int = MAX_TABLE_ROWS) -> list[dict]:
    """Rows for the table artifact: JSON-safe (dates as text), percentages rounded."""
    if reactions.height == 0:
        return []
    frame = reactions.head(max_rows).with_columns(
        pl.col("day0").cast(pl.String),
        *(pl.col(c).mul(100).round(3).alias(f"{c}_pct")
          for c in ("ret_day0", "ar_day0", "car_0_p5")),
        pl.col("car_0_0_t").round(3).alias("t_day0"),
    )
    return frame.select(
        "event_id", "day0", "ticker", "segment", "exchange_mic", "ret_day0_pct", "ar_day0_pct",
        "car_0_p5_pct", "t_day0", "thin_estimation",
    ).to_dicts()


def publish_run_artifacts(summary: Any, con: duckdb.DuckDBPyConnection, *,
                          flow: str | None = None, top: int = TOP_REACTIONS,
                          max_rows: int = MAX_TABLE_ROWS) -> bool:
    """Publish the run's markdown summary and new-reactions table to Prefect.

    Call it after the run's transaction committed, with the run's connection still open.
    Returns whether both artifacts were created; never raises.
    """
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    log = _logger()
    flow = flow or getattr(summary, "flow", None) or "daily-refresh"
    try:
        validation = sql.run_validation(con, summary.run_id)
        reactions = sql.new_reactions(con, summary.run_id)
        markdown = summary_markdown(summary, validation, reactions, flow, top)
        create_markdown_artifact(
            markdown, key=f"{flow}-run-summary",
            description=f"Aftershock {flow} run {summary.run_id}: {summary.status}",
        )
        rows = reactions_table(reactions, max_rows)
        note = (f" (largest {max_rows} of {reactions.height} by |AR|)"
                if reactions.height > max_rows else "")
        create_table_artifact(
            rows or [{"event_id": None, "note": "no event's day-0 prices were loaded by this run"}],
            key=f"{flow}-new-reactions",
            description=f"Reactions of events whose day 0 run {summary.run_id} loaded{note}",
        )
    except Exception as exc:  # artifacts are a report, never a reason to fail the run
        log.warning("artifacts: not published: %s: %s", type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "")
        return False
    n_events = reactions["event_id"].n_unique() if reactions.height else 0
    log.info("artifacts: published %s-run-summary and %s-new-reactions (%d new events, "
             "%d reactions)", flow, flow, n_events, reactions.height)
    return True
