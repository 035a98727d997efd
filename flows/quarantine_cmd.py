"""`aftershock quarantine`: list quarantined rows with their reasons, and replay them.

``aftershock quarantine [--dataset D] [--run R] [--all]`` (same as ``quarantine list``) prints
the open quarantined rows, newest first. ``aftershock quarantine replay [--dataset D]``
re-validates the open rows with the CURRENT suites (after a rule, calendar or seed fix) and
loads those that now pass through the same loaders as a run (``warehouse.load.upsert_*``),
all in one transaction, under its own ``audit.etl_run`` row (flow ``quarantine-replay``):

* per key only the newest quarantined version is a candidate (a row re-fetched and
  re-quarantined every day is one candidate, not ten duplicates of itself);
* a candidate that passes is loaded and resolved ``replayed``; older open copies of its key
  are resolved ``superseded``;
* a candidate that passes but whose key core already holds from a run that started *after*
  the quarantining run is not loaded (it would overwrite newer data): ``superseded``;
* a candidate that still fails stays open (its current reasons are printed);
* NaN and infinity come back as they were stored (``warehouse.load.row_json`` keeps them
  beside the JSON nulls); a row quarantined for ``value_not_finite`` before that existed has
  lost them and stays open, counted ``not_replayable``.

Prices are re-conformed with the current seeds and exchange calendars (``is_exchange_session``
and ``currency`` are recomputed), so a calendar or security-master fix is picked up. When a
row was replayed, the marts are rebuilt in the same transaction by the runs' own step
(``flows.stages.refresh_derived``, with the model of the last run that built them), so the
warehouse never holds replayed prices next to marts that ignore them.

The lead registers the sub-app: ``app.add_typer(quarantine_app, name="quarantine")``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated

import duckdb
import polars as pl
import typer

from flows.cli_options import Format, Warehouse

__all__ = [
    "DATASETS",
    "ReplaySummary",
    "quarantine_app",
    "replay_quarantine",
]

FLOW = "quarantine-replay"


_Dataset = Annotated[
    str | None, typer.Option("--dataset", help="only this dataset (prices, shares, fx, ...)")
]
_Run = Annotated[str | None, typer.Option("--run", help="only rows quarantined by this run_id")]
_All = Annotated[bool, typer.Option("--all", help="include rows already resolved by a replay")]
_Fmt = Annotated[Format, typer.Option("--format", help="table, csv or json")]
_Rows = Annotated[bool, typer.Option("--rows", help="also print each row's values (row_json)")]

quarantine_app = typer.Typer(
    add_completion=False,
    help="List quarantined rows with their reasons (default), or replay them after a fix.",
)


# -- replay -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """How one quarantined dataset is rebuilt, judged and loaded."""

    key: list[str]
    core_table: str
    #: columns (and dtypes) read back from row_json
    schema: dict[str, pl.DataType]
    #: stored reasons whose rows cannot be replayed faithfully
    not_replayable: frozenset[str] = frozenset()


def _decode(rows: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """qid, row_key, _stamp and the stored row's columns, non-finite floats restored."""
    from warehouse.load import NON_FINITE_KEY

    floats = [c for c, t in schema.items() if t.is_float()]
    kept = pl.Struct({c: pl.String() for c in floats})
    full = pl.Struct({**schema, NON_FINITE_KEY: kept}) if floats else pl.Struct(schema)
    decoded = rows.select(
        "qid", "row_key", "_stamp", pl.col("row_json").str.json_decode(full).alias("_row"),
    ).unnest("_row")
    if not floats:
        return decoded
    return decoded.with_columns(
        pl.coalesce(pl.col(NON_FINITE_KEY).struct.field(c).cast(pl.Float64), pl.col(c))
        .cast(schema[c]).alias(c)
        for c in floats
    ).drop(NON_FINITE_KEY)


def _price_schema() -> dict[str, pl.DataType]:
    """The suite's input without the calendar flag (re-derived): a row stored before prices
    kept ``unparsed`` decodes it as null."""
    from expectations.prices import PRICES_COLUMNS

    return {c: t for c, t in PRICES_COLUMNS.items() if c != "is_exchange_session"}


def _shares_schema() -> dict[str, pl.DataType]:
    from sources.reference import RAW_SHARES

    return {k: v for k, v in RAW_SHARES.items() if k != "fetched_at"}


