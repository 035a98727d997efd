"""The stages every loading flow shares: the daily run, the backfill and the quarantine replay.

One place for each step, so the flows cannot drift apart:

- :func:`prepare_reference` reads the seeds, refuses a bad one (the seed suites), and builds
  every venue's sessions and each event's day 0.
- :func:`stage_batch` extracts, conforms and validates prices, share counts and FX. It touches
  no warehouse: it runs on any task runner (a thread, a Dask worker) and returns a
  :class:`Batch` for the single writer.
- :func:`load_batch` lands a batch: raw versions, core MERGE, quarantine, reference data,
  extract status and validation results (inside the caller's transaction).
- :func:`refresh_derived` rebuilds what is derived from the whole core history: dimensions,
  news (when the run fetched some), event day 0s, the gap report and every mart with its
  checks. A mart that fails its suite raises: the caller's transaction rolls back.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from contracts import CORE_INTRADAY, RAW_ACTIONS, RAW_INTRADAY, ContractError, empty
from expectations.events import seed_refusal, validate_events, validate_universe
from expectations.intraday import validate_intraday
from expectations.marts import raise_on_rejected, validate_marts
from expectations.prices import gap_report, validate_gaps, validate_prices
from expectations.reference import (
    actions_to_core,
    fx_to_core,
    shares_to_core,
    validate_actions,
    validate_fx,
    validate_shares,
)
from expectations.runner import ValidationOutcome
from flows.faults import checkpoint
from flows.news_tasks import FetchedNews, load_news, reaction_inputs, read_detected_events
from flows.sources import make_intraday_source, make_reference_source, make_source
from sources.base import EXTRACT_STATUS, ExtractResult
from sources.reference import SHARE_KINDS
from transforms import calendar, detection, prices
from transforms.benchmarks import resolve_benchmarks
from transforms.event_study import MODELS, EventStudyConfig, models_from
from transforms.intraday import (
    build_intraday_marts,
    intraday_to_core,
    propagation_at_us_open,
)
from transforms.reactions import anchor_day0, build_reaction_marts
from transforms.study_inputs import changed_studies, study_fingerprints
from warehouse import load, seeds

#: Sessions are built from this date (or a backfill's start, if earlier).
SESSIONS_FROM = date(2016, 1, 1)
#: Sessions are built this far past the run's end (event windows reach into the future).
SESSIONS_AHEAD = timedelta(days=45)
#: Share counts are stepwise and reported quarterly: fetch far enough back to have one in force.
SHARES_LOOKBACK_DAYS = 400
FX_LOOKBACK_DAYS = 10
def check_model(model: str) -> None:
    """A one-line error for a normal-return model the engine does not have (checked before a
    run fetches anything, whoever started it: CLI, deployment parameters, API)."""
    if model not in MODELS:
        raise ContractError(
            f"unknown model {model!r}: {', '.join(MODELS[:-1])} or {MODELS[-1]}")


#: No market data source goes back further; an earlier --start is a typo, not a request.
EARLIEST_START = date(1970, 1, 1)


def check_window(start: date | None, end: date | None, today: date) -> None:
    """Refuse a run window that cannot be meant (checked before anything is fetched or
    opened): start after end, a start before 1970, an end after tomorrow (UTC; a session
    in Asia may be dated a day ahead of the US)."""
    if start is not None and start < EARLIEST_START:
        raise ContractError(f"--start {start} is before {EARLIEST_START}: no prices that old")
    if end is not None and end > today + timedelta(days=1):
        raise ContractError(f"--end {end} is in the future (today is {today}, UTC)")
    if start is not None and start > (end or today):
        raise ContractError(f"--start {start} is after --end {end or today}")


def new_run_id() -> str:
    """Sortable and unique: UTC start time plus a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def record_unstarted_run(warehouse: str | None, flow: str, source: str, params: dict,
                         error: str, notify_url: str | None = None) -> str | None:
    """A run that could not start its flow (Prefect's API did not come up) still leaves a
    failed ``audit.etl_run`` row and sends the failure notification. Returns its run id, or
    None when the warehouse itself could not be written (the caller reports that too)."""
    from flows.notify import failed_summary, notify
    from warehouse.connection import WarehouseError, connect

    run_id = new_run_id()
    try:
        con = connect(warehouse)
    except WarehouseError:
        con = None
    if con is not None:
        try:
            load.start_run(con, run_id, flow, source, params)
            load.finish_run(con, run_id, "failed", error)
        finally:
            con.close()
    notify(notify_url, failed_summary(run_id, flow, warehouse, error))
    return run_id if con is not None else None


