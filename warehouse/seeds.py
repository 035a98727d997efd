"""Reading the seed files shipped in warehouse/seeds/ (security master, event catalog).

Readers only read: a file that is not a CSV or lacks a column is refused here (nothing could
judge it), every other rule (duplicate keys, unknown benchmarks, dates, venues, countries) is
the seed suites' (``expectations.events``), which ``flows.stages.prepare_reference`` runs before
anything uses a seed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl

from contracts import SECURITIES, ContractError

EVENT_SEED: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "name": pl.String(),
    "lab": pl.String(),
    "kind": pl.String(),
    "announced_date": pl.String(),
    "announced_time_utc": pl.String(),
    "open_weights": pl.String(),
    "lab_country": pl.String(),
    "source_url": pl.String(),
}


def seed_path(name: str) -> Path:
    """Path of a shipped seed file."""
    return Path(str(resources.files("warehouse").joinpath("seeds", name)))


def _read(path: Path, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ContractError(f"{path}: unreadable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ContractError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())


def read_universe(path: Path | None = None) -> pl.DataFrame:
    """The security master (universe.csv) in the SECURITIES contract (all strings)."""
    return _read(path or seed_path("universe.csv"), SECURITIES)


def read_events(path: Path | None = None) -> pl.DataFrame:
    """The event catalog seed (events.csv), strings as written; see transforms.calendar."""
    return _read(path or seed_path("events.csv"), EVENT_SEED)
