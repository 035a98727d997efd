"""Benchmark the daily pipeline stage by stage on real or synthetic prices.

Prints, per stage: seconds, rows, rows/s, and the process's peak resident memory. Stages are
the same functions the flow calls (sources, transforms, expectations, warehouse), run without
Prefect so the figures are the work itself, not orchestration.

    python bench/bench_pipeline.py                      # the real snapshot (../shared)
    python bench/bench_pipeline.py --source demo --years 10 --copies 4
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from expectations.prices import validate_prices
from report.build import build_report
from sources.demo import DemoSource
from sources.snapshot import SnapshotSource
from transforms import calendar, prices
from transforms.detection import dim_event_rows
from transforms.event_study import EventStudyConfig
from transforms.reactions import build_reaction_marts
from warehouse import load, seeds
from warehouse.connection import connect
from warehouse.publish import publish

ROOT = Path(__file__).resolve().parents[1]


def peak_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage(name: str, fn: Callable[[], object], rows: Callable[[object], int]) -> object:
    start = time.perf_counter()
    out = fn()
    took = time.perf_counter() - start
    n = rows(out)
    print(f"{name:<22} {took:8.2f} s {n:>10,} rows {n / took if took else 0:>12,.0f} rows/s "
          f"peak {peak_mb():8.0f} MB", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("snapshot", "demo"), default="snapshot")
    parser.add_argument("--snapshot-dir", type=Path, default=ROOT.parent / "shared" /
                        "market-snapshot")
    parser.add_argument("--copies", type=int, default=1,
                        help="replicate the universe N times under new tickers (scale test)")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2025, 12, 31))
    args = parser.parse_args()

    securities = seeds.read_universe()
    events = calendar.events_to_core(seeds.read_events())
    sessions = stage(
        "calendar.sessions",
        lambda: calendar.exchange_sessions(securities["exchange_mic"].unique().to_list(),
                                           date(2016, 1, 1), args.end + timedelta(days=45)),
        len,
    )
    day0 = stage("calendar.day0", lambda: calendar.event_day0(events, sessions), len)
    if args.source == "snapshot":
        src = SnapshotSource(args.snapshot_dir)
        tickers = [t for t in securities["ticker"] if t in set(src.available())]
    else:
        src = DemoSource(securities, sessions, day0, events)
        tickers = securities["ticker"].to_list()
    raw = stage("extract", lambda: src.prices(tickers, date(2018, 1, 1), args.end).frame, len)
    if args.copies > 1:  # new tickers with the same venue, segment and benchmark
        copies = [securities] + [
            securities.filter(pl.col("segment") != "benchmark").with_columns(
                ticker=pl.col("ticker") + f"~{i}") for i in range(1, args.copies)]
        securities = pl.concat(copies)
        raw = pl.concat([raw] + [
            raw.filter(pl.col("ticker").is_in(copies[i]["ticker"].str.replace(f"~{i}$", "")
                                              .implode()))
            .with_columns(ticker=pl.col("ticker") + f"~{i}") for i in range(1, args.copies)])
        print(f"scaled to {securities.height} securities, {raw.height:,} rows")
    core = stage("transform.to_core", lambda: prices.to_core(raw, securities, sessions), len)
    outcome = stage("validate (GX)", lambda: validate_prices(core), lambda o: o.good.height)
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "bench.duckdb")
        good = outcome.good.drop("is_exchange_session")
        stage("load.raw", lambda: load.land_raw_prices(con, raw, "bench"), lambda n: n)
        stage("load.merge (insert)", lambda: load.upsert_prices(con, good, "bench"),
              lambda r: r["inserted"])
        stage("load.merge (no-op)", lambda: load.upsert_prices(con, good, "bench2"),
              lambda r: good.height)
        history = stage("load.read_prices", lambda: load.read_prices(con), len)
        marts = stage(
            "marts (event study)",
            lambda: build_reaction_marts(history, securities, sessions, day0, events,
                                         EventStudyConfig()),
            lambda m: sum(f.height for f in m.values()),
        )
        stage("load.marts", lambda: sum(load.replace_table(con, t, f) for t, f in marts.items()),
              lambda n: n)
        # what BI and the report read: dimensions, a finished run, the serving copy, the pages
        load.replace_table(con, "core.dim_security", securities)
        load.replace_table(con, "core.dim_event", dim_event_rows(events, None))
        load.start_run(con, "bench", "bench", args.source, {})
        load.finish_run(con, "bench", "success")
        published = stage("publish (serving copy)",
                          lambda: publish(con, Path(tmp) / "serving", "bench"),
                          lambda p: sum(p["tables"].values()))
        stage("report (HTML pages)", lambda: build_report(published["path"], Path(tmp) / "html"),
              lambda r: len(r["pages"]))
        con.close()


if __name__ == "__main__":
    main()
