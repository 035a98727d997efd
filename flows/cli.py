"""The `aftershock` command line: run the daily flow, query the warehouse, run ad-hoc studies."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from contracts import ContractError
from flows.cli_options import Format, Warehouse, parse_date
from sources.base import SourceError
from warehouse import status as wh_status
from warehouse.connection import (
    QUERY_TIMEOUT_S,
    WarehouseError,
    connect_read_only,
    resolve,
    stream_user_query,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
err = Console(stderr=True)
out = Console(width=max(shutil.get_terminal_size().columns, 150))



def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def print_frame(frame: pl.DataFrame, fmt: Format, title: str | None = None) -> None:
    """Print a frame as a rich table, CSV or JSON records."""
    if fmt is Format.csv:
        sys.stdout.write(_flat(frame).write_csv())
    elif fmt is Format.json:
        sys.stdout.write(json.dumps(frame.to_dicts(), default=str, indent=1) + "\n")
    else:
        table = Table(title=title, show_lines=False)
        for name in frame.columns:
            table.add_column(name, justify="right" if frame[name].dtype.is_numeric() else "left")
        for row in frame.iter_rows():
            table.add_row(*(Text(_cell(v)) for v in row))  # data is text, never markup
        out.print(table)


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested values (lists, structs, maps, any depth) as their JSON text, one cell each."""
    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    return frame.with_columns(
        pl.when(pl.col(c).is_not_null()).then(
            pl.struct(pl.col(c).alias("v")).struct.json_encode()
            .str.strip_prefix('{"v":').str.strip_suffix("}")).alias(c)
        for c in nested
    )


#: Rows a query prints as a table; the rest are counted, not printed (--format csv/json
#: stream every row).
TABLE_ROWS = 50


def print_stream(chunks: Iterator[pl.DataFrame], fmt: Format) -> None:
    """Print a query's result chunk by chunk: CSV and JSON as they arrive (memory stays one
    chunk), a table with its first ``TABLE_ROWS`` rows and a count of the rest."""
    if fmt is Format.csv:
        for i, chunk in enumerate(chunks):
            sys.stdout.write(_flat(chunk).write_csv(include_header=i == 0))
    elif fmt is Format.json:  # the same JSON array print_frame writes, one chunk at a time
        sys.stdout.write("[")
        wrote = False
        for chunk in chunks:
            if chunk.height:
                body = json.dumps(chunk.to_dicts(), default=str, indent=1)[1:-2]
                sys.stdout.write(("," if wrote else "") + body)
                wrote = True
        sys.stdout.write("\n]\n" if wrote else "]\n")
    else:
        head, total = [], 0
        for chunk in chunks:
            if total < TABLE_ROWS or not head:
                head.append(chunk.head(TABLE_ROWS - total))
            total += chunk.height
        shown = pl.concat(head) if len(head) > 1 else head[0]
        print_frame(shown, Format.table)
        if total > shown.height:
            out.print(f"… {total - shown.height:,} more row(s), {total:,} in all: add a LIMIT, "
                      "or --format csv for every row", highlight=False)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@app.command()
