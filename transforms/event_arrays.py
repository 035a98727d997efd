"""The event-study engine of the reaction marts, shaped like the problem: dense arrays.

The polars engine (event_panel.py, event_study.py, event_tests.py) builds a long panel
(study x security x 271 sessions) and answers every question with a group_by over it:
~1,200 collects, most of the time spent sorting and hashing three string keys. Here the
same numbers come from arrays:

* **integer codes** for studies (the caller's ``keys``: event_id, anchor), tickers, venues
  and segments, numbered in polars' sort order of the strings: sorting units is sorting
  integers, and the marts come out in the order the polars engine sorts them;
* **dense storage**: each priced ticker's returns, log volumes and limit flags over its
  venue's sessions (one flat block per ticker, a sentinel cell for "missing"), each
  (venue, benchmark) pair's benchmark return on the same calendar dates;
* each unit's [estimation start, window end] **gathered by index** (day0_idx + rel) into
  [units, 271] arrays, NaN where there is no return; the marts never show a unit without a
  return in the event window, so those (29 % of the panel: tickers without prices) are
  dropped before their estimation window is gathered;
* the models in **closed form** by masked sums, two-pass (means, then centred sums: as
  accurate as the polars aggregations), the benchmark statistics once per (pair, day 0);
  AR, SAR, running CAR by cumsum, CAR windows with t and p;
* the **cross-sections** of a batch at once: units sorted by (study, segment), each segment
  group a run of rows summed by ``np.add.reduceat``, each study's segment 'all' the sum of
  its pooled segments' partial sums (same pass; no gather, no subtraction). Ranks for the
  rank test: one argsort per batch along every unit's row.

The only loops: batches of whole studies (memory stays flat), the models asked for (at most
three, sharing one gather) and the CAR windows (a handful, each vectorised over units or
groups).

Numpy or polars, step by step (measured with bench/bench_engine.py at 100 events x 600
securities x 2 anchors on a shared 2-core machine: the marts in 3.4-4.4 s and 1.0 GB peak,
against 131 s and 4.3 GB for the polars engine):

* codes and storage: polars joins against small code tables (an 800k-row frame against a
  600-row table in ~30 ms), then numpy scatters; the polars engine's 2-key join of returns
  with limit flags (~0.4 s) is replaced by a date -> session index lookup;
* gathers, masked sums, reduceat: numpy, a pass over 10M cells in ~10 ms, where a polars
  group_by on the long panel hashes string keys row by row;
* ranks: numpy argsort of order-preserving int64 keys (5.4M cells: 0.12 s; float64 argsort
  0.26 s; polars ``rank().over(unit)`` 0.47 s; ``scipy.stats.rankdata`` 1.2 s);
* frames out: polars, string columns gathered by code (no join, no sort);
* two threads over batches: no gain on the shared machine, so none.

Conventions are the polars engine's (event_study.py and event_tests.py docstrings, after R's
estudy2); tests/transforms/test_event_arrays.py checks both engines give the same marts to
1e-9 relative. Returns are finite (prices are validated positive), so NaN stands for null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
from scipy import stats

from transforms.event_study import DF_LOST, EventStudyConfig, window_name
from transforms.event_tests import STAT_COLUMNS

#: Units (study x security with a return in the window) per batch: ~9 MB per [units, 271]
#: float array, about twenty alive at once (measured: 2,000 to 4,000 run fastest; 16,000 is
#: 20 % slower and needs four times the memory).
BATCH_UNITS = 4_000
#: limit_hit codes in the dense storage.
_LIMITS = (None, "up", "down")
_NAN_KEY = np.iinfo(np.int64).max


@dataclass
class ArrayMarts:
    """The engine's frames. ``units[model]``: one row per observed unit (keys, ticker, model,
    alpha, beta, sigma, est_n, mkt_mean, mkt_ssd, thin_estimation, car_<w> / car_<w>_t /
    car_<w>_p per CAR window, abnormal_volume, ret_day0, ar_day0, limit_day0,
    one_price_day0, censored_day0); ``window[first model]``: keys, ticker, segment,
    rel_day, session_date, ret, ar, car, limit_hit, one_price per observed unit and
    event-window session (marts.event_window); ``tests[model]``: keys, segment, window,
    win_start, win_end, n_days, n, caar, STAT_COLUMNS, p_hat, rbar per (study, segment)
    group and per pooled group."""

    units: dict[str, pl.DataFrame] = field(default_factory=dict)
    window: dict[str, pl.DataFrame] = field(default_factory=dict)
    tests: dict[str, pl.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class _Store:
    """Dense storage: one block per priced ticker over its venue's sessions, one block per
    (venue, benchmark) pair for the benchmark's return on those dates. Each array ends with a
    sentinel cell holding the missing value, where every out-of-range index points."""

    venue_n: np.ndarray  # sessions per venue code (max session_idx + 1)
    sess_off: np.ndarray  # venue code -> offset in sess_ok / sess_date
    sess_ok: np.ndarray  # the session exists (+ sentinel False)
    sess_date: np.ndarray  # int32 days since 1970-01-01 (+ sentinel)
    tick_off: np.ndarray  # security code -> offset in ret/lv/lim/one (-1: no prices)
    ret: np.ndarray  # return, NaN = null
    lv: np.ndarray  # log(1 + volume), NaN where null or not finite
    lim: np.ndarray  # int8 code into _LIMITS
    one: np.ndarray  # one_price (False where no price row)
    pair_off: np.ndarray  # security code -> offset in mkt (-1: none)
    mkt: np.ndarray  # benchmark return on the same calendar date, NaN = null


def _code(frame: pl.DataFrame, column: str, values: pl.Series) -> np.ndarray:
    """Positions of ``frame[column]`` in ``values`` (unique), -1 when absent."""
    lookup = pl.DataFrame({column: values, "_code": np.arange(len(values), dtype=np.int64)})
    out = frame.select(column).join(lookup, on=column, how="left", maintain_order="left")
    return out["_code"].fill_null(-1).to_numpy()


def _offsets(size: np.ndarray) -> np.ndarray:
    """Start of each block of ``size`` cells laid end to end; -1 for empty blocks."""
    start = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    return np.where(size > 0, start, -1)


def _store(securities: pl.DataFrame, returns: pl.DataFrame, sessions: pl.DataFrame,
           venues: pl.Series, limits: pl.DataFrame | None) -> _Store:
    """Lay the returns, volumes and limit flags out densely: a join on a small code table
    per input frame, the rest integer arithmetic."""
    s_venue = _code(sessions, "exchange_mic", venues)
    s_idx = sessions["session_idx"].to_numpy().astype(np.int64)
    venue_n = np.zeros(len(venues), dtype=np.int64)
    np.maximum.at(venue_n, s_venue, s_idx + 1)
    sess_off = np.concatenate([[0], np.cumsum(venue_n)[:-1]]).astype(np.int64)
    n_sess = int(venue_n.sum())
    sess_ok = np.zeros(n_sess + 1, dtype=bool)
    sess_date = np.zeros(n_sess + 1, dtype=np.int32)
    at = sess_off[s_venue] + s_idx
    sess_ok[at] = True
    sess_date[at] = sessions["session_date"].cast(pl.Int32).to_numpy()

    sec_venue = _code(securities, "exchange_mic", venues)
    r_sec = _code(returns, "ticker", securities["ticker"])
    priced = np.zeros(securities.height, dtype=bool)
    priced[r_sec[r_sec >= 0]] = True
    size = np.where(priced & (sec_venue >= 0), venue_n[sec_venue], 0)
    tick_off = _offsets(size)
    total = int(size.sum())
    r_idx = returns["session_idx"].to_numpy().astype(np.int64)
    r_size = np.where(r_sec >= 0, size[r_sec], 0)
    keep = (r_idx >= 0) & (r_idx < r_size)
    at = tick_off[r_sec[keep]] + r_idx[keep]
    cells = returns.select(
        pl.col("ret").cast(pl.Float64).fill_null(np.nan),
        pl.col("volume").cast(pl.Float64).log1p().fill_null(np.nan).alias("lv"),
    )
    ret = np.full(total + 1, np.nan)
    lv = np.full(total + 1, np.nan)
    ret[at] = cells["ret"].to_numpy()[keep]
    lv[at] = cells["lv"].to_numpy()[keep]
    lv[~np.isfinite(lv)] = np.nan  # the polars engine's finite(log1p(volume))
    lim = np.zeros(total + 1, dtype=np.int8)
    one = np.zeros(total + 1, dtype=bool)
    if limits is None:  # the flags are columns of the returns
        flags, f_at, f_keep = returns, at, keep
    else:  # by (ticker, session_date): the date's session index on the ticker's venue
        flags = limits
        f_sec = _code(limits, "ticker", securities["ticker"])
        f_venue = np.where(f_sec >= 0, sec_venue[f_sec], -1)
        f_idx = _session_index(sessions, s_venue, s_idx, f_venue,
                               limits["session_date"].cast(pl.Int32).to_numpy(), len(venues))
        f_keep = (f_idx >= 0) & (f_sec >= 0)
        f_keep &= np.where(f_sec >= 0, tick_off[f_sec], -1) >= 0
        f_at = tick_off[f_sec[f_keep]] + f_idx[f_keep]
    hit = pl.col("limit_hit")
    coded = flags.select(
        pl.when(hit == "up").then(1).when(hit == "down").then(2).otherwise(0).cast(pl.Int8),
        pl.col("one_price").fill_null(False))
    lim[f_at] = coded[:, 0].to_numpy()[f_keep]
    one[f_at] = coded[:, 1].to_numpy()[f_keep]

    # the benchmark's return on each session date of a security's venue, per (venue,
    # benchmark) pair: build_panel joins it on the calendar date
    pairs = (securities.select("exchange_mic", "benchmark").unique(maintain_order=True)
             .with_columns(_pair=pl.int_range(pl.len(), dtype=pl.Int64)))
    sec_pair = securities.join(pairs, on=["exchange_mic", "benchmark"], how="left",
                               maintain_order="left", nulls_equal=True)["_pair"].to_numpy()
    p_venue = _code(pairs, "exchange_mic", venues)
    p_size = np.where(p_venue >= 0, venue_n[p_venue], 0)
    p_off = _offsets(p_size)
    mkt = np.full(int(p_size.sum()) + 1, np.nan)
    bench = returns.select(pl.col("ticker").alias("benchmark"), "session_date",
                           pl.col("ret").cast(pl.Float64).alias("_m")).drop_nulls("_m")
    grid = pairs.join(sessions.select("exchange_mic", "session_idx", "session_date"),
                      on="exchange_mic").join(bench, on=["benchmark", "session_date"])
    mkt[p_off[grid["_pair"].to_numpy()] + grid["session_idx"].to_numpy()] = grid["_m"].to_numpy()
    return _Store(venue_n, sess_off, sess_ok, sess_date, tick_off, ret, lv, lim, one,
                  p_off[sec_pair], mkt)


def _session_index(sessions: pl.DataFrame, s_venue: np.ndarray, s_idx: np.ndarray,
                   venue: np.ndarray, day: np.ndarray, n_venues: int) -> np.ndarray:
    """session_idx of each (venue code, date as days) on that venue, -1 if not a session:
    a dense date -> index table per venue, then a lookup."""
    s_day = sessions["session_date"].cast(pl.Int32).to_numpy().astype(np.int64)
    lo = np.full(n_venues, np.iinfo(np.int64).max)
    hi = np.full(n_venues, np.iinfo(np.int64).min)
    np.minimum.at(lo, s_venue, s_day)
    np.maximum.at(hi, s_venue, s_day)
    span = np.where(hi >= lo, hi - lo + 1, 0)
    off = np.concatenate([[0], np.cumsum(span)[:-1]])
    table = np.full(int(span.sum()) + 1, -1, dtype=np.int64)
    table[off[s_venue] + s_day - lo[s_venue]] = s_idx
    v = np.maximum(venue, 0)
    rel = day.astype(np.int64) - lo[v]
    ok = (venue >= 0) & (rel >= 0) & (rel < span[v])
    return np.where(ok, table[np.where(ok, off[v] + rel, len(table) - 1)], -1)


@dataclass(frozen=True)
class _Units:
    """Every (study, security) pair on the study's venues, sorted by study then ticker."""

    study: np.ndarray
    sec: np.ndarray
    venue: np.ndarray
    day0: np.ndarray