# --------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class SourceSpec:
    """Which source to read, as plain values: sources hold sessions and HTTP state, so each
    worker builds its own from this rather than receiving one."""

    name: str
    snapshot_dir: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Reference:
    """Seeds, sessions and day 0s: built once per run and shipped to the workers.

    ``checks``: the seed suites' outcomes (recorded with the run; never shipped to workers).
    """

    securities: pl.DataFrame
    events: pl.DataFrame
    sessions: pl.DataFrame
    day0: pl.DataFrame
    checks: tuple[ValidationOutcome, ...] = field(default=(), repr=False)

    def source(self, spec: SourceSpec):
        """The price source."""
        return make_source(
            spec.name, securities=self.securities, sessions=self.sessions, day0=self.day0,
            events=self.events, snapshot_dir=Path(spec.snapshot_dir) if spec.snapshot_dir else None,
            seed=spec.seed,
        )

    def reference_source(self, spec: SourceSpec):
        """The shares-outstanding and FX source (value moved)."""
        return make_reference_source(
            spec.name, securities=self.securities,
            snapshot_dir=Path(spec.snapshot_dir) if spec.snapshot_dir else None, seed=spec.seed,
        )

    def intraday_source(self, spec: SourceSpec):
        """The hourly-bar source twin of the price source."""
        return make_intraday_source(
            spec.name, securities=self.securities, sessions=self.sessions, day0=self.day0,
            events=self.events,
            snapshot_dir=Path(spec.snapshot_dir) if spec.snapshot_dir else None, seed=spec.seed,
        )

    def portable(self) -> Reference:
        """Without the GX results (what a task on another process needs)."""
        return dataclasses.replace(self, checks=())


def prepare_reference(end: date, start: date = SESSIONS_FROM, *,
                      universe_path: Path | None = None,
                      events_path: Path | None = None) -> Reference:
    """Read and check the seeds, then build sessions of every venue and each event's day 0.

    A seed that fails its suite stops the run with one line naming the file, the row and the
    rules it broke (a curated file is fixed, not quarantined). The paths default to the
    shipped seeds.
    """
    universe_path = universe_path or seeds.seed_path("universe.csv")
    events_path = events_path or seeds.seed_path("events.csv")
    universe, catalog = seeds.read_universe(universe_path), seeds.read_events(events_path)
    checks = (validate_universe(universe), validate_events(catalog))
    for check, path in zip(checks, (universe_path, events_path), strict=True):
        refusal = seed_refusal(check, str(path))
        if refusal:
            raise ContractError(refusal)
    events = calendar.events_to_core(catalog)
    sessions = calendar.exchange_sessions(
        universe["exchange_mic"].unique().to_list(), min(start, SESSIONS_FROM), end + SESSIONS_AHEAD
    )
    return Reference(universe, events, sessions, calendar.event_day0(events, sessions), checks)


def select_tickers(requested: list[str] | None, securities: pl.DataFrame, source) -> list[str]:
    """The universe (or the requested subset of it, in universe order), limited to what a
    recording holds."""
    universe = securities["ticker"].to_list()
    if requested:
        unknown = sorted(set(requested) - set(universe))
        if unknown:
            raise ContractError(
                f"unknown ticker(s) {', '.join(unknown)}: not in warehouse/seeds/universe.csv"
            )
        return [t for t in universe if t in set(requested)]
    if hasattr(source, "available"):  # a recording holds only some of the universe
        have = set(source.available())
        return [t for t in universe if t in have]
    return universe


