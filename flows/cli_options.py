"""Options and argument parsing every `aftershock` command shares.

Its own module because the command modules (ops_cmds, quarantine_cmd, serving_cmds) are
imported by flows/cli.py, so they cannot import these from there.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

import typer

from contracts import ContractError


class Format(StrEnum):
    """How a command prints a frame (flows.cli.print_frame)."""

    table = "table"
    csv = "csv"
    json = "json"


class InputError(ValueError):
    """Bad input for a command; the message is one line naming the culprit."""


Warehouse = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        envvar="AFTERSHOCK_WAREHOUSE",
        help="DuckDB warehouse path or connection string [default: data/aftershock.duckdb]",
    ),
]


def parse_date(text: str | None, flag: str) -> date | None:
    """A YYYY-MM-DD option value, or a one-line error naming the flag."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ContractError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None
