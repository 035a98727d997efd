"""Choosing a price source from configuration (the pipeline never knows which one it has)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sources.base import PriceSource, SourceError

SOURCES = ("yahoo", "snapshot", "demo")


def make_source(
    name: str,
    *,
    securities: pl.DataFrame,
    sessions: pl.DataFrame,
    day0: pl.DataFrame,
    events: pl.DataFrame,
    snapshot_dir: Path | None = None,
    seed: int | None = None,
) -> PriceSource:
    """Build the named source; an unknown name or missing folder is a one-line SourceError."""
    if name == "yahoo":
        from sources.yahoo import YahooSource

        return YahooSource()
    if name == "snapshot":
        from sources.snapshot import SnapshotSource

        return SnapshotSource(_snapshot_dir(snapshot_dir))
    if name == "demo":
        from sources.demo import DemoSource

        kwargs = {"seed": seed} if seed is not None else {}
        return DemoSource(securities, sessions, day0, events, **kwargs)
    raise SourceError(f"unknown source {name!r}: choose one of {', '.join(SOURCES)}")


def make_reference_source(
    name: str,
    *,
    securities: pl.DataFrame,
    snapshot_dir: Path | None = None,
    seed: int | None = None,
):
    """The shares-outstanding and FX source twin of the price source ``name``."""
    if name == "yahoo":
        from sources.yahoo_reference import YahooReferenceSource

        return YahooReferenceSource()
    if name == "snapshot":
        from sources.snapshot_reference import SnapshotReferenceSource

        return SnapshotReferenceSource(_snapshot_dir(snapshot_dir))
    if name == "demo":
        from sources.demo_reference import DemoReferenceSource

        kwargs = {"seed": seed} if seed is not None else {}
        return DemoReferenceSource(securities, **kwargs)
    raise SourceError(f"unknown source {name!r}: choose one of {', '.join(SOURCES)}")


def make_intraday_source(
    name: str,
    *,
    securities: pl.DataFrame,
    sessions: pl.DataFrame,
    day0: pl.DataFrame,
    events: pl.DataFrame,
    snapshot_dir: Path | None = None,
    seed: int | None = None,
):
    """The hourly-bar source twin of the price source ``name`` (``sources.intraday``)."""
    if name == "yahoo":
        from sources.yahoo_intraday import YahooIntradaySource

        return YahooIntradaySource()
    if name == "snapshot":
        from sources.intraday import SnapshotIntradaySource

        return SnapshotIntradaySource(_snapshot_dir(snapshot_dir))
    if name == "demo":
        from sources.demo_intraday import DemoIntradaySource

        daily = make_source(name, securities=securities, sessions=sessions, day0=day0,
                            events=events, seed=seed)
        kwargs = {"seed": seed} if seed is not None else {}
        return DemoIntradaySource(daily, securities, sessions, day0, **kwargs)
    raise SourceError(f"unknown source {name!r}: choose one of {', '.join(SOURCES)}")


def _snapshot_dir(snapshot_dir: Path | None) -> Path:
    """The snapshot folder both snapshot sources read, or the one-line error without it."""
    if snapshot_dir is None:
        raise SourceError("--source snapshot needs --snapshot-dir FOLDER")
    return snapshot_dir
