"""`aftershock docs` and `aftershock report`: the data dictionary and the HTML report.

Registered in flows/cli.py with ``app.command()(docs)`` and ``app.command()(report)``. Both
read only: `docs` a fresh in-memory schema (or --warehouse), `report` the published serving
copy, never the ETL's writable warehouse. ``flows.cli`` is imported inside the functions only
(cli.py imports this module), so either module can be imported first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: As flows.cli.Warehouse (not imported from there: cli.py imports this module).
Warehouse = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        envvar="AFTERSHOCK_WAREHOUSE",
        help="DuckDB warehouse path; the serving copy is serving/aftershock.duckdb beside it "
        "[default: data/aftershock.duckdb]",
    ),
]


def docs(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="where to write the Markdown")
    ] = Path("docs/data-dictionary.md"),
    warehouse: Annotated[
        str | None,
        typer.Option(
            "--warehouse",
            help="read the comments from this warehouse or serving copy "
            "[default: this version's schema, built in memory]",
        ),
    ] = None,
) -> None:
    """Write the data dictionary (docs/data-dictionary.md) from the marts' COMMENTs."""
    from flows.cli import fail, out
    from warehouse import dictionary
    from warehouse.connection import WarehouseError, connect_read_only

    try:
        if warehouse:
            con = connect_read_only(warehouse)
            try:
                text = dictionary.markdown(con)
            finally:
                con.close()
        else:
            text = dictionary.schema_markdown()
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    out.print(f"wrote {output} ({text.count(chr(10) + '### ')} tables)", highlight=False)


def report(
    event: Annotated[
        str | None, typer.Option("--event", help="build only this event's page (event_id)")
    ] = None,
    serving: Annotated[
        Path | None,
        typer.Option(help="serving copy to read [default: serving/aftershock.duckdb beside "
                     "the warehouse, i.e. data/serving/aftershock.duckdb]"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="report folder [default: data/reports]"),
    ] = None,
    screenshot: Annotated[
        Path | None,
        typer.Option(help="also save a PNG of the page's top 2200 px (headless Chromium), "
                     "e.g. docs/report-screenshot.png"),
    ] = None,
    warehouse: Warehouse = None,
) -> None:
    """Write the HTML report (data/reports/index.html and one page per event) from the
    serving copy; it opens offline."""
    from flows.cli import fail, out
    from report.build import ReportError, build_report, reports_dir_for
    from warehouse.connection import WarehouseError
    from warehouse.publish import serving_file_for

    source = serving or serving_file_for(warehouse)
    target = output or reports_dir_for(source)
    try:
        result = build_report(source, target, event_id=event)
    except (ReportError, WarehouseError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write the report to {target}: {exc.strerror}") from None
    page = Path(result["pages"][0] if event else result["index"])
    out.print(
        f"report of run {result['run_id']}: {len(result['pages'])} page(s) in "
        f"{result['out_dir']}; open {page}",
        highlight=False,
    )
    if screenshot:
        from report.browser import BrowserError, load_page

        try:
            shown = load_page(page.resolve().as_uri(), width=1280, height=900,
                              max_height=2200)
        except BrowserError as exc:
            raise fail(f"cannot take the screenshot: {exc}") from None
        if shown.errors:
            raise fail(f"{page} shows errors in the browser: {'; '.join(shown.errors)}")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(shown.screenshot)
        out.print(f"wrote {screenshot}", highlight=False)