def _units(anchored: pl.DataFrame, studies: pl.DataFrame, securities: pl.DataFrame,
           keys: list[str], venues: pl.Series) -> _Units:
    """One join (study venues x securities) and an integer sort."""
    rank = _code(securities, "ticker", securities["ticker"].unique().sort())
    day0 = anchored.select(*keys, "exchange_mic", "day0_idx").join(
        studies, on=keys, how="inner", nulls_equal=True)
    secs = securities.select("exchange_mic").with_columns(
        _sec=pl.int_range(pl.len(), dtype=pl.Int64), _rank=pl.Series(rank, dtype=pl.Int64))
    pairs = day0.join(secs, on="exchange_mic").sort("_study", "_rank", "_sec")
    return _Units(
        study=pairs["_study"].to_numpy(),
        sec=pairs["_sec"].to_numpy(),
        venue=_code(pairs, "exchange_mic", venues),
        day0=pairs["day0_idx"].to_numpy().astype(np.int64),
    )


def _finite(x: np.ndarray) -> np.ndarray:
    """NaN where not finite (the polars engine's ``finite``: null on NaN or +-inf)."""
    return np.where(np.isfinite(x), x, np.nan)


def _p_values(x: np.ndarray, df: np.ndarray | None) -> np.ndarray:
    """Two-sided p-values as ``event_study.with_p_values``: normal, or Student t with df
    (NaN unless df > 0)."""
    a = np.abs(x)
    if df is None:
        return 2.0 * stats.norm.sf(a)
    with np.errstate(invalid="ignore"):
        return 2.0 * stats.t.sf(a, np.where(df > 0, df, np.nan))