def unlisted_files(securities: pl.DataFrame, source) -> list[str]:
    """What a recording holds for tickers the universe does not list (``ZZZZ``, ``nvda``):
    never loaded, so the run names them instead of ignoring them. A case-only mismatch names
    the ticker it was probably meant for."""
    if not hasattr(source, "available"):
        return []
    universe = securities["ticker"].to_list()
    by_upper = {t.upper(): t for t in universe}
    unlisted = []
    for name in sorted(set(source.available()) - set(universe)):
        meant = by_upper.get(name.upper())
        unlisted.append(f"{name} (did you mean {meant}?)" if meant else name)
    return unlisted


# --------------------------------------------------------------------------- a batch


@dataclass(frozen=True)
class Batch:
    """Extracted, conformed and validated data, ready for :func:`load_batch`.

    ``raw``/``status``: prices as fetched (RAW_PRICES) and one status row per ticker;
    ``outcomes``: the prices, shares, FX and actions suites (good and rejected rows, results);
    ``shares``/``fx``/``actions``: the good rows in their core contracts (corporate actions come
    with the prices, from sources that report them); ``reference_status``: per ticker and
    currency.
    """

    raw: pl.DataFrame
    status: pl.DataFrame
    prices: ValidationOutcome
    shares_check: ValidationOutcome
    fx_check: ValidationOutcome
    shares: pl.DataFrame
    fx: pl.DataFrame
    reference_status: pl.DataFrame
    actions_check: ValidationOutcome
    actions: pl.DataFrame
    intraday_check: ValidationOutcome
    intraday_status: pl.DataFrame

    @property
    def outcomes(self) -> list[ValidationOutcome]:
        return [self.prices, self.shares_check, self.fx_check, self.actions_check,
                self.intraday_check]

    def failed_tickers(self) -> list[str]:
        """A price that did not arrive makes a run partial; for reference data only errors do
        (a recording may simply hold no share counts)."""
        return (self.status.filter(pl.col("status") != "ok")["ticker"].to_list()
                + self.reference_status.filter(pl.col("status") == "error")["ticker"].to_list()
                + self.intraday_status.filter(pl.col("status") == "error")["ticker"].to_list())

    def portable(self) -> Batch:
        """Without GX's own result objects (what a Dask worker sends back)."""
        return dataclasses.replace(
            self, **{name: dataclasses.replace(getattr(self, name), gx_result=None)
                     for name in ("prices", "shares_check", "fx_check", "actions_check",
                                  "intraday_check")}
        )


def _fetch_by_start(source, starts: dict[str, date], end: date, lead_in: timedelta
                    ) -> ExtractResult:
    """One fetch per distinct start: tickers that share a start are fetched together."""
    groups: dict[date, list[str]] = {}
    for ticker, start in starts.items():
        groups.setdefault(start, []).append(ticker)
    results = [source.prices(group, start - lead_in, end)
               for start, group in sorted(groups.items())] or [source.prices([], end, end)]
    actions = [r.actions for r in results if r.actions is not None]
    return ExtractResult(frame=pl.concat([r.frame for r in results]),
                         status=pl.concat([r.status for r in results]),
                         actions=pl.concat(actions) if actions else empty(RAW_ACTIONS))


def _in_batch(frame: pl.DataFrame, starts: pl.DataFrame, day: str = "session_date"
              ) -> pl.Series:
    """True for rows on or after their ticker's start; a ticker nobody asked for is kept (the
    suite judges it), never dropped here."""
    return (
        frame.select("ticker", day)
        .join(starts, on="ticker", how="left", maintain_order="left")
        .select((pl.col(day) >= pl.col("_start")).fill_null(True))
        .to_series()
    )


