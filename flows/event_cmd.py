"""`aftershock event ID`: one event's page in the terminal, as an analyst asks it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from flows.cli_options import Format, Warehouse

#: Securities and headlines shown (the rest are a query away).
TOP_SECURITIES = 25
TOP_HEADLINES = 8
_PERCENT = ("at_us_open", "ret_day0", "ar_day0", "bench_ret", "low")


def _readable(frame: pl.DataFrame) -> pl.DataFrame:
    """Returns in percent and dollars in billions, rounded for a 100-column terminal."""
    return frame.with_columns(
        *(pl.col(c).mul(100).round(2) for c in _PERCENT if c in frame.columns),
        *(pl.col(c).truediv(1e9).round(1).alias("usd_bn") for c in ("usd_moved",)
          if c in frame.columns),
        *(pl.col(c).round(2) for c in ("t",) if c in frame.columns),
    ).drop("usd_moved", strict=False)


def event(
    event_id: Annotated[str, typer.Argument(help="event id (core.dim_event.event_id)")],
    anchor: Annotated[str, typer.Option(help="announcement or attention")] = "announcement",
    format: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
    warehouse: Warehouse = None,
) -> None:
    """One event: its anchors, then each venue in the order markets could react (move before
    the US open, close to close, limit hits, USD value moved), the securities that moved most
    and the top headlines. Percent returns; USD in billions. --format json prints the whole
    page as one document, --format csv the securities."""
    from flows.cli import fail, out, print_frame
    from warehouse import event_page
    from warehouse.connection import WarehouseError, connect_read_only
    from warehouse.publish import serving_file_for

    target = str(serving_file_for(warehouse))
    if not Path(target).exists():
        raise fail(f"no serving copy at {target}: the daily run publishes it (`aftershock run`)")
    if anchor not in ("announcement", "attention"):
        raise fail(f"--anchor {anchor!r}: announcement or attention")
    try:
        con = connect_read_only(target)
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    try:
        header = event_page.event_header(con, event_id)
        if header.height == 0:
            known = event_page.known_events(con)
            near = [e for e in known if event_id.lower() in e][:5]
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise fail(f"unknown event {event_id!r}{hint}")
        parts = [
            ("Event", header),
            (f"Venues in the order they could react ({anchor} day 0; % from the previous "
             "close)", _readable(event_page.event_venues(con, event_id, anchor))),
            (f"Securities that moved most (top {TOP_SECURITIES} by |AR|, %)",
             _readable(event_page.event_securities(con, event_id, anchor, TOP_SECURITIES))),
            ("Top headlines", event_page.event_headlines(con, event_id, TOP_HEADLINES)),
        ]
    finally:
        con.close()
    if format is Format.json:  # one document: {event, venues, securities, headlines}
        doc = {key: frame.to_dicts() for key, (_, frame) in
               zip(("event", "venues", "securities", "headlines"), parts, strict=True)}
        sys.stdout.write(json.dumps(doc, default=str, indent=1) + "\n")
        return
    if format is Format.csv:  # the securities, the table one pipes on
        print_frame(parts[2][1], format)
        return
    row = header.row(0, named=True)
    out.print(f"[bold]{row['name']}[/] ({row['event_id']}) · {row['lab']} · {row['kind']}",
              highlight=False)
    out.print(f"announced {row['announced_at']} ({row['announced_precision']}); attention day "
              f"{row['attention_date'] or '—'}"
              + (f" ({row['attention_stories']} stories, {row['attention_publishers']} "
                 f"publishers, burst {row['attention_burst']}x)" if row["attention_date"]
                 else f" (none: {row['attention_reason'] or 'no news loaded'})"),
              highlight=False)
    for title, frame in parts[1:]:
        if frame.height:
            print_frame(frame, format, title=title)
        else:
            out.print(f"{title}: none loaded", highlight=False)