def run(
    source: Annotated[str, typer.Option(help="yahoo (live), snapshot or demo")] = "yahoo",
    snapshot_dir: Annotated[Path | None, typer.Option(help="folder of <TICKER>.csv")] = None,
    start: Annotated[str | None, typer.Option(help="first session date (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option(help="last session date (YYYY-MM-DD)")] = None,
    tickers: Annotated[
        str | None, typer.Option(help="comma-separated subset of the universe")
    ] = None,
    model: Annotated[str, typer.Option(help="market, market_adjusted or mean_adjusted")] = "market",
    seed: Annotated[int | None, typer.Option(help="demo market seed")] = None,
    feeds: Annotated[
        str | None,
        typer.Option(help="feeds file (feeds.toml format, or one URL/path a line) to read "
                     "instead of warehouse/seeds/feeds.toml; replays recorded feeds offline"),
    ] = None,
    news: Annotated[bool, typer.Option(help="pull and load news as well as prices")] = True,
    news_history: Annotated[
        bool, typer.Option(help="search Hacker News around every catalog event (backfill)")
    ] = False,
    publish: Annotated[
        bool, typer.Option(help="publish the serving copy and rebuild the report after the run")
    ] = True,
    notify: Annotated[
        str | None,
        typer.Option(envvar="AFTERSHOCK_NOTIFY_URL",
                     help="webhook (Slack-compatible) to POST a summary of a failed/partial run"),
    ] = None,
    top: Annotated[int, typer.Option(help="reactions to print at the end")] = 12,
    rebuild_marts: Annotated[
        bool, typer.Option(help="rebuild every study's marts, not only those whose inputs "
                           "changed")
    ] = False,
    warehouse: Warehouse = None,
) -> None:
    """Run the daily flow once: extract, validate, load and rebuild the marts of the studies
    whose inputs changed (all of them with --rebuild-marts)."""
    from expectations.marts import MartValidationError
    from flows.daily_refresh import RunError, RunOptions, daily_refresh
    from flows.prefect_api import PrefectStartupError, flow_api
    from flows.stages import check_model, check_window, record_unstarted_run

    try:
        check_model(model)  # refused before Prefect starts a flow (or a temporary server)
        first, last = parse_date(start, "--start"), parse_date(end, "--end")
        check_window(first, last, datetime.now(UTC).date())
        options = RunOptions(
            source=source, warehouse=warehouse,
            snapshot_dir=str(snapshot_dir) if snapshot_dir else None,
            start=first, end=last,
            tickers=[t.strip() for t in tickers.split(",") if t.strip()] if tickers else None,
            model=model, seed=seed, feeds=feeds, news=news, news_history=news_history,
            publish=publish, notify=notify, rebuild_marts=rebuild_marts,
        )
        with flow_api(say=lambda text: err.print(text, highlight=False)):
            summary = daily_refresh(options)
    except PrefectStartupError as exc:
        record_unstarted_run(warehouse, "daily-refresh", source,
                             {k: str(v) for k, v in vars(options).items()}, str(exc), notify)
        raise fail(str(exc)) from None
    except (SourceError, ContractError, WarehouseError, RunError, MartValidationError) as exc:
        raise fail(str(exc)) from None
    out.print(
        f"run {summary.run_id}: [bold]{summary.status}[/] into {summary.warehouse} "
        + ", ".join(f"{k}={v}" for k, v in summary.counts.items()),
        highlight=False,
    )
    if summary.failed_tickers:
        out.print(f"tickers not fetched: {', '.join(summary.failed_tickers)}", highlight=False)
    if summary.docs:
        out.print(f"data docs: {summary.docs}", highlight=False)
    if summary.published:
        out.print(f"serving copy: {summary.published['path']}", highlight=False)
    if summary.report.get("index"):
        out.print(f"report: {summary.report['index']}", highlight=False)
    if top:
        _print_top_reactions(summary.warehouse, top)


def _print_top_reactions(target: str, top: int) -> None:
    con = connect_read_only(target)
    try:
        frame = wh_status.top_reactions(con, top)
    finally:
        con.close()
    print_frame(frame, Format.table, title="Largest day-0 abnormal returns, 3 most recent events")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL to run (read-only)")],
    format: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
    timeout: Annotated[float, typer.Option(
        envvar="AFTERSHOCK_QUERY_TIMEOUT", min=0,
        help="seconds before the query is stopped (0: no limit)")] = QUERY_TIMEOUT_S,
    etl: Annotated[bool, typer.Option(
        "--etl", help="read the ETL's own warehouse file (raw.*, every audit run) instead of "
                      "the published serving copy; while it runs the daily run waits for it")
    ] = False,
    warehouse: Warehouse = None,
) -> None:
    """Run read-only SQL on the serving copy (or, with --etl, the warehouse) and print it.

    The serving copy is what the last run published (marts, core, that run's audit record):
    a query there never holds the file the schedule writes."""
    from warehouse.publish import serving_file_for

    target = resolve(warehouse) if etl else str(serving_file_for(warehouse))
    if not etl and not Path(target).exists():
        raise fail(f"no serving copy at {target}: the daily run publishes it (`aftershock run`),"
                   " or read the ETL's warehouse itself with --etl")
    try:
        con = connect_read_only(target)
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    try:
        print_stream(stream_user_query(con, sql, timeout or None), format)
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    finally:
        con.close()


from flows.event_cmd import event  # noqa: E402  (commands register on `app`)
from flows.eventstudy_cmd import eventstudy  # noqa: E402
from flows.ops_cmds import backfill, serve, status  # noqa: E402
from flows.quarantine_cmd import quarantine_app  # noqa: E402
from flows.sentiment_cmd import sentiment  # noqa: E402
from flows.serving_cmds import docs, report  # noqa: E402

app.command()(event)
app.command()(eventstudy)
app.command()(sentiment)
app.command()(serve)
app.command()(status)
app.command()(backfill)
app.add_typer(quarantine_app, name="quarantine")
app.command()(docs)
app.command()(report)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point: quiet, self-contained Prefect settings unless the user set their own."""
    prefect_defaults()
    import duckdb

    try:
        app()
    except (duckdb.IOException, duckdb.TransactionException) as exc:  # a damaged file or a
        # full disk, met deep inside a command (other DuckDB errors are bugs: traceback)
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SystemExit(fail(
            f"the warehouse could not be read or written ({type(exc).__name__}: {cause}); "
            "the file may be damaged (restore it, or rebuild it with `aftershock backfill`) "
            "or its disk is full").exit_code) from None


def prefect_defaults() -> None:
    """Give Prefect's temporary server its own home under data/ and no telemetry."""
    os.environ.setdefault("PREFECT_HOME", str(Path("data/prefect").resolve()))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # a flow started outside `flow_api` (tests, notebooks) gets Prefect's own temporary
    # server: give it the same measured startup budget
    from flows.prefect_api import STARTUP_TIMEOUT_S, TIMEOUT_ENV

    os.environ.setdefault(TIMEOUT_ENV, f"{STARTUP_TIMEOUT_S:g}")


__all__ = ["app", "resolve"]