def stage_batch(source, reference_source, ref: Reference, starts: dict[str, date], end: date,
                *, context: pl.DataFrame | None = None, lead_in_days: int = 0,
                intraday_source=None) -> Batch:
    """Extract, conform and validate prices from each ticker's start to ``end`` (with the
    corporate actions the source reports beside them), and the share counts and FX that value
    them. Touches no warehouse.

    ``context``: loaded prices (ticker, session_date, close, adj_close), the previous session
    of each ticker's first row. ``lead_in_days``: the days before each start are fetched too,
    as context only (never loaded), so a batch does not depend on what was loaded before it.
    """
    extracted = _fetch_by_start(source, starts, end, timedelta(days=lead_in_days))
    start_of = pl.DataFrame({"ticker": list(starts), "_start": list(starts.values())},
                            schema={"ticker": pl.String, "_start": pl.Date})
    raw = extracted.frame.filter(_in_batch(extracted.frame, start_of))
    actions = extracted.actions if extracted.actions is not None else empty(RAW_ACTIONS)
    actions_check = validate_actions(actions.filter(_in_batch(actions, start_of, "ex_date")))

    core = prices.to_core(extracted.frame, ref.securities, ref.sessions)
    inside = _in_batch(core, start_of)
    lead = core.filter(~inside).select("ticker", "session_date", "close", "adj_close")
    if context is not None:
        lead = pl.concat([context.select(lead.columns).cast(lead.schema), lead])
    checked = validate_prices(core.filter(inside), context=lead if lead.height else None)

    tickers = list(starts)
    first = min(starts.values(), default=end)
    wanted = ref.securities.filter(pl.col("ticker").is_in(tickers))
    share_tickers = wanted.filter(pl.col("kind").is_in(SHARE_KINDS))["ticker"].to_list()
    currencies = sorted(set(wanted["currency"]) - {"USD"})
    shares = reference_source.shares(share_tickers, first - timedelta(SHARES_LOOKBACK_DAYS), end)
    fx = reference_source.fx(currencies, first - timedelta(FX_LOOKBACK_DAYS), end)
    shares_check, fx_check = validate_shares(shares.frame), validate_fx(fx.frame)
    hourly = stage_intraday(intraday_source, ref, starts, end)
    return Batch(
        raw=raw, status=extracted.status, prices=checked,
        shares_check=shares_check, fx_check=fx_check,
        shares=shares_to_core(shares_check.good), fx=fx_to_core(fx_check.good),
        reference_status=pl.concat([shares.status, fx.status]),
        actions_check=actions_check, actions=actions_to_core(actions_check.good),
        intraday_check=hourly[0], intraday_status=hourly[1],
    )


def stage_intraday(intraday_source, ref: Reference, starts: dict[str, date], end: date
                   ) -> tuple[ValidationOutcome, pl.DataFrame]:
    """Hourly bars from each ticker's start (one fetch per distinct start), placed in their
    venue sessions and validated: (the suite's outcome, one status row per ticker). Without a
    source, nothing is fetched and nothing is reported."""
    results = []
    if intraday_source is not None:
        groups: dict[date, list[str]] = {}
        for ticker, start in starts.items():
            groups.setdefault(start, []).append(ticker)
        results = [intraday_source.intraday(group, start, end)
                   for start, group in sorted(groups.items())]
    frames = [r.frame for r in results] or [empty(RAW_INTRADAY)]
    status = [r.status for r in results] or [empty(EXTRACT_STATUS)]
    bars = intraday_to_core(pl.concat(frames), ref.securities, ref.sessions)
    return validate_intraday(bars), pl.concat(status)


