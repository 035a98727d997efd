"""The event study "the notebook way", to check the engine's numbers and measure its speed.

One loop over (event, anchor, security) pairs, pandas slices by session position and one
statsmodels OLS per pair: the market model estimated over sessions [-250, -11] of the
security's own venue, abnormal returns over the window [-10, 20], CARs over the engine's CAR
windows and their t statistics in the convention of ``transforms.event_study.car_table``:

    t = CAR / (sigma * sqrt(L + L^2/T + (sum Rm - L * mean Rm)^2 / SSD_Rm))

with sigma the ddof=1 standard deviation of the estimation residuals, T the number of valid
estimation returns, mean Rm and SSD_Rm over every estimation session where the benchmark has a
return, sum Rm over the window days that have an AR; a CAR needs all L days. Fewer than
``min_estimation`` valid returns, or a security that is its own benchmark: no numbers.

Returns are computed here from the loaded prices (close to close on the venue's session grid,
none across a missing session), not taken from the engine, so the comparison covers the
returns as well. Both run in the same process on the same inputs: the engine over every
event, the notebook over a subset of them (``--events``, spread over the years, both
anchors), so the speed ratio is per (event, anchor, security) pair with a fitted model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import statsmodels.api as sm  # noqa: E402

from bench.bench_pipeline import marts_inputs, peak_rss_mb  # noqa: E402


def pick_events(event_ids: list[str], n: int) -> list[str]:
    """``n`` events spread over the catalog (every k-th), so the subset spans the years."""
    ids = sorted(event_ids)
    if n >= len(ids):
        return ids
    return [ids[i] for i in np.linspace(0, len(ids) - 1, n).round().astype(int)]


def notebook_study(prices: pd.DataFrame, securities: pd.DataFrame, sessions: pd.DataFrame,
                   day0: pd.DataFrame, estimation: tuple[int, int], window: tuple[int, int],
                   car_windows: tuple[tuple[int, int], ...], min_estimation: int
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per pair: CAR and t of every CAR window; per pair and window day: AR and running CAR).

    ``day0``: event_id, anchor, exchange_mic, day0 (a date on that venue)."""
    grids = {mic: g.sort_values("session_date")["session_date"].reset_index(drop=True)
             for mic, g in sessions.groupby("exchange_mic")}
    close = prices.pivot(index="session_date", columns="ticker", values="adj_close")
    returns: dict[str, pd.DataFrame] = {}  # per venue: its session grid x tickers
    for mic, grid in grids.items():
        on_grid = close.reindex(grid.values)
        returns[mic] = on_grid.pct_change(fill_method=None).reset_index(drop=True)
    bench_of = dict(zip(securities["ticker"], securities["benchmark"], strict=True))
    mic_of = dict(zip(securities["ticker"], securities["exchange_mic"], strict=True))
    market: dict[str, pd.Series] = {}  # benchmark -> its returns by calendar date
    for bench in set(bench_of.values()):
        grid = grids[mic_of[bench]]
        market[bench] = pd.Series(returns[mic_of[bench]][bench].values, index=grid.values)
    cars, days = [], []
    (e0, e1), (w0, w1) = estimation, window
    for row in day0.itertuples(index=False):
        grid = grids[row.exchange_mic]
        position = int(np.searchsorted(grid.values, np.datetime64(row.day0)))
        lo, hi = max(position + e0, 0), min(position + w1, len(grid) - 1)
        span = grid.iloc[lo:hi + 1]
        rel = np.arange(lo, hi + 1) - position
        for ticker in securities.loc[securities["exchange_mic"] == row.exchange_mic, "ticker"]:
            bench = bench_of[ticker]
            if bench == ticker:  # its own benchmark: AR 0 by construction, left out
                continue
            y = returns[row.exchange_mic][ticker].iloc[lo:hi + 1].to_numpy()
            x = market[bench].reindex(span.values).to_numpy()
            est = (rel >= e0) & (rel <= e1)
            ok = est & ~np.isnan(y) & ~np.isnan(x)
            if ok.sum() < min_estimation:
                continue
            fit = sm.OLS(y[ok], sm.add_constant(x[ok])).fit()
            alpha, beta = fit.params
            sigma = np.std(fit.resid, ddof=1)
            xm = x[est & ~np.isnan(x)]
            mkt_mean, mkt_ssd = xm.mean(), ((xm - xm.mean()) ** 2).sum()
            in_w = (rel >= w0) & (rel <= w1)
            ar = y[in_w] - alpha - beta * x[in_w]
            running = np.where(np.isnan(ar), np.nan, np.nancumsum(ar))
            key = (row.event_id, row.anchor, ticker)
            days.append(pd.DataFrame({"event_id": key[0], "anchor": key[1], "ticker": ticker,
                                      "rel_day": rel[in_w], "ar": ar, "car": running}))
            out = {"event_id": key[0], "anchor": key[1], "ticker": ticker}
            for a, b in car_windows:
                length = b - a + 1
                sel = (rel[in_w] >= a) & (rel[in_w] <= b)
                part, xs = ar[sel], x[in_w][sel]
                name = window_label(a, b)
                if sel.sum() == length and not np.isnan(part).any():
                    car = part.sum()
                    factor = (length + length**2 / ok.sum()
                              + (xs.sum() - length * mkt_mean) ** 2 / mkt_ssd)
                    out[name], out[f"{name}_t"] = car, car / (sigma * np.sqrt(factor))
                else:
                    out[name], out[f"{name}_t"] = np.nan, np.nan
            cars.append(out)
    return pd.DataFrame(cars), (pd.concat(days) if days else pd.DataFrame())


def window_label(a: int, b: int) -> str:
    """The engine's column name of a CAR window (``transforms.event_study.window_name``)."""
    from transforms.event_study import window_name

    return window_name(a, b)