def _order_keys(a: np.ndarray) -> np.ndarray:
    """int64 keys that sort like the floats (-0.0 = 0.0; NaN last): numpy's SIMD argsort is
    twice as fast on int64 as on float64, and equal keys are exactly equal floats (ties)."""
    bits = (a + 0.0).view(np.int64)  # + 0.0 turns -0.0 into 0.0
    keys = bits ^ ((bits >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))
    keys[np.isnan(a)] = _NAN_KEY
    return keys


def average_ranks(a: np.ndarray) -> np.ndarray:
    """Per row, the average rank (1-based; ties share their mean rank) of each non-NaN value
    among the row's non-NaN values, as polars' ``rank('average')``; NaN stays NaN. One
    argsort for all rows; tie blocks are resolved only on the rows that have ties."""
    n_rows, n_cols = a.shape
    keys = _order_keys(a)
    order = np.argsort(keys, axis=1)
    sk = np.take_along_axis(keys, order, axis=1)
    ranked = np.broadcast_to(np.arange(1.0, n_cols + 1.0), (n_rows, n_cols)).copy()
    tie = (sk[:, 1:] == sk[:, :-1]) & (sk[:, 1:] != _NAN_KEY)
    rows = np.flatnonzero(tie.any(axis=1))
    if len(rows):  # a tie block shares the mean of its first and last position
        pos = np.broadcast_to(np.arange(n_cols), (len(rows), n_cols))
        start = np.ones((len(rows), n_cols), dtype=bool)
        start[:, 1:] = ~tie[rows]
        end = np.ones((len(rows), n_cols), dtype=bool)
        end[:, :-1] = start[:, 1:]
        first = np.maximum.accumulate(np.where(start, pos, 0), axis=1)
        last = np.minimum.accumulate(np.where(end, pos, n_cols)[:, ::-1], axis=1)[:, ::-1]
        ranked[rows] = (first + last) / 2.0 + 1.0
    out = np.empty_like(ranked)
    np.put_along_axis(out, order, ranked, axis=1)
    out[np.isnan(a)] = np.nan
    return out


