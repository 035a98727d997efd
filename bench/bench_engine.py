"""Benchmark the reaction marts: the polars reference engine against the array engine.

A synthetic market (real exchange calendars, ~600 securities on eight venues, a quarter of
them without any price, late listings, gaps, one venue whose index has no prices), 100 events
and both anchors (announcement and attention). Each run is a child process, so each has its
own peak memory (VmHWM, inputs included: the column "of which inputs" is the peak before the
run). Both engines run on the first ``--polars-events`` events and the parent compares their
marts; the array engine also runs on all ``--events``.

The limit flags (transforms/limits.py) are computed once by the parent and handed to every
run: today ``limit_flags`` on the whole price frame takes ~85 s at this size (its nested
when/then chains re-evaluate the previous close thousands of times), the same for both
engines; ``--real-limits`` runs it inside every run instead.

    python bench/bench_engine.py                       # 600 securities, 100 (and 25) events
    python bench/bench_engine.py --securities 200 --events 20 --polars-events 0
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import pickle
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from transforms import calendar
from transforms.event_study import EventStudyConfig

#: venue -> (country, currency, index ticker); the XAMS index has no prices (a fallback).
VENUES: dict[str, tuple[str, str, str]] = {
    "XNAS": ("US", "USD", "^IXIC"),
    "XNYS": ("US", "USD", "^GSPC"),
    "XTKS": ("JP", "JPY", "^N225"),
    "XHKG": ("HK", "HKD", "^HSI"),
    "XETR": ("DE", "EUR", "^GDAXI"),
    "XAMS": ("NL", "EUR", "^AEX"),
    "XKRX": ("KR", "KRW", "^KS11"),
    "XSHE": ("CN", "CNY", "399001.SZ"),
}
SEGMENTS = ("accelerators", "foundry", "memory", "semicap_equipment", "hyperscalers_cloud",
            "ai_software", "china_ai", "power_cooling")
FIRST, LAST = date(2018, 1, 2), date(2025, 12, 31)


def synthetic_market(n_securities: int = 600, n_events: int = 100, seed: int = 13
                     ) -> dict[str, pl.DataFrame]:
    """The inputs of ``build_reaction_marts``: prices, securities, sessions, day0, events,
    attention. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    sessions = calendar.exchange_sessions(list(VENUES), date(2016, 1, 1), date(2026, 2, 28))
    mics = list(VENUES)
    weights = np.array([0.3, 0.2, 0.12, 0.1, 0.08, 0.06, 0.07, 0.07])
    rows = []
    for mic, (country, currency, index) in VENUES.items():
        rows.append((index, mic, country, currency, "index", "benchmark", index))
        rows.append((f"ETF.{mic}", mic, country, currency, "etf", "benchmark", index))
    venue_of = rng.choice(len(mics), size=max(n_securities - len(rows), 1), p=weights)
    for i, v in enumerate(venue_of):
        mic = mics[v]
        country, currency, index = VENUES[mic]
        rows.append((f"S{i:04d}.{mic}", mic, country, currency, "equity",
                     SEGMENTS[i % len(SEGMENTS)], index))
    securities = pl.DataFrame(rows, schema=["ticker", "exchange_mic", "country", "currency",
                                            "kind", "segment", "benchmark"], orient="row"
                              ).with_columns(name=pl.col("ticker") + " Corp.")
    securities = securities.select("ticker", "name", "segment", "exchange_mic", "currency",
                                   "country", "kind", "benchmark")
    frames = []
    market = {}
    for mic, grid in sessions.filter(pl.col("session_date").is_between(FIRST, LAST)
                                     ).partition_by("exchange_mic", as_dict=True).items():
        market[mic[0]] = (grid["session_date"], rng.normal(0.0004, 0.011, grid.height))
    for k, sec in enumerate(securities.iter_rows(named=True)):
        dates, mkt = market[sec["exchange_mic"]]
        n = len(dates)
        if sec["ticker"] == "^AEX" or (sec["kind"] == "equity" and k % 4 == 3):
            continue  # no prices at all
        if sec["kind"] == "index":
            r = mkt
        else:
            r = (rng.normal(0.0002, 0.0005) + rng.normal(1.0, 0.3) * mkt
                 + rng.normal(0, 0.02 if sec["kind"] == "equity" else 0.002, n))
        keep = np.ones(n, dtype=bool)
        if k % 7 == 0:
            keep[: rng.integers(n // 2, n - 100)] = False  # a late listing (thin for some)
        if k % 5 == 0:
            keep[rng.integers(0, n, 15)] = False  # missing days
        close = 50.0 * np.cumprod(1.0 + r)
        volume = np.exp(rng.normal(13, 0.5, n)).round()
        frames.append(pl.DataFrame({
            "ticker": sec["ticker"], "session_date": dates, "open": close * 0.995,
            "high": close * 1.01, "low": close * 0.99, "close": close, "adj_close": close,
            "volume": volume, "currency": sec["currency"], "source": "synthetic",
        }).filter(pl.Series(keep)))
    prices = pl.concat(frames)
    start = datetime(2019, 3, 1, tzinfo=UTC)
    span = (datetime(2025, 10, 1, tzinfo=UTC) - start).total_seconds()
    at = sorted(start + timedelta(seconds=float(s)) for s in rng.uniform(0, span, n_events))
    events = pl.DataFrame({
        "event_id": [f"ev{i:03d}" for i in range(n_events)],
        "name": [f"Model {i}" for i in range(n_events)],
        "lab": "Lab", "kind": "model_release",
        "announced_date": [a.date() for a in at],
        "announced_at": at,
        "announced_precision": "minute", "open_weights": False, "lab_country": "US",
        "source_url": "https://example.com",
    }).with_columns(pl.col("announced_at").dt.cast_time_unit("us"))
    day0 = calendar.event_day0(events, sessions)
    attention = events.select(
        "event_id", attention_date=pl.col("announced_date")
        + pl.duration(days=pl.Series(rng.integers(0, 6, n_events))))
    return {"prices": prices, "securities": securities, "sessions": sessions, "day0": day0,
            "events": events, "attention": attention}


def vm_hwm_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def limit_flags_by_partition(prices: pl.DataFrame, securities: pl.DataFrame) -> pl.DataFrame:
    """``transforms.limits.limit_flags`` run per (venue, kind): the same flags (each row
    depends on its ticker's previous row only), without the cost the whole frame has today
    (its when/then chains evaluate every branch on mixed frames: ~85 s at 600 securities)."""
    from transforms.limits import limit_flags

    keyed = prices.join(securities.select("ticker", "exchange_mic", "kind"), on="ticker",
                        how="left")
    parts = keyed.partition_by("exchange_mic", "kind", include_key=False)
    return pl.concat([limit_flags(part, securities) for part in parts])


def _child(engine: str, inputs_path: str, out_path: str, events: int | None) -> None:
    import transforms.reactions as reactions

    with open(inputs_path, "rb") as f:
        inputs = pickle.load(f)
    flags = inputs.pop("limit_flags", None)
    if flags is not None:  # computed once by the parent (see limit_flags_by_partition)
        reactions.limit_flags = lambda prices, securities: flags
    day0, ev = inputs["day0"], inputs["events"]
    if events is not None:
        ids = ev["event_id"].head(events).implode()
        day0, ev = day0.filter(pl.col("event_id").is_in(ids)), ev.filter(
            pl.col("event_id").is_in(ids))
    base = vm_hwm_mb()
    start = time.perf_counter()
    marts = reactions.build_reaction_marts(
        inputs["prices"], inputs["securities"], inputs["sessions"], day0, ev,
        EventStudyConfig(), attention=inputs["attention"], engine=engine)
    took = time.perf_counter() - start
    Path(out_path).write_bytes(pickle.dumps(
        {"seconds": took, "peak_mb": vm_hwm_mb(), "base_mb": base, "marts": marts}))


#: Below this magnitude a value counts as zero (by construction or by chance: a CAR that
#: crosses zero, a rank sum of a group of one) and only its absolute difference is judged.
TINY = 1e-6


def differences(a: pl.DataFrame, b: pl.DataFrame) -> tuple[float, float]:
    """(largest |x - y| / max(|x|, |y|) over float cells with max(|x|, |y|) >= TINY, largest
    |x - y| over every float cell) of two frames with the same rows in the same order; both
    inf if they differ in anything else (rows, columns, dtypes, other cells, nulls, NaNs)."""
    if a.schema != b.schema or a.height != b.height:
        return float("inf"), float("inf")
    rel = ab = 0.0
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype != pl.Float64:
            if not x.equals(y, check_names=True, null_equal=True):
                return float("inf"), float("inf")
            continue
        if not x.is_null().equals(y.is_null()):
            return float("inf"), float("inf")
        xv, yv = x.drop_nulls().to_numpy(), y.drop_nulls().to_numpy()
        if not np.array_equal(np.isnan(xv), np.isnan(yv)):
            return float("inf"), float("inf")
        xv, yv = xv[~np.isnan(xv)], yv[~np.isnan(yv)]
        if xv.size == 0:
            continue
        diff, size = np.abs(xv - yv), np.maximum(np.abs(xv), np.abs(yv))
        ab = max(ab, float(diff.max()))
        big = size >= TINY
        if big.any():
            rel = max(rel, float((diff[big] / size[big]).max()))
    return rel, ab


def _run(ctx, tmp: Path, src: Path, engine: str, events: int | None) -> dict:
    out = tmp / f"{engine}-{events}.pkl"
    proc = ctx.Process(target=_child, args=(engine, str(src), str(out), events))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"{engine} engine failed (exit {proc.exitcode})")
    return pickle.loads(out.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--securities", type=int, default=600)
    parser.add_argument("--events", type=int, default=100, help="events of the arrays run")
    parser.add_argument("--polars-events", type=int, default=25,
                        help="events of the comparison (both engines; the polars engine "
                             "takes ~1.7 s per event at 600 securities); 0 skips it")
    parser.add_argument("--real-limits", action="store_true",
                        help="let every run call limit_flags on the whole frame itself")
    args = parser.parse_args()
    start = time.perf_counter()
    inputs = synthetic_market(args.securities, args.events)
    print(f"market: {inputs['securities'].height} securities, {inputs['prices'].height:,} "
          f"price rows, {args.events} events x 2 anchors ({time.perf_counter() - start:.1f} s)")
    if not args.real_limits:
        from transforms.benchmarks import resolve_benchmarks

        start = time.perf_counter()
        inputs["limit_flags"] = limit_flags_by_partition(
            inputs["prices"].select("ticker", "session_date", "open", "high", "low", "close"),
            resolve_benchmarks(inputs["securities"], inputs["prices"]))
        print(f"limit flags, once for every run (limits.limit_flags per venue and kind): "
              f"{time.perf_counter() - start:.1f} s")
    runs: list[tuple[str, int, dict]] = []
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "inputs.pkl"
        src.write_bytes(pickle.dumps(inputs))
        small = min(args.polars_events, args.events)
        if small:
            for engine in ("polars", "arrays"):
                runs.append((engine, small, _run(ctx, Path(tmp), src, engine, small)))
        if small != args.events:
            runs.append(("arrays", args.events, _run(ctx, Path(tmp), src, "arrays", args.events)))
    print(f"{'engine':<8} {'events':>6} {'pairs':>8} {'seconds':>8} {'pairs/s':>9} "
          f"{'peak MB':>8} {'of which inputs':>15}")
    for engine, events, r in runs:
        pairs = r["marts"]["marts.event_reaction"].height
        print(f"{engine:<8} {events:>6} {pairs:>8,} {r['seconds']:8.2f} "
              f"{pairs / r['seconds']:9,.0f} {r['peak_mb']:8.0f} {r['base_mb']:15.0f}")
    if small:
        ref, got = runs[0][2]["marts"], runs[1][2]["marts"]
        print(f"arrays vs polars ({small} events): max relative difference (|x| >= {TINY:g}), "
              "max absolute difference")
        for table, frame in ref.items():
            rel, ab = differences(frame, got[table])
            print(f"  {table:<30} {rel:9.2e} {ab:9.2e}  ({frame.height:,} rows)")


if __name__ == "__main__":
    main()
