"""Operations commands of the `aftershock` CLI: `serve`, `status` and `backfill`.

flows/cli.py registers them (``app.command()(serve)`` …). They only parse options and print;
the work is in flows/serve.py, flows/status.py and flows/backfill.py.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from flows.cli_options import Format, Warehouse, parse_date
from flows.status import DEFAULT_CRON, DEFAULT_TIMEZONE

_Source = Annotated[str, typer.Option(help="yahoo (live), snapshot or demo")]
_SnapshotDir = Annotated[Path | None, typer.Option(help="folder of <TICKER>.csv")]
_Tickers = Annotated[str | None, typer.Option(help="comma-separated subset of the universe")]
_Model = Annotated[str, typer.Option(help="market, market_adjusted or mean_adjusted")]
_Seed = Annotated[int | None, typer.Option(help="demo market seed")]
_Cron = Annotated[str, typer.Option(envvar="AFTERSHOCK_CRON",
                                    help="refresh schedule (cron; default after the US close)")]
_Timezone = Annotated[str, typer.Option(envvar="AFTERSHOCK_TIMEZONE",
                                        help="time zone of --cron (IANA name)")]
_Notify = Annotated[str | None, typer.Option(
    envvar="AFTERSHOCK_NOTIFY_URL", show_envvar=True,
    help="webhook to POST a JSON summary to when a run fails or ends partial (Slack-compatible)",
)]
_TaskRunner = Annotated[str, typer.Option(help="threads, or dask (needs prefect-dask)")]
_DaskAddress = Annotated[str | None, typer.Option(
    help="scheduler of an existing Dask cluster (tcp://host:8786); default: a local cluster")]


def _tickers(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _check_source_and_model(source: str, model: str) -> None:
    from flows.sources import SOURCES
    from flows.stages import check_model
    from sources.base import SourceError

    if source not in SOURCES:
        raise SourceError(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")
    check_model(model)


def serve(
    source: _Source = "yahoo",
    snapshot_dir: _SnapshotDir = None,
    tickers: _Tickers = None,
    model: _Model = "market",
    seed: _Seed = None,
    cron: _Cron = DEFAULT_CRON,
    timezone: _Timezone = DEFAULT_TIMEZONE,
    interval: Annotated[float | None, typer.Option(
        help="run every N seconds instead of --cron (demos and tests)")] = None,
    task_runner: _TaskRunner = "threads",
    dask_address: _DaskAddress = None,
    notify: _Notify = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", metavar="NAME=VALUE",
        help="any other run option for daily-refresh (repeatable), e.g. --option news=false")
    ] = None,
    server_port: Annotated[int, typer.Option(
        help="port of the local Prefect server started when PREFECT_API_URL is unset")] = 4200,
    warehouse: Warehouse = None,
) -> None:
    """Register and serve the `daily-refresh` (scheduled) and `backfill` deployments."""
    from contracts import ContractError
    from flows.cli import err, fail
    from flows.daily_refresh import RunOptions
    from flows.serve import (
        ServerError,
        backfill_defaults_from,
        build_deployments,
        serve_deployments,
    )
    from sources.base import SourceError
    from warehouse.connection import WarehouseError

    try:
        _check_source_and_model(source, model)
        if snapshot_dir is not None and not snapshot_dir.is_dir():
            raise SourceError(f"snapshot folder {snapshot_dir} does not exist")
        options = RunOptions(
            source=source, warehouse=warehouse,
            snapshot_dir=str(snapshot_dir) if snapshot_dir else None,
            tickers=_tickers(tickers), model=model, seed=seed,
        )
        options = _with_options(options, option or [])
        defaults = backfill_defaults_from(options, task_runner=task_runner,
                                          dask_address=dask_address)
        deployments = build_deployments(options, cron=cron, timezone=timezone,
                                        interval=interval, backfill_defaults=defaults)
    except (SourceError, ContractError, WarehouseError) as exc:
        raise fail(str(exc)) from None
    if notify:  # the served runs inherit it; kept out of parameters so the UI never shows it
        os.environ["AFTERSHOCK_NOTIFY_URL"] = notify
    when = f"every {interval:g} s" if interval else f"cron '{cron}' ({timezone})"
    err.print(f"daily-refresh: {when}; backfill: on demand. Parameters: "
              f"source={source}, warehouse={options.warehouse or 'default'}", highlight=False)
    home = Path(os.environ.get("PREFECT_HOME", "data/prefect"))
    try:
        serve_deployments(deployments, server_home=home, server_port=server_port,
                          say=lambda text: err.print(text, highlight=False, soft_wrap=True))
    except ServerError as exc:
        raise fail(str(exc)) from None


def _with_options(options, pairs: list[str]):
    """``RunOptions`` with NAME=VALUE pairs applied (VALUE read as JSON when it parses:
    false, 3, ["a"], else taken as text)."""
    from dataclasses import fields, replace

    from contracts import ContractError

    known = {f.name for f in fields(options)}
    updates = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in known:
            raise ContractError(f"--option {pair!r}: expected NAME=VALUE with NAME one of "
                                f"{', '.join(sorted(known))}")
        try:
            updates[name] = json.loads(text)
        except ValueError:
            updates[name] = text
    return replace(options, **updates)


def status(
    json_output: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
    runs: Annotated[int, typer.Option(help="how many recent runs to list")] = 5,
    cron: _Cron = DEFAULT_CRON,
    timezone: _Timezone = DEFAULT_TIMEZONE,
    grace: Annotated[float, typer.Option(
        help="hours a scheduled run may take before its data counts as late")] = 1.0,
    no_schedule: Annotated[bool, typer.Option(
        "--no-schedule",
        help="expect every session closed more than --grace hours ago (crontab users)")] = False,
    as_of: Annotated[str | None, typer.Option(
        help="judge freshness as of this instant (ISO 8601, UTC if no offset) instead of now")
    ] = None,
    warehouse: Warehouse = None,
) -> None:
    """Freshness per dataset and exchange, the last runs, open quarantine; exit 1 when stale."""
    import polars as pl
    from rich.markup import escape

    from contracts import ContractError
    from flows.cli import fail, out, print_frame
    from flows.status import build_report
    from warehouse.connection import WarehouseError, connect_read_only

    try:
        now = _instant(as_of) if as_of else datetime.now(UTC)
        con = connect_read_only(warehouse)
        try:
            report = build_report(con, now, cron=None if no_schedule else cron,
                                  timezone=timezone, grace=timedelta(hours=grace), runs=runs)
        finally:
            con.close()
    except (ContractError, WarehouseError) as exc:
        raise fail(str(exc)) from None
    if json_output:
        sys.stdout.write(json.dumps(report.to_json(), default=str, indent=1) + "\n")
    else:
        print_frame(report.freshness, Format.table,
                    title=f"Freshness as of {report.as_of:%Y-%m-%d %H:%M %Z} — data due at "
                          f"{report.due:%Y-%m-%d %H:%M %Z}, schedule {report.schedule}")
        if report.news.height:
            print_frame(report.news.with_columns(
                pl.col(c).dt.strftime("%Y-%m-%d %H:%M")
                for c in ("last_ok", "last_attempt", "newest_story")
            ), Format.table, title="News sources")
        if report.runs.height:
            print_frame(report.runs.with_columns(
                pl.col("started_at").dt.strftime("%Y-%m-%d %H:%M:%S"),
                pl.col("finished_at").dt.strftime("%Y-%m-%d %H:%M:%S"),
                pl.col("error").str.slice(0, 60),
            ), Format.table, title="Last runs")
        if report.quarantine.height:
            print_frame(report.quarantine, Format.table, title="Quarantine")
        if report.serving_behind:
            run = report.last_load
            out.print(f"[bold red]serving copy behind[/]: run {escape(run['run_id'])} loaded its "
                      f"data but could not publish ({escape(str(run['error'] or ''))[:120]})",
                      highlight=False)
        if report.stale:
            behind = (report.stale_venues() + report.stale_news()
                      + (["serving"] if report.serving_behind else []))
            out.print(f"[bold red]STALE[/]: {', '.join(behind) if behind else 'nothing loaded'}",
                      highlight=False)
        else:
            out.print("[bold green]fresh[/]: every venue has its expected session and every news "
                      "source was fetched", highlight=False)
    if report.stale:
        raise typer.Exit(code=1)


def _instant(text: str) -> datetime:
    from contracts import ContractError

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ContractError(f"--as-of {text!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def backfill(
    start: Annotated[str, typer.Option(help="first session date (YYYY-MM-DD)")],
    end: Annotated[str, typer.Option(help="last session date (YYYY-MM-DD)")],
    tickers: _Tickers = None,
    source: _Source = "yahoo",
    snapshot_dir: _SnapshotDir = None,
    seed: _Seed = None,
    model: _Model = "market",
    batch_size: Annotated[int, typer.Option(help="tickers per chunk")] = 20,
    chunk_days: Annotated[int, typer.Option(help="days per chunk")] = 365,
    max_concurrent: Annotated[int, typer.Option(
        help="chunks extracting at once (keeps the source from being hammered)")] = 2,
    task_runner: _TaskRunner = "threads",
    dask_address: _DaskAddress = None,
    notify: _Notify = None,
    publish: Annotated[bool, typer.Option(
        help="refresh the serving copy and report afterwards, as a daily run does")] = True,
    warehouse: Warehouse = None,
) -> None:
    """Load history in chunks (ticker batch x date range); rerun to resume."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from contracts import ContractError
    from flows import backfill as bf
    from flows.cli import err, fail, out
    from flows.daily_refresh import RunError
    from flows.prefect_api import PrefectStartupError, flow_api
    from flows.stages import record_unstarted_run
    from sources.base import SourceError
    from warehouse.connection import WarehouseError

    try:
        first, last = parse_date(start, "--start"), parse_date(end, "--end")
        _check_source_and_model(source, model)
    except (SourceError, ContractError) as exc:
        raise fail(str(exc)) from None
    progress = Progress(TextColumn("[bold]backfill[/]"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                        console=err, transient=False, disable=not err.is_terminal)
    bar = progress.add_task("chunks", total=None, note="planning …")

    def on_event(event: dict) -> None:
        if event["event"] == "plan":
            progress.update(bar, total=event["chunks"], completed=event["skipped"],
                            note=f"{event['skipped']} already loaded")
        elif event["event"] == "chunk":
            counts = event["counts"]
            progress.update(bar, advance=1, note=f"{event['chunk']}: "
                            f"+{counts.get('prices.inserted', 0):,} rows")
        elif event["event"] == "done":
            progress.update(bar, note=event["status"])

    bf.PROGRESS_LISTENERS.append(on_event)
    try:
        with flow_api(say=lambda text: err.print(text, highlight=False)), progress:
            summary = bf.backfill(
                start=first, end=last, tickers=_tickers(tickers), source=source,
                warehouse=warehouse, snapshot_dir=str(snapshot_dir) if snapshot_dir else None,
                seed=seed, model=model, batch_size=batch_size, chunk_days=chunk_days,
                max_concurrent=max_concurrent, task_runner=task_runner,
                dask_address=dask_address, notify=notify, publish=publish,
            )
    except PrefectStartupError as exc:
        record_unstarted_run(warehouse, "backfill", source,
                             {"start": str(first), "end": str(last)}, str(exc), notify)
        raise fail(str(exc)) from None
    except (SourceError, ContractError, WarehouseError, RunError) as exc:
        raise fail(str(exc)) from None
    finally:
        bf.PROGRESS_LISTENERS.remove(on_event)
    out.print(
        f"backfill {summary.run_id}: [bold]{summary.status}[/] into {summary.warehouse}: "
        f"{summary.loaded} chunks loaded, {summary.skipped} already there (of {summary.chunks})"
        + ("; " + ", ".join(f"{k}={v}" for k, v in summary.counts.items())
           if summary.counts else ""),
        highlight=False, soft_wrap=True,
    )
    if summary.failed_tickers:
        out.print(f"tickers not fetched: {', '.join(summary.failed_tickers)}", highlight=False,
                  soft_wrap=True)


__all__ = ["backfill", "serve", "status"]