def load_batch(con: duckdb.DuckDBPyConnection, run_id: str, batch: Batch) -> dict[str, int]:
    """Land raw prices, MERGE good rows into core, quarantine the rest, upsert share counts and
    FX, append extract status and the batch's validation results. Inside the caller's
    transaction. Returns counts keyed ``<dataset>.<stage>``."""
    counts = {
        "prices.extracted": batch.raw.height,
        "prices.raw_landed": load.land_raw_prices(con, batch.raw, run_id),
    }
    checkpoint("after_raw")
    merged = load.upsert_prices(con, batch.prices.good.drop("is_exchange_session"), run_id)
    counts |= {"prices.inserted": merged["inserted"], "prices.updated": merged["updated"]}
    counts["prices.quarantined"] = load.quarantine(
        con, batch.prices.rejected, "prices", ["ticker", "session_date"], run_id
    )
    for name, good, check, key, upsert in (
        ("shares", batch.shares, batch.shares_check, ["ticker", "as_of_date"],
         load.upsert_shares),
        ("fx", batch.fx, batch.fx_check, ["currency", "session_date"], load.upsert_fx),
        ("actions", batch.actions, batch.actions_check, ["ticker", "ex_date", "action"],
         load.upsert_actions),
    ):
        merged = upsert(con, good, run_id)
        counts |= {f"{name}.inserted": merged["inserted"], f"{name}.updated": merged["updated"]}
        counts[f"{name}.quarantined"] = load.quarantine(con, check.rejected, name, key, run_id)
    hourly = batch.intraday_check
    merged = load.upsert_intraday(con, hourly.good.select(*CORE_INTRADAY, "session_date"),
                                  run_id)
    counts |= {"intraday.inserted": merged["inserted"], "intraday.updated": merged["updated"]}
    counts["intraday.quarantined"] = load.quarantine(con, hourly.rejected, "intraday",
                                                     ["ticker", "bar_start_utc"], run_id)
    statuses = pl.concat([batch.status, batch.reference_status, batch.intraday_status])
    load.append(con, "audit.extract_status", statuses.with_columns(run_id=pl.lit(run_id)))
    record_outcomes(con, run_id, batch.outcomes)
    return counts


# --------------------------------------------------------------------------- derived


@dataclass(frozen=True)
class MartInputs:
    """Everything the reaction marts are built from, so a batch of events can be built
    anywhere (this process, or a Dask worker: ``refresh_derived(map_parts=...)``)."""

    history: pl.DataFrame
    securities: pl.DataFrame
    sessions: pl.DataFrame
    day0: pl.DataFrame
    events: pl.DataFrame
    config: EventStudyConfig
    shares: pl.DataFrame
    fx: pl.DataFrame
    attention: pl.DataFrame | None
    models: tuple[str, ...]

    def build(self, events: list[str]) -> dict[str, pl.DataFrame]:
        """The reaction marts of ``events``' studies (the others still confound them)."""
        return build_reaction_marts(
            self.history, self.securities, self.sessions, self.day0, self.events, self.config,
            shares=self.shares, fx=self.fx, attention=self.attention, only_events=events,
            models=self.models)


#: Builds each batch of events' marts (``MartInputs.build``), in order: in-process by default.
MapParts = Callable[[MartInputs, list[list[str]]], list[dict[str, pl.DataFrame]]]


def _in_process(inputs: MartInputs, batches: list[list[str]]) -> list[dict[str, pl.DataFrame]]:
    return [inputs.build([e for batch in batches for e in batch])]