def _centred(x: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row count and mean over the cells where ``ok``, and the deviations from that mean
    (0 elsewhere): the first pass of a two-pass variance."""
    n = np.count_nonzero(ok, axis=1).astype(np.float64)
    dev = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = dev.sum(axis=1) / n
    np.subtract(dev, mean[:, None], out=dev, where=ok)
    return n, mean, dev


def _row_ss(x: np.ndarray) -> np.ndarray:
    """Row sums of squares."""
    return np.einsum("ij,ij->i", x, x)


@dataclass(frozen=True)
class _Fit:
    alpha: np.ndarray
    beta: np.ndarray
    sigma: np.ndarray
    est_n: np.ndarray
    mkt_mean: np.ndarray
    mkt_ssd: np.ndarray
    thin: np.ndarray


def _fit(model: str, ye: np.ndarray, xe: np.ndarray, mkt_mean: np.ndarray,
         mkt_ssd: np.ndarray, own: np.ndarray, cfg: EventStudyConfig) -> _Fit:
    """``fit_normal_model`` then ``null_self_benchmarks``, in closed form over the estimation
    columns (``ye``: returns, ``xe``: the benchmark's; NaN = null)."""
    valid = ~np.isnan(ye)
    if model != "mean_adjusted":
        valid &= ~np.isnan(xe)
    n = np.count_nonzero(valid, axis=1)
    nf = n.astype(np.float64)
    units = len(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        if model == "market":
            _, ym, resid = _centred(ye, valid)
            _, xm, dx = _centred(xe, valid)
            beta = (np.einsum("ij,ij->i", dx, resid) / (nf - 1)) / (_row_ss(dx) / (nf - 1))
            alpha = ym - beta * xm
            dx *= beta[:, None]
            resid -= dx  # y - alpha - beta x, centred
        elif model == "mean_adjusted":
            _, alpha, resid = _centred(ye, valid)
            beta = np.full(units, np.nan)
        else:
            alpha, beta = np.zeros(units), np.ones(units)
            _, _, resid = _centred(ye - xe, valid)
        # resid is centred: OLS residuals have mean 0 (up to ~1e-18, which moves no digit of
        # the s.d.), the other models' were centred above
        sigma = np.sqrt(_row_ss(resid) / (nf - 1))
    thin = n < cfg.min_estimation
    keep = ~thin if model == "mean_adjusted" else ~thin & ~own
    return _Fit(
        alpha=np.where(keep, _finite(alpha), np.nan),
        beta=np.where(keep, _finite(beta), np.nan),
        sigma=np.where(keep, _finite(sigma), np.nan),
        est_n=n.astype(np.int64),
        mkt_mean=mkt_mean,
        mkt_ssd=mkt_ssd,
        thin=thin,
    )


def _abnormal(model: str, fit: _Fit, ret: np.ndarray, mkt: np.ndarray) -> np.ndarray:
    """AR = (ret - alpha) - beta * mkt (ret - alpha under the mean-adjusted model): the
    polars engine's order of operations, so equal inputs give equal ARs (rank-test ties)."""
    ar = ret - fit.alpha[:, None]
    if model != "mean_adjusted":
        ar -= mkt * fit.beta[:, None]
    return ar


def _scale(model: str, fit: _Fit, mkt: np.ndarray) -> np.ndarray | float:
    """sqrt of the forecast-error variance factor (``event_study.forecast_scale``)."""
    t = fit.est_n.astype(np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        if model == "market":
            dev = mkt - fit.mkt_mean[:, None]
            return np.sqrt(1.0 + 1.0 / t + dev**2 / fit.mkt_ssd[:, None])
        if model == "mean_adjusted":
            return np.sqrt(1.0 + 1.0 / t)
    return 1.0


def _car_factor(model: str, length: int, mkt_sum: np.ndarray, fit: _Fit) -> np.ndarray:
    """Var(CAR)/sigma^2 over an L-day window (``event_study.car_variance_factor``)."""
    t = fit.est_n.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if model == "market":
            dev = mkt_sum - length * fit.mkt_mean
            return length + length**2 / t + dev**2 / fit.mkt_ssd
        if model == "mean_adjusted":
            return length + length**2 / t
    return np.full(len(t), float(length))


def _car_windows(cfg: EventStudyConfig, model: str, fit: _Fit, aev: np.ndarray,
                 mkt_ev: np.ndarray, rel_ev: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``car_table``: per unit and CAR window, the CAR (when all L days have an AR), t, p."""
    n_w = len(cfg.car_windows)
    car, t_car = np.full((len(aev), n_w), np.nan), np.full((len(aev), n_w), np.nan)
    ok = ~np.isnan(aev)
    ar0 = np.where(ok, aev, 0.0)
    m0 = np.where(ok & ~np.isnan(mkt_ev), mkt_ev, 0.0)
    for w, (a, b) in enumerate(cfg.car_windows):  # a handful, each over all units
        inw = slice(int(np.searchsorted(rel_ev, a)), int(np.searchsorted(rel_ev, b)) + 1)
        length = b - a + 1
        car[:, w] = np.where(np.count_nonzero(ok[:, inw], axis=1) == length,
                             ar0[:, inw].sum(axis=1), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = fit.sigma**2 * _car_factor(model, length, m0[:, inw].sum(axis=1), fit)
            t_car[:, w] = _finite(car[:, w] / np.sqrt(var))
    df = (fit.est_n.astype(np.float64) - DF_LOST[model])[:, None]
    return car, t_car, _p_values(t_car, df)


class _Groups:
    """The cross-sections of a batch: units sorted by (study, segment), so a segment group
    is a run of rows (``np.add.reduceat``), and each study's pooled group adds up the partial
    sums of its pooled segments (a sum of sums: no gather, no subtraction)."""

    def __init__(self, study: np.ndarray, label: np.ndarray, pooled: np.ndarray,
                 all_label: int, n_labels: int) -> None:
        key = study * n_labels + label
        change = np.ones(len(key), dtype=bool)
        change[1:] = key[1:] != key[:-1]
        self.starts = np.flatnonzero(change)
        seg_of_unit = np.cumsum(change) - 1
        seg_study = study[self.starts]
        self.pooled_seg = np.flatnonzero(pooled[self.starts])
        p_study = seg_study[self.pooled_seg]
        new = np.ones(len(p_study), dtype=bool)
        new[1:] = p_study[1:] != p_study[:-1]
        self.all_starts = np.flatnonzero(new)
        self.n_seg = len(self.starts)
        self.study = np.concatenate([seg_study, p_study[self.all_starts]])
        self.label = np.concatenate([label[self.starts],
                                     np.full(len(self.all_starts), all_label)])
        all_of_seg = np.full(self.n_seg, -1)
        all_of_seg[self.pooled_seg] = self.n_seg + np.cumsum(new) - 1
        self.seg_of_unit = seg_of_unit
        self.all_of_unit = all_of_seg[seg_of_unit]
        self.size = self.sum(np.ones(len(key)))

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Per group (rows: segment groups, then pooled groups), the sum of x's rows."""
        seg = np.add.reduceat(x, self.starts, axis=0, dtype=np.float64)
        if len(self.pooled_seg) == 0:
            return seg
        pooled = np.add.reduceat(seg[self.pooled_seg], self.all_starts, axis=0)
        return np.concatenate([seg, pooled])

    def mean_sd(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per group and column: count, mean and sample s.d. of the non-NaN values."""
        ok = ~np.isnan(x)
        n = self.sum(ok)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.sum(np.where(ok, x, 0.0)) / n
            dev = np.where(ok, x - mean[self.seg_of_unit], 0.0)
            ss = np.add.reduceat(dev * dev, self.starts, axis=0)
            pu = self.all_of_unit >= 0
            dev = np.where(ok[pu], x[pu] - mean[self.all_of_unit[pu]], 0.0)
            ss_all = np.zeros((len(n) - self.n_seg, *x.shape[1:]))
            np.add.at(ss_all, self.all_of_unit[pu] - self.n_seg, dev * dev)
            sd = np.sqrt(np.concatenate([ss, ss_all]) / (n - 1))
        return n, mean, sd


def _group_tests(cfg: EventStudyConfig, model: str, fit: _Fit, ar: np.ndarray,
                 sar_ev: np.ndarray, exists_ev: np.ndarray, car: np.ndarray,
                 t_car: np.ndarray, study: np.ndarray, label: np.ndarray, pooled: np.ndarray,
                 lay: _Layout) -> dict[str, np.ndarray] | None:
    """``window_tests`` for every group of a batch at once: [groups, windows] arrays.

    ``ar``: [units, days]; ``car`` / ``t_car``: [units, windows]; ``label``: each unit's
    segment code, ``pooled``: whether it also belongs to its study's pooled group. Only
    units with sigma > 0 take part (``event_tests._base``).
    """
    base = np.flatnonzero(np.isfinite(fit.sigma) & (fit.sigma > 0))
    if len(base) == 0:
        return None
    base = base[np.lexsort((label[base], study[base]))]
    groups = _Groups(study[base], label[base], pooled[base], lay.all_label, lay.n_labels)
    ar = ar[base]
    sigma, est_n = fit.sigma[base], fit.est_n[base].astype(np.float64)
    n_windows = len(cfg.car_windows)
    g = len(groups.size)
    big_m = groups.size
    k = DF_LOST[model]
    with np.errstate(invalid="ignore", divide="ignore"):
        sum_var = groups.sum(sigma**2)
        mean_est_n = groups.sum(est_n) / big_m
        vfac = (est_n - k) / (est_n - k - 2)

        # estimation days: BW 1985's s.d. of the daily mean AR, p-hat, KP's r-bar
        ae = ar[:, lay.est]
        has_e = ~np.isnan(ae)
        c_e = groups.sum(has_e)
        z = np.where(has_e, ae, 0.0)
        m_e = groups.sum(z) / c_e
        n_u = np.count_nonzero(has_e, axis=1).astype(np.float64)
        np.subtract(z, (z.sum(axis=1) / n_u)[:, None], out=z, where=has_e)
        _, _, d_e = _centred(m_e, c_e > 0)
        sd85 = np.sqrt(_row_ss(d_e) / (np.count_nonzero(c_e > 0, axis=1) - 1))
        p_hat = groups.sum(np.count_nonzero(ae > 0, axis=1)) / c_e.sum(axis=1)
        z /= np.sqrt(_row_ss(z) / (n_u - 1))[:, None]
        s = groups.sum(z)
        z *= z
        q = groups.sum(z)
        num, pairs = (s**2 - q).sum(axis=1), (c_e * (c_e - 1.0)).sum(axis=1)
        rbar = _finite((num / pairs) / (q.sum(axis=1) / c_e.sum(axis=1)))

        # Corrado's rank test: ranks within each unit over estimation + event days
        ap = ar[:, lay.phase]
        has_p = ~np.isnan(ap)
        length_u = np.count_nonzero(has_p, axis=1).astype(np.float64)
        kk = average_ranks(ap)
        kk -= ((length_u + 1.0) / 2.0)[:, None]
        kk[~has_p] = 0.0
        nk = groups.sum(has_p)
        d_rank = big_m[:, None] * (groups.sum(kk) / nk) / nk
        rank_sd = np.sqrt(np.nansum(d_rank**2, axis=1) / (groups.sum(length_u) / big_m))

        # event days: the daily statistics a window sums
        aev = ar[:, lay.event]
        has = ~np.isnan(aev)
        n_day = groups.sum(has)
        mean_ar = groups.sum(np.where(has, aev, 0.0)) / n_day
        sar_ev = sar_ev[base]
        has_sar = ~np.isnan(sar_ev)
        sum_sar = groups.sum(np.where(has_sar, sar_ev, 0.0))
        vfac_day = groups.sum(np.where(has_sar, vfac[:, None], 0.0))
        rows = groups.sum(exists_ev[base]) > 0
        daily = {
            "bw1980": mean_ar / (np.sqrt(sum_var) / big_m)[:, None],
            "bw1985": mean_ar / sd85[:, None],
            "patell": sum_sar / np.sqrt(vfac_day),
            "corrado_rank": d_rank[:, lay.event_in_phase] / rank_sd[:, None],
        }
    daily = {name: _finite(v) for name, v in daily.items()}
    out: dict[str, np.ndarray] = {name: np.zeros((g, n_windows)) for name in daily}
    out["n_days"] = np.zeros((g, n_windows), dtype=np.int64)
    out["n_days_null"] = np.zeros((g, n_windows), dtype=bool)
    for w, (a, b) in enumerate(cfg.car_windows):  # a handful; each over all groups at once
        inw = slice(a - cfg.window[0], b - cfg.window[0] + 1)
        length = b - a + 1
        n_days = np.count_nonzero(n_day[:, inw] > 0, axis=1)
        no_rows = ~rows[:, inw].any(axis=1)
        out["n_days"][:, w], out["n_days_null"][:, w] = n_days, no_rows
        full = (n_days == length) & ~no_rows
        for name, v in daily.items():
            out[name][:, w] = np.where(full, np.nansum(v[:, inw], axis=1) / length**0.5,
                                       np.nan)
    # the cross-section of the units' CARs and standardised CARs (car_table's t)
    car = car[base]
    n_c, caar, sd_c = groups.mean_sd(car)
    pos = groups.sum(car > 0)
    _, ms, ss = groups.mean_sd(np.where(np.isnan(car), np.nan, t_car[base]))
    p, r = p_hat[:, None], rbar[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        bmp = ms / ss * np.sqrt(n_c)
        out |= {
            "cs_t": caar / sd_c * np.sqrt(n_c),
            "bmp": bmp,
            "kp_bmp": bmp * np.sqrt((1.0 - r) / (1.0 + (n_c - 1.0) * r)),
            "gen_sign": (pos - n_c * p) / np.sqrt(n_c * p * (1.0 - p)),
        }
    df_bw = np.broadcast_to((mean_est_n - 1.0)[:, None], (g, n_windows))
    df_n = n_c - 1.0
    for name, df in (("bw1980", df_bw), ("bw1985", df_bw), ("cs_t", df_n), ("patell", None),
                     ("bmp", df_n), ("kp_bmp", df_n), ("gen_sign", None),
                     ("corrado_rank", None)):
        out[name] = _finite(out[name])
        out[f"p_{name}"] = _p_values(out[name], df)
    out |= {
        "n": n_c.astype(np.int64), "caar": caar,
        "p_hat": np.broadcast_to(p_hat[:, None], (g, n_windows)),
        "rbar": np.broadcast_to(rbar[:, None], (g, n_windows)),
        "_study": groups.study, "_label": groups.label,
    }
    return out


def _batches(study: np.ndarray, limit: int, studies: int | None = None
             ) -> list[tuple[int, int]]:
    """Unit ranges [lo, hi) of whole studies (``study`` is sorted): a new batch at the first
    study that starts past each multiple of ``limit`` units, and every ``studies`` studies."""
    if len(study) == 0:
        return []
    starts = np.concatenate([[0], np.flatnonzero(np.diff(study)) + 1])
    new = np.diff(starts // max(limit, 1)) != 0
    if studies is not None:
        new |= np.diff(np.arange(len(starts)) // max(studies, 1)) != 0
    lo = starts[np.concatenate([[True], new])]
    hi = np.concatenate([lo[1:], [len(study)]])
    return list(zip(lo.tolist(), hi.tolist(), strict=True))


@dataclass(frozen=True)
class _Layout:
    """The batch-independent layout: rel days, their columns, the segment codes."""

    rel: np.ndarray
    est: slice
    event: slice
    phase: slice | np.ndarray  # estimation + event columns (a slice unless there is a gap)
    event_in_phase: slice | np.ndarray
    gap: np.ndarray  # columns between the estimation and event windows
    col0: int | None  # rel day 0 among the columns (abnormal volume)
    ev0: int | None  # rel day 0 among the event columns (the day-0 fields)
    sec_label: np.ndarray
    sec_pooled: np.ndarray
    sec_own: np.ndarray
    all_label: int
    n_labels: int


def _index(store: _Store, units: _Units, sel: np.ndarray, rel: np.ndarray,
           off: np.ndarray, sentinel: int) -> np.ndarray:
    """Flat positions of each unit's sessions day0 + rel (sorted) in a storage laid out by
    ``off``; the sentinel where the session is out of the venue's range or nothing is stored.
    The range is checked per unit; cell by cell only for units at an edge of the calendar."""
    day0, n = units.day0[sel], store.venue_n[units.venue[sel]]
    pos = (day0 + off)[:, None] + rel[None, :]
    edge = np.flatnonzero((day0 + rel[0] < 0) | (day0 + rel[-1] >= n) | (off < 0))
    if len(edge):
        day = day0[edge][:, None] + rel[None, :]
        ok = (day >= 0) & (day < n[edge][:, None]) & (off[edge] >= 0)[:, None]
        pos[edge] = np.where(ok, pos[edge], sentinel)
    return pos


def _batch(store: _Store, units: _Units, lay: _Layout, sel: np.ndarray,
           cfgs: dict[str, EventStudyConfig], first: str) -> dict[str, dict]:
    """Every model's unit, window and test arrays for one batch of units (whole studies)."""
    rel, ev = lay.rel, lay.event
    t_sent = len(store.ret) - 1
    sel = sel[store.tick_off[units.sec[sel]] >= 0]  # tickers with any price
    # observed: any return in the event window; the marts show no other unit
    t_off = store.tick_off[units.sec[sel]]
    seen = ~np.isnan(store.ret[_index(store, units, sel, rel[ev], t_off, t_sent)])
    sel = sel[seen.any(axis=1)]
    if len(sel) == 0:
        return {}
    sec = units.sec[sel]
    t_idx = _index(store, units, sel, rel, store.tick_off[sec], t_sent)
    ret = store.ret[t_idx]
    # the benchmark's rows: one per (pair, day 0), shared by the units that have it
    p_off = store.pair_off[sec]
    start = np.where(p_off >= 0, p_off + units.day0[sel], -1)
    first_unit, inverse = np.unique(start, return_index=True, return_inverse=True)[1:]
    rows = sel[first_unit]
    m_rows = store.mkt[_index(store, units, rows, rel, store.pair_off[units.sec[rows]],
                              len(store.mkt) - 1)]
    m_ok = ~np.isnan(m_rows[:, lay.est])
    _, m_mean, m_dev = _centred(m_rows[:, lay.est], m_ok)
    m_mean = np.where(m_ok.any(axis=1), m_mean, np.nan)
    m_ssd = _row_ss(m_dev)
    mkt = m_rows[inverse]
    # abnormal volume (model-free), from the stored log volumes
    lv = store.lv[t_idx[:, lay.est]]
    lv_ok = ~np.isnan(lv)
    lv_n, lv_mean, lv_dev = _centred(lv, lv_ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        lv_sd = np.sqrt(_row_ss(lv_dev) / (lv_n - 1))
        lv0 = store.lv[t_idx[:, lay.col0]] if lay.col0 is not None else np.nan
        ab_vol = np.where(lv_n >= cfgs[first].min_estimation,
                          _finite((lv0 - lv_mean) / lv_sd), np.nan)
    t_ev = t_idx[:, ev]
    day_ev = units.day0[sel][:, None] + rel[ev][None, :]
    in_range = (day_ev >= 0) & (day_ev < store.venue_n[units.venue[sel]][:, None])
    s_idx = np.where(in_range, store.sess_off[units.venue[sel]][:, None] + day_ev,
                     len(store.sess_ok) - 1)
    exists_ev = store.sess_ok[s_idx]
    lim_ev, one_ev = store.lim[t_ev], store.one[t_ev]
    mkt_ev = mkt[:, ev]
    study = units.study[sel]
    ret_ev = ret[:, ev].copy()  # kept: a copy, so the batch's [units, days] arrays are freed
    day0: dict[str, np.ndarray] = {}
    if lay.ev0 is not None:
        day0 = {"ret0": ret_ev[:, lay.ev0].copy(), "lim0": lim_ev[:, lay.ev0].copy(),
                "one0": one_ev[:, lay.ev0].copy(), "ex0": exists_ev[:, lay.ev0].copy()}
    out: dict[str, dict] = {}
    for m, mc in cfgs.items():  # at most the three models, each over the whole batch
        fit = _fit(m, ret[:, lay.est], mkt[:, lay.est], m_mean[inverse], m_ssd[inverse],
                   lay.sec_own[sec], mc)
        ar = _abnormal(m, fit, ret, mkt)
        if len(lay.gap):
            ar[:, lay.gap] = np.nan
        aev = ar[:, ev].copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            sar_ev = _finite(aev / (fit.sigma[:, None] * _scale(m, fit, mkt_ev)))
        car, t_car, p_car = _car_windows(mc, m, fit, aev, mkt_ev, rel[ev])
        unit = {"sel": sel, "fit": fit, "car": car, "t": t_car, "p": p_car, "ab_vol": ab_vol,
                **day0}
        if lay.ev0 is not None:
            unit["ar0"] = aev[:, lay.ev0].copy()
        part = {"u": unit}
        tests = _group_tests(mc, m, fit, ar, sar_ev, exists_ev, car, t_car, study,
                             lay.sec_label[sec], lay.sec_pooled[sec], lay)
        if tests is not None:
            part["t"] = tests
        if m == first:
            has = ~np.isnan(aev)
            run = np.where(has, np.cumsum(np.where(has, aev, 0.0), axis=1), np.nan)
            part["w"] = {"sel": sel, "exists": exists_ev, "date": store.sess_date[s_idx],
                         "ret": ret_ev, "ar": aev, "car": run, "lim": lim_ev,
                         "one": one_ev}
        out[m] = part
    return out


def _layout(cfg: EventStudyConfig, securities: pl.DataFrame, labels: pl.Series,
            pooled_label: str, pooled_excludes: str) -> _Layout:
    (elo, ehi), (wlo, whi) = cfg.estimation, cfg.window
    rel = np.arange(elo, whi + 1)
    est, event = slice(0, ehi - elo + 1), slice(wlo - elo, whi - elo + 1)
    gap = np.arange(ehi - elo + 1, wlo - elo)
    if len(gap):
        phase: slice | np.ndarray = np.r_[np.arange(est.stop), np.arange(event.start,
                                                                           event.stop)]
        event_in_phase: slice | np.ndarray = np.arange(est.stop, len(phase))
    else:
        phase, event_in_phase = slice(0, len(rel)), event
    segment = securities["segment"]
    return _Layout(
        rel=rel, est=est, event=event, phase=phase, event_in_phase=event_in_phase, gap=gap,
        col0=int(-elo) if elo <= 0 <= whi else None,
        ev0=int(-wlo) if wlo <= 0 <= whi else None,
        sec_label=np.where(segment.is_null().to_numpy(), len(labels),
                           _code(securities, "segment", labels)),
        sec_pooled=(segment != pooled_excludes).fill_null(False).to_numpy(),
        sec_own=(securities["ticker"] == securities["benchmark"]).fill_null(False).to_numpy(),
        all_label=int(np.flatnonzero((labels == pooled_label).to_numpy())[0]),
        n_labels=len(labels) + 1,
    )


def reaction_arrays(
    anchored: pl.DataFrame,
    securities: pl.DataFrame,
    returns: pl.DataFrame,
    sessions: pl.DataFrame,
    cfg: EventStudyConfig,
    keys: Sequence[str],
    limits: pl.DataFrame | None = None,
    models: Sequence[str] | None = None,
    pooled_label: str = "all",
    pooled_excludes: str = "benchmark",
    batch_units: int = BATCH_UNITS,
    batch_studies: int | None = None,
) -> ArrayMarts:
    """The numeric part of the reaction marts for every study of ``anchored``, per model.

    ``anchored``: one row per (keys, exchange_mic) with ``day0_idx``; ``securities``: ticker
    (unique), exchange_mic, benchmark (resolved), segment; ``returns``: ticker, session_date,
    session_idx, ret, volume and, unless ``limits`` (ticker, session_date, limit_hit,
    one_price) gives them, limit_hit, one_price; ``sessions``: exchange_mic, session_idx,
    session_date. ``models`` (default ``(cfg.model,)``): the frames of model m are those of
    ``replace(cfg, model=m)``, all from one gather; the window frame is the first model's.
    Segment ``pooled_label`` pools every unit whose segment is not ``pooled_excludes``.
    Batches hold whole studies, about ``batch_units`` units and at most ``batch_studies``.
    """
    keys = list(keys)
    if securities["ticker"].is_duplicated().any():
        raise ValueError("securities must have one row per ticker")
    models = tuple(dict.fromkeys(models or (cfg.model,)))
    cfgs = {m: replace(cfg, model=m) for m in models}
    venues = pl.concat([sessions["exchange_mic"], securities["exchange_mic"],
                        anchored["exchange_mic"]]).drop_nulls().unique().sort()
    store = _store(securities, returns, sessions, venues, limits)
    studies = (anchored.select(keys).unique().sort(keys)
               .with_columns(_study=pl.int_range(pl.len(), dtype=pl.Int64)))
    units = _units(anchored, studies, securities, keys, venues)
    labels = pl.concat([securities["segment"].drop_nulls().unique(),
                        pl.Series([pooled_label])]).unique().sort()
    lay = _layout(cfg, securities, labels, pooled_label, pooled_excludes)
    parts: dict[str, dict[str, list]] = {m: {"u": [], "w": [], "t": []} for m in models}
    for b_lo, b_hi in _batches(units.study, batch_units, batch_studies):
        for m, part in _batch(store, units, lay, np.arange(b_lo, b_hi), cfgs, models[0]).items():
            for kind, arrays in part.items():
                parts[m][kind].append(arrays)
    tickers = securities["ticker"]
    rel_ev = lay.rel[lay.event]
    out = ArrayMarts()
    for m in models:
        out.units[m] = _unit_frame(parts[m]["u"], units, studies, keys, tickers, m, cfgs[m])
        out.tests[m] = _tests_frame(parts[m]["t"], studies, keys, labels, cfgs[m])
    out.window[models[0]] = _window_frame(parts.pop(models[0])["w"], units, studies, keys,
                                          tickers, securities["segment"], rel_ev)
    return out


def _key_columns(studies: pl.DataFrame, keys: list[str], study: np.ndarray) -> pl.DataFrame:
    """The caller's key columns of each study code (gathered by code, not joined)."""
    return studies.select(pl.col(keys).gather(pl.Series(study, dtype=pl.Int64)))


def _cat(parts: list[dict], name: str, dtype: type = np.float64, width: int | None = None
         ) -> np.ndarray:
    """One array of every batch's ``name`` (empty, of the right shape, without batches)."""
    if not parts:
        return np.zeros((0,) if width is None else (0, width), dtype=dtype)
    return np.concatenate([p[name] for p in parts])


def _nullable(name: str, values: np.ndarray) -> pl.Series:
    """A Float64 series with NaN as null."""
    return pl.Series(name, values, dtype=pl.Float64).fill_nan(None)


def _limits(name: str, codes: np.ndarray) -> pl.Series:
    return pl.Series(name, _LIMITS, dtype=pl.String).gather(
        pl.Series(codes.astype(np.int64), dtype=pl.Int64))


def _unit_frame(parts: list[dict], units: _Units, studies: pl.DataFrame, keys: list[str],
                tickers: pl.Series, model: str, cfg: EventStudyConfig) -> pl.DataFrame:
    """One row per observed unit: keys, UNIT_COLUMNS_HEAD, the CAR columns, the tail."""
    sel = _cat(parts, "sel", np.int64)
    fits = [p["fit"] for p in parts]

    def fcat(attr: str, dtype: type = np.float64) -> np.ndarray:
        return (np.concatenate([getattr(f, attr) for f in fits]) if fits
                else np.zeros(0, dtype=dtype))

    n_w = len(cfg.car_windows)
    car, t, p = (_cat(parts, x, width=n_w) for x in ("car", "t", "p"))
    cols: list[pl.Series] = [
        tickers.gather(pl.Series(units.sec[sel], dtype=pl.Int64)).alias("ticker"),
        pl.Series("model", [model], dtype=pl.String).gather(pl.Series(np.zeros(len(sel),
                                                                               np.int64))),
        _nullable("alpha", fcat("alpha")), _nullable("beta", fcat("beta")),
        _nullable("sigma", fcat("sigma")),
        pl.Series("est_n", fcat("est_n", np.int64), dtype=pl.Int64),
        _nullable("mkt_mean", fcat("mkt_mean")),
        pl.Series("mkt_ssd", fcat("mkt_ssd"), dtype=pl.Float64),
        pl.Series("thin_estimation", fcat("thin", bool), dtype=pl.Boolean),
    ]
    for w, (a, b) in enumerate(cfg.car_windows):
        name = window_name(a, b)
        cols += [_nullable(name, car[:, w]), _nullable(f"{name}_t", t[:, w]),
                 _nullable(f"{name}_p", p[:, w])]
    cols.append(_nullable("abnormal_volume", _cat(parts, "ab_vol")))
    if parts and "ret0" in parts[0]:
        ex0 = pl.Series(~_cat(parts, "ex0", bool))
        lim0 = _cat(parts, "lim0", np.int8)
        cols += [
            _nullable("ret_day0", _cat(parts, "ret0")),
            _nullable("ar_day0", _cat(parts, "ar0")),
            _limits("limit_day0", lim0),
            pl.Series("one_price_day0", _cat(parts, "one0", bool)).set(ex0, None),
            pl.Series("censored_day0", lim0 > 0).set(ex0, None),
        ]
    else:  # no day 0 in the window (or no unit): null, as a join with no day-0 row gives
        cols += [pl.Series(c, [None] * len(sel), dtype=d) for c, d in (
            ("ret_day0", pl.Float64), ("ar_day0", pl.Float64), ("limit_day0", pl.String),
            ("one_price_day0", pl.Boolean), ("censored_day0", pl.Boolean))]
    return pl.concat([_key_columns(studies, keys, units.study[sel]), pl.DataFrame(cols)],
                     how="horizontal")


def _window_frame(parts: list[dict], units: _Units, studies: pl.DataFrame, keys: list[str],
                  tickers: pl.Series, segments: pl.Series, rel_ev: np.ndarray) -> pl.DataFrame:
    """Event-window rows of the observed units (sessions that exist), by unit then rel_day:
    the order the units were gathered in, so no sort. String columns: one row per unit,
    then one gather of that frame per row."""
    sel = _cat(parts, "sel", np.int64)
    d = len(rel_ev)
    flat = _cat(parts, "exists", bool, d).ravel()
    every = bool(flat.all())  # no session missing: no mask to apply

    def pick(name: str, dtype: type = np.float64) -> np.ndarray:
        values = _cat(parts, name, dtype, d).ravel()
        return values if every else values[flat]

    per_unit = pl.concat([
        _key_columns(studies, keys, units.study[sel]),
        pl.DataFrame([tickers.gather(pl.Series(units.sec[sel], dtype=pl.Int64)).alias("ticker"),
                      segments.gather(pl.Series(units.sec[sel], dtype=pl.Int64))
                      .alias("segment")]),
    ], how="horizontal")
    row_unit = np.repeat(np.arange(len(sel), dtype=np.int64), d)
    rel_day = np.tile(rel_ev.astype(np.int64), len(sel))
    if not every:
        row_unit, rel_day = row_unit[flat], rel_day[flat]
    frame = pl.DataFrame([
        pl.Series("rel_day", rel_day, dtype=pl.Int64),
        pl.Series("session_date", pick("date", np.int32), dtype=pl.Int32).cast(pl.Date),
        _nullable("ret", pick("ret")),
        _nullable("ar", pick("ar")),
        _nullable("car", pick("car")),
        _limits("limit_hit", pick("lim", np.int8)),
        pl.Series("one_price", pick("one", bool), dtype=pl.Boolean),
    ])
    return pl.concat([per_unit[pl.Series(row_unit)], frame], how="horizontal")


def _tests_frame(parts: list[dict], studies: pl.DataFrame, keys: list[str], labels: pl.Series,
                 cfg: EventStudyConfig) -> pl.DataFrame:
    """One row per group and CAR window, as ``event_tests.window_tests`` (group-major)."""
    n_w = len(cfg.car_windows)
    study = np.repeat(_cat(parts, "_study", np.int64), n_w)
    label = np.repeat(_cat(parts, "_label", np.int64), n_w)
    n_groups = len(study) // n_w

    def flat(name: str, dtype: type = np.float64) -> np.ndarray:
        return _cat(parts, name, dtype, n_w).ravel()

    segment = pl.concat([labels, pl.Series([None], dtype=pl.String)])
    frame = pl.DataFrame([
        segment.gather(pl.Series(label, dtype=pl.Int64)).alias("segment"),
        pl.Series("window", [window_name(a, b) for a, b in cfg.car_windows] * n_groups,
                  dtype=pl.String),
        pl.Series("win_start", [a for a, _ in cfg.car_windows] * n_groups, dtype=pl.Int64),
        pl.Series("win_end", [b for _, b in cfg.car_windows] * n_groups, dtype=pl.Int64),
        pl.Series("n_days", flat("n_days", np.int64), dtype=pl.Int64).set(
            pl.Series(flat("n_days_null", bool)), None),
        pl.Series("n", flat("n", np.int64), dtype=pl.Int64),
        _nullable("caar", flat("caar")),
        *(_nullable(c, flat(c)) for c in STAT_COLUMNS),
        _nullable("p_hat", flat("p_hat")),
        _nullable("rbar", flat("rbar")),
    ])
    return pl.concat([_key_columns(studies, keys, study), frame], how="horizontal")