def _fx_schema() -> dict[str, pl.DataType]:
    from sources.reference import RAW_FX

    return {k: v for k, v in RAW_FX.items() if k != "fetched_at"}


#: Datasets a replay knows; others (e.g. news) are listed but not replayed.
DATASETS: dict[str, Callable[[], DatasetSpec]] = {
    "prices": lambda: DatasetSpec(
        ["ticker", "session_date"], "core.fact_price_daily", _price_schema(),
        frozenset({"value_not_finite"}),  # only rows stored before NaN was kept
    ),
    "shares": lambda: DatasetSpec(
        ["ticker", "as_of_date"], "core.fact_shares_outstanding", _shares_schema()
    ),
    "fx": lambda: DatasetSpec(["currency", "session_date"], "core.fact_fx_daily", _fx_schema()),
}


@dataclass
class ReplaySummary:
    """What a replay did: its run and, per dataset, how many rows went where."""

    run_id: str
    status: str = "running"
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    still_rejected: pl.DataFrame | None = None  # dataset, row_key, reasons (current suite)
    marts_rebuilt: bool = False


def replay_quarantine(
    warehouse: str | None = None,
    datasets: Sequence[str] | None = None,
    *,
    rebuild_marts: Callable[[duckdb.DuckDBPyConnection, str], object] | None = None,
    today: date | None = None,
) -> ReplaySummary:
    """Re-validate open quarantined rows with the current suites and load those that pass.

    ``datasets``: default every dataset in :data:`DATASETS`; an unknown name is a
    ``ContractError``. ``rebuild_marts(con, run_id)`` runs inside the transaction after the
    loads when a row was replayed (default: :func:`rebuild_derived`; tests pass their own).
    The whole replay commits or rolls back as one; its audit.etl_run row says
    ``success`` or ``failed`` and why.
    """
    from contracts import ContractError
    from warehouse import load
    from warehouse.connection import connect
    from warehouse.quarantine import has_resolution

    names = list(datasets) if datasets else list(DATASETS)
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ContractError(
            f"cannot replay dataset(s) {', '.join(unknown)}: replay knows "
            f"{', '.join(DATASETS)}"
        )
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    summary = ReplaySummary(run_id=run_id)
    con = connect(warehouse)
    try:
        if not has_resolution(con):  # connect() migrates; this guards a foreign schema
            raise ContractError("audit.quarantine has no resolution columns (migration 0003)")
        load.start_run(con, run_id, FLOW, "quarantine", {"datasets": names})
        try:
            still = []
            with load.transaction(con):
                context = _Context(con, today or datetime.now(UTC).date())
                for name in names:
                    counts, rejected = _replay_dataset(con, name, DATASETS[name](), run_id,
                                                       context)
                    summary.counts[name] = counts
                    still.append(rejected)
                if any(
                    c["replayed"] for c in summary.counts.values()
                ):
                    (rebuild_marts or rebuild_derived(context))(con, run_id)
                    summary.marts_rebuilt = True
                load.append(con, "audit.etl_run_count", _count_rows(run_id, summary.counts))
            summary.still_rejected = pl.concat(still)
            summary.status = "success"
            load.finish_run(con, run_id, "success")
        except BaseException as exc:
            load.finish_run(con, run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
    finally:
        con.close()
    return summary


def rebuild_derived(context: _Context) -> Callable[[duckdb.DuckDBPyConnection, str], object]:
    """The runs' derived step (dimensions, gap report, every mart and its checks) for the
    whole universe, with the model of the last run that built the marts."""

    def rebuild(con: duckdb.DuckDBPyConnection, run_id: str) -> object:
        from flows.stages import refresh_derived
        from warehouse.status import last_model

        ref = context.reference
        return refresh_derived(con, run_id, ref, last_model(con),
                               ref.securities["ticker"].to_list())

    return rebuild


class _Context:
    """Inputs shared by the datasets of one replay, built once when first needed: the checked
    seeds and sessions of every venue (``flows.stages.prepare_reference``, as a run builds
    them)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, today: date) -> None:
        self.con, self.today = con, today
        self._reference = None

    @property
    def reference(self):
        if self._reference is None:
            from flows.stages import prepare_reference

            self._reference = prepare_reference(self.today)
        return self._reference

    @property
    def securities(self) -> pl.DataFrame:
        return self.reference.securities

    @property
    def sessions(self) -> pl.DataFrame:
        return self.reference.sessions


_POS = "_replay_pos"
_REJECTED_SCHEMA = {"dataset": pl.String, "row_key": pl.String, "reasons": pl.String}


def _replay_dataset(
    con: duckdb.DuckDBPyConnection, name: str, spec: DatasetSpec, run_id: str, ctx: _Context
) -> tuple[dict[str, int], pl.DataFrame]:
    from warehouse import load
    from warehouse.quarantine import core_runs, open_rows, resolve

    counts = dict.fromkeys(("open", "candidates", "replayed", "superseded", "still_rejected",
                            "not_replayable", "inserted", "updated"), 0)
    rows = open_rows(con, name)
    counts["open"] = rows.height
    if rows.height == 0:
        return counts, pl.DataFrame(schema=_REJECTED_SCHEMA)

    stamp = pl.coalesce("run_started_at", "quarantined_at")
    rows = rows.with_columns(_stamp=stamp)
    newest = rows.filter(pl.col("_stamp") == pl.col("_stamp").max().over("row_key"))
    blocked = (
        pl.col("reasons").list.set_intersection(list(spec.not_replayable)).list.len() > 0
    ) & ~pl.col("row_json").str.contains(f'"{load.NON_FINITE_KEY}":', literal=True)
    if spec.not_replayable:
        counts["not_replayable"] = newest.filter(blocked).height
        newest = newest.filter(~blocked)
    counts["candidates"] = newest.height
    if newest.height == 0:
        return counts, pl.DataFrame(schema=_REJECTED_SCHEMA)

    decoded = _decode(newest, spec.schema).with_row_index(_POS)
    ids = decoded.select(_POS, "qid", "row_key", "_stamp")
    outcome = _validate(name, decoded.drop("qid", "row_key", "_stamp"), ctx)
    load.append(con, "audit.validation_result", outcome.results.with_columns(run_id=pl.lit(run_id)))

    bad = outcome.rejected.select(_POS, reasons=pl.col("reasons").list.join(", ")).join(
        ids, on=_POS, how="left"
    )
    counts["still_rejected"] = bad.height

    # a passing row whose key core holds from a later run is older than what is loaded
    good = outcome.good.join(ids.select(_POS, "qid", "_stamp"), on=_POS, how="left")
    in_core = core_runs(con, spec.core_table, spec.key, good)
    judged = good.join(in_core, on=spec.key, how="left", nulls_equal=False)
    newer = (pl.col("core_run_started_at") > pl.col("_stamp")).fill_null(False)
    loadable = judged.filter(~newer)
    superseded_by_core = judged.filter(newer)["qid"].to_list()

    merged = _load(con, name, _for_loader(name, loadable), run_id)
    counts["inserted"], counts["updated"] = merged["inserted"], merged["updated"]
    counts["replayed"] = resolve(con, loadable["qid"].to_list(), run_id, "replayed")

    # older open copies of a replayed key are superseded too
    replayed = ids.filter(pl.col("qid").is_in(loadable["qid"].implode()))
    older = rows.filter(
        pl.col("row_key").is_in(replayed["row_key"].implode())
        & ~pl.col("qid").is_in(replayed["qid"].implode())
    )["qid"].to_list()
    superseded = sorted(set(superseded_by_core) | set(older))
    counts["superseded"] = resolve(con, superseded, run_id, "superseded")
    rejected = bad.sort(_POS).select(dataset=pl.lit(name), row_key="row_key", reasons="reasons")
    return counts, rejected.cast(_REJECTED_SCHEMA)


def _validate(name: str, frame: pl.DataFrame, ctx: _Context):
    """One dataset's rows judged by its current suite (``_POS`` passes through)."""
    if name == "prices":
        from expectations.prices import validate_prices
        from warehouse import load

        core = _conform_prices(frame, ctx.securities, ctx.sessions)
        return validate_prices(core, context=load.read_prices(ctx.con))
    from expectations import reference

    if name == "shares":
        return reference.validate_shares(frame)
    return reference.validate_fx(frame)


def _conform_prices(
    frame: pl.DataFrame, securities: pl.DataFrame, sessions: pl.DataFrame
) -> pl.DataFrame:
    """Re-derive ``currency`` and ``is_exchange_session`` from the current seeds and
    calendars, as ``transforms.prices.to_core`` does, keeping row order and ``_POS``."""
    venue = securities.select("ticker", "currency", "exchange_mic")
    marked = (
        frame.drop("currency")
        .join(venue, on="ticker", how="left", maintain_order="left")
        .join(
            sessions.select("exchange_mic", "session_date", _session=pl.lit(True)),
            on=["exchange_mic", "session_date"],
            how="left",
            maintain_order="left",
        )
        .with_columns(is_exchange_session=pl.col("_session").fill_null(False))
    )
    return marked.select(
        *(pl.col(c).cast(t) for c, t in _price_schema().items()), "is_exchange_session", _POS
    )


def _for_loader(name: str, good: pl.DataFrame) -> pl.DataFrame:
    """Validated good rows in the shape the dataset's upsert takes."""
    if name == "prices":
        from warehouse.load import PRICE_VALUES

        return good.select("ticker", "session_date", *PRICE_VALUES)
    from expectations import reference

    return (reference.shares_to_core if name == "shares" else reference.fx_to_core)(good)


def _load(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, run_id: str) -> dict:
    from warehouse import load

    if frame.height == 0:
        return {"inserted": 0, "updated": 0}
    upsert = {"prices": load.upsert_prices, "shares": load.upsert_shares, "fx": load.upsert_fx}
    return upsert[name](con, frame, run_id)


def _count_rows(run_id: str, counts: dict[str, dict[str, int]]) -> pl.DataFrame:
    rows = [
        {"run_id": run_id, "dataset": f"quarantine.{name}", "stage": stage, "rows": n}
        for name, stages in counts.items()
        for stage, n in stages.items()
    ]
    return pl.DataFrame(rows, schema={"run_id": pl.String, "dataset": pl.String,
                                      "stage": pl.String, "rows": pl.Int64})


# -- commands ---------------------------------------------------------------------------


def _list(dataset: str | None, run: str | None, include_resolved: bool, fmt: Format,
          rows: bool, warehouse: str | None) -> None:
    from flows.cli import fail, print_frame
    from warehouse.connection import WarehouseError, connect_read_only
    from warehouse.quarantine import list_quarantine

    try:
        con = connect_read_only(warehouse)
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    try:
        frame = list_quarantine(con, dataset, run, include_resolved=include_resolved)
    except duckdb.Error as exc:
        raise fail(f"cannot read audit.quarantine: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    if not rows:
        frame = frame.drop("row_json")
    print_frame(frame, fmt, title=f"{frame.height} quarantined row(s)")


@quarantine_app.callback(invoke_without_command=True)
def quarantine(
    ctx: typer.Context,
    dataset: _Dataset = None,
    run: _Run = None,
    all_: _All = False,
    format: _Fmt = Format.table,
    rows: _Rows = False,
    warehouse: Warehouse = None,
) -> None:
    """List quarantined rows with their reasons (the default), or `replay` them after a fix."""
    if ctx.invoked_subcommand is None:
        _list(dataset, run, all_, format, rows, warehouse)


@quarantine_app.command("list")
def list_command(
    dataset: _Dataset = None,
    run: _Run = None,
    all_: _All = False,
    format: _Fmt = Format.table,
    rows: _Rows = False,
    warehouse: Warehouse = None,
) -> None:
    """List quarantined rows (open ones unless --all), newest first, with their reasons."""
    _list(dataset, run, all_, format, rows, warehouse)


@quarantine_app.command("replay")
def replay_command(
    dataset: _Dataset = None,
    format: _Fmt = Format.table,
    warehouse: Warehouse = None,
) -> None:
    """Re-validate open quarantined rows with the current suites; load those that now pass."""
    from contracts import ContractError
    from flows.cli import fail, out, print_frame
    from warehouse.connection import WarehouseError

    try:
        summary = replay_quarantine(warehouse, [dataset] if dataset else None)
    except (ContractError, WarehouseError) as exc:
        raise fail(str(exc)) from None
    if format is not Format.table:
        payload = {
            "run_id": summary.run_id,
            "status": summary.status,
            "counts": summary.counts,
            "still_rejected": summary.still_rejected.to_dicts(),
        }
        typer.echo(json.dumps(payload, default=str, indent=1) if format is Format.json
                   else summary.still_rejected.write_csv(), nl=False)
        return
    out.print(f"replay {summary.run_id}: [bold]{summary.status}[/]", highlight=False)
    for name, counts in summary.counts.items():
        out.print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()),
                  highlight=False)
    if summary.still_rejected is not None and summary.still_rejected.height:
        print_frame(summary.still_rejected, Format.table, title="still rejected (left open)")
    if summary.marts_rebuilt:
        out.print("marts rebuilt with the replayed rows", highlight=False)