def _batches(events: list[str], parts: int) -> list[list[str]]:
    """``events`` (sorted) in at most ``parts`` contiguous batches of near-equal size, so
    the batches' marts concatenate in event order."""
    size = max(1, -(-len(events) // max(1, parts)))
    return [events[i:i + size] for i in range(0, len(events), size)] or [[]]


def refresh_derived(con: duckdb.DuckDBPyConnection, run_id: str, ref: Reference, model: str,
                    tickers: list[str], news: FetchedNews | None = None, *,
                    rebuild: bool = False, map_parts: MapParts | None = None,
                    parts: int = 1) -> tuple[dict[str, int], list[ValidationOutcome]]:
    """Rebuild dimensions, news (if ``news`` was fetched), day 0s, the gap report of
    ``tickers``, and the marts of every study whose inputs changed since they were built
    (every study when ``rebuild``); record the checks. Inside the caller's transaction.
    Returns (rows per table written, the gap and mart outcomes); ``marts.studies_built`` and
    ``marts.studies_kept`` say how many studies were rebuilt and left as they were.
    ``map_parts`` builds the reaction marts of ``parts`` batches of events (e.g. as tasks on
    a Dask cluster, flows/backfill.py); the studies are independent, so the marts are the
    same however they are split."""
    counts: dict[str, int] = {}
    load.replace_table(con, "core.dim_security", ref.securities)
    load.replace_table(con, "core.dim_event",
                       detection.dim_event_rows(ref.events, read_detected_events(con)))
    load.replace_table(con, "core.dim_session", ref.sessions)
    if news is not None:  # before the marts: news gives the attention anchor
        counts |= load_news(con, run_id, news, securities=ref.securities, events=ref.events,
                            sessions=ref.sessions, day0=ref.day0)
    study = reaction_inputs(con, ref.events, ref.sessions, ref.day0)
    load.replace_table(con, "core.fact_event_day0", study.day0.drop("day0_idx"))
    history = load.read_prices(con)
    gaps = gap_report(history.filter(pl.col("ticker").is_in(tickers)), ref.sessions,
                      ref.securities)
    load.append(con, "audit.gap_report", gaps.with_columns(run_id=pl.lit(run_id)))
    config = EventStudyConfig(model=model)
    models = models_from(model)  # every model side by side, the run's first (default_model)
    shares, fx, intraday = load.read_shares(con), load.read_fx(con), load.read_intraday(con)
    anchored = anchor_day0(study.day0, ref.sessions, study.attention)
    current = study_fingerprints(
        anchored, study.day0, study.events, resolve_benchmarks(ref.securities, history),
        history, ref.sessions, config, shares, fx, intraday, models)
    previous = load.read_fingerprints(con)
    # no fingerprints (a new warehouse, re-created marts, one built before they existed):
    # replace whole tables, so no study is left behind unaccounted for
    rebuild = rebuild or previous.height == 0
    changed, gone = changed_studies(current, previous.clear() if rebuild else previous)
    # an event's anchors are built together (one pass): replace all of its studies
    rebuilt = changed["event_id"].unique().sort().to_list()
    built = current.filter(pl.col("event_id").is_in(rebuilt))
    inputs = MartInputs(history, ref.securities, ref.sessions, study.day0, study.events, config,
                        shares, fx, study.attention, models)
    built_parts = (map_parts or _in_process)(inputs, _batches(rebuilt, parts))
    marts = {table: pl.concat([part[table] for part in built_parts], how="vertical_relaxed")
             for table in built_parts[0]}
    marts |= {f"marts.{name}": frame for name, frame in build_intraday_marts(
        intraday, history, ref.securities, ref.sessions,
        anchored.filter(pl.col("event_id").is_in(rebuilt)),
        study.events.filter(pl.col("event_id").is_in(rebuilt))).items()}
    marts["marts.event_propagation"] = propagation_at_us_open(
        marts["marts.event_propagation"], marts["marts.event_intraday_mark"])
    checks = [validate_gaps(gaps), *validate_marts(marts, config.window)]
    raise_on_rejected(checks[1:])  # a mart failure is a bug: roll the run back
    replaced = pl.concat([built.select(load.STUDY_KEY), gone])
    for table, frame in marts.items():
        counts[table] = (load.replace_table(con, table, frame) if rebuild
                         else load.replace_studies(con, table, frame, replaced))
        checkpoint("during_marts")
    load.write_fingerprints(con, run_id, built, previous if rebuild else gone)
    counts["marts.studies_built"] = built.height
    counts["marts.studies_kept"] = current.height - built.height
    record_outcomes(con, run_id, checks)
    return counts, checks


def record_outcomes(con: duckdb.DuckDBPyConnection, run_id: str,
                    outcomes: list[ValidationOutcome] | tuple[ValidationOutcome, ...]) -> None:
    """Every rule's result of every suite, in audit.validation_result."""
    for checked in outcomes:
        load.append(con, "audit.validation_result",
                    checked.results.with_columns(run_id=pl.lit(run_id)))


def record_counts(con: duckdb.DuckDBPyConnection, run_id: str, counts: dict[str, int]) -> None:
    """Counts as audit.etl_run_count rows: 'prices.inserted' -> (prices, inserted); a table
    name -> (table, built)."""
    rows = []
    for name, n in counts.items():
        if name.startswith(("marts.", "core.")):
            dataset, stage = name, "built"
        else:
            dataset, _, stage = name.rpartition(".")
        rows.append({"run_id": run_id, "dataset": dataset, "stage": stage, "rows": n})
    load.append(con, "audit.etl_run_count", pl.DataFrame(
        rows, schema={"run_id": pl.String, "dataset": pl.String, "stage": pl.String,
                      "rows": pl.Int64}))