def _max_diff(ours: pl.DataFrame, theirs: pl.DataFrame, keys: list[str], cols: list[str]
              ) -> tuple[float, int, int]:
    """(largest |difference| where both have a number, pairs where only one has, compared)."""
    joined = ours.join(theirs, on=keys, how="full", suffix="_engine", coalesce=True)
    worst, mismatched, compared = 0.0, 0, 0
    for c in cols:
        a = joined[c].fill_nan(None)
        b = joined[f"{c}_engine"].fill_nan(None)
        both = a.is_not_null() & b.is_not_null()
        mismatched += int((a.is_null() != b.is_null()).sum())
        compared += int(both.sum())
        if both.any():
            worst = max(worst, float((a.filter(both) - b.filter(both)).abs().max()))
    return worst, mismatched, compared


def run_baseline(warehouse: Path, market: Path, n_events: int = 10) -> dict:
    """The engine over every event, then the notebook on ``n_events`` of them, in this
    process (what ``bench/run.py`` does inside its marts step)."""
    from transforms.event_study import EventStudyConfig
    from transforms.reactions import build_reaction_marts

    inputs = marts_inputs(warehouse, market)
    start = time.perf_counter()
    marts = build_reaction_marts(
        inputs["prices"], inputs["securities"], inputs["sessions"], inputs["day0"],
        inputs["events"], EventStudyConfig(), shares=inputs["shares"], fx=inputs["fx"],
        attention=inputs["attention"])
    return compare(marts, time.perf_counter() - start, inputs, n_events)


def compare(marts: dict[str, pl.DataFrame], engine_s: float, inputs: dict,
            n_events: int = 10) -> dict:
    """Run the notebook on ``n_events`` of the events the engine built ``marts`` for (in
    ``engine_s`` seconds, from ``inputs``), both anchors, and compare: seconds per (event,
    anchor, security) pair with a fitted model of each, their ratio (notebook / engine: the
    notebook's pairs are a subset, the engine's every pair, so this is the ratio per pair),
    and the largest absolute differences of AR, running CAR, window CARs and their t."""
    from transforms.event_study import EventStudyConfig
    from transforms.reactions import anchor_day0

    cfg = EventStudyConfig()
    ids = pick_events(inputs["events"]["event_id"].to_list(), n_events)
    chosen = pl.col("event_id").is_in(ids)
    attention = inputs["attention"]
    anchored = anchor_day0(inputs["day0"].filter(chosen), inputs["sessions"],
                           None if attention is None else attention.filter(chosen))
    # the same inputs as pandas frames (not timed: a notebook would read them as such)
    frames = (inputs["prices"].select("ticker", "session_date", "adj_close").to_pandas(),
              inputs["securities"].to_pandas(),
              inputs["sessions"].select("exchange_mic", "session_date").to_pandas(),
              anchored.select("event_id", "anchor", "exchange_mic", "day0").to_pandas())
    start = time.perf_counter()  # from here: returns, slices, one OLS per pair
    cars, days = notebook_study(*frames, cfg.estimation, cfg.window, cfg.car_windows,
                                cfg.min_estimation)
    baseline_s = time.perf_counter() - start
    baseline_pairs = len(cars)

    keys = ["event_id", "anchor", "ticker"]
    names = [window_label(a, b) for a, b in cfg.car_windows]
    car_cols = [c for n in names for c in (n, f"{n}_t")]
    reaction = marts["marts.event_reaction"]
    # the pairs with a fitted model (an index that is its own benchmark has none)
    fitted = reaction.filter(pl.col("sigma").is_not_null()).select(*keys, *car_cols)
    engine_pairs = fitted.height
    subset = fitted.filter(chosen)
    ours = pl.from_pandas(cars) if baseline_pairs else subset.clear()
    diff_car, miss_car, n_car = _max_diff(ours.select(*keys, *car_cols), subset, keys,
                                          car_cols)
    t_cols = car_cols[1::2]
    diff_t, _, _ = _max_diff(ours.select(*keys, *t_cols), subset.select(*keys, *t_cols), keys,
                             t_cols)
    day_keys = [*keys, "rel_day"]
    window = (marts["marts.event_window"].join(subset.select(keys), on=keys)
              .select(*day_keys, "ar", "car").with_columns(pl.col("rel_day").cast(pl.Int64)))
    theirs = (pl.from_pandas(days).select(*day_keys, "ar", "car")
              .with_columns(pl.col("rel_day").cast(pl.Int64)) if len(days) else window.clear())
    diff_ar, miss_ar, n_ar = _max_diff(theirs, window, day_keys, ["ar", "car"])
    per_engine = engine_s / max(engine_pairs, 1)
    per_baseline = baseline_s / max(baseline_pairs, 1)
    return {
        "events": len(ids),
        "pairs": baseline_pairs,
        "engine_pairs": engine_pairs,
        "engine_s": engine_s,
        "baseline_s": baseline_s,
        "engine_ms_per_pair": 1000 * per_engine,
        "baseline_ms_per_pair": 1000 * per_baseline,
        "ratio": per_baseline / per_engine if per_engine else None,
        "max_abs_diff": max(diff_car, diff_ar),
        "max_abs_diff_ar": diff_ar,
        "max_abs_diff_car_t": diff_car,
        "max_abs_diff_t": diff_t,
        "null_mismatches": miss_car + miss_ar,
        "values_compared": n_car + n_ar,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="a backfilled warehouse")
    parser.add_argument("--market", type=Path, required=True, help="its generated market")
    parser.add_argument("--events", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(run_baseline(args.warehouse, args.market, args.events), indent=1))


if __name__ == "__main__":
    main()
