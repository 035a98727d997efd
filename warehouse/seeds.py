"""Reading the seed files shipped in warehouse/seeds/ (security master, event catalog)."""

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


def _read(path: Path, schema: dict[str, pl.DataType], key: str) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ContractError(f"{path}: unreadable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ContractError(f"{path}: missing column(s) {', '.join(missing)}")
    dupes = frame.filter(pl.col(key).is_duplicated())[key].unique().sort().to_list()
    if dupes:
        raise ContractError(f"{path}: duplicate {key} {', '.join(dupes)}")
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())


def read_universe(path: Path | None = None) -> pl.DataFrame:
    """The security master (universe.csv) in the SECURITIES contract."""
    path = path or seed_path("universe.csv")
    frame = _read(path, SECURITIES, "ticker")
    orphans = frame.filter(~pl.col("benchmark").is_in(frame["ticker"].implode()))
    if orphans.height:
        row = orphans.row(0, named=True)
        raise ContractError(
            f"{path}: {row['ticker']} has benchmark {row['benchmark']!r}, which is not a ticker "
            "in the file"
        )
    return frame


def read_events(path: Path | None = None) -> pl.DataFrame:
    """The event catalog seed (events.csv), strings as written; see transforms.calendar."""
    path = path or seed_path("events.csv")
    frame = _read(path, EVENT_SEED, "event_id")
    bad = frame.filter(pl.col("announced_date").str.to_date("%Y-%m-%d", strict=False).is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise ContractError(
            f"{path}: event {row['event_id']} has announced_date {row['announced_date']!r}, "
            "not YYYY-MM-DD"
        )
    return frame
