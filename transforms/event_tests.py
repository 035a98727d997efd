"""Cross-sectional event-study tests, as in R's estudy2, daily and over CAR windows.

Inputs are ``abnormal_returns`` and ``fit_normal_model`` outputs; ``group_keys`` (columns
of the abnormal frame, e.g. ["event_id"] or ["event_id", "segment"]) define the
cross-sections. Thin units (null sigma) take no part. Days are aligned on ``rel_day``.

Per group: M units; T_i = est_n, sigma_i (estimation s.d., n − 1), k = DF_LOST[model].
Per event day t: n_t units with an AR, mean AR Ā_t, SAR_it = AR_it / (sigma_i·scale_it).

* bw1980 (Brown-Warner 1980): Ā_t / (sqrt(Σ_i sigma_i²) / M); Student t, mean(T_i) − 1 df.
* bw1985 (Brown-Warner 1985, crude dependence adjustment): Ā_t / sd_τ(Ā_τ), sd over the
  estimation days of the daily cross-sectional mean AR (n − 1); t, mean(T_i) − 1 df.
* cs_t (cross-sectional t): Ā_t / sd_i(AR_it) · sqrt(n_t); t, n_t − 1 df.
* patell (Patell 1976): Σ_i SAR_it / sqrt(Σ_i (T_i−k)/(T_i−k−2)) over the units with a SAR
  that day (estudy2 imputes absent units at the day mean; identical when none is absent);
  normal.
* bmp (Boehmer-Musumeci-Poulsen 1991): mean SAR / sd SAR · sqrt(n_t); t, n_t − 1 df.
* kp_bmp (Kolari-Pynnönen 2010): bmp · sqrt((1 − r̄) / (1 + (n_t − 1) r̄)); t, n_t − 1 df.
  r̄ = average pairwise correlation of the units' estimation ARs, computed in O(N·T) from
  each unit's standardised residuals z_iτ (own mean and s.d.):
  r̄ = [Σ_τ((Σ_i z_iτ)² − Σ_i z_iτ²) / Σ_τ C_τ(C_τ − 1)] / [Σ_τ Σ_i z_iτ² / Σ_τ C_τ],
  C_τ the units present on day τ — exactly the mean of the pairwise Pearson correlations
  when every unit has every estimation day, a pair-day-weighted average otherwise.
* gen_sign (Cowan 1992): (w_t − n_t p̂) / sqrt(n_t p̂ (1 − p̂)), w_t the units with AR > 0,
  p̂ the pooled share of positive estimation ARs; normal.
* corrado_rank (Corrado 1989, estudy2's ``rank_test``): AR ranked within each unit over its
  estimation+event days (average ties), K_iτ = rank − (L_i + 1)/2, L_i its AR count;
  D_τ = M · mean_i K_iτ / N_τ (estudy2 sums a day as rowMeans × ncol, i.e. imputes absent
  units at the day mean — kept because the published vignette depends on it);
  stat_t = D_t / sqrt(Σ_τ D_τ² / mean_i L_i), τ over estimation+event days; normal.

Over a CAR window (a, b) of L days (``window_tests``), requiring every day to have data:
bw1980, bw1985, patell and corrado_rank are Σ_t daily statistic / sqrt(L) (estudy2's
``car_brown_warner_1985``; Cowan 1992 for the rank test); cs_t is the cross-sectional t of
the units' CAR_i, bmp that of SCAR_i = CAR_i / sd(CAR_i) (``car_table``'s t, forecast-error
corrected), kp_bmp the KP adjustment of that, gen_sign counts CAR_i > 0. caar = mean CAR_i
over the n units with a complete window.
"""

from __future__ import annotations

import polars as pl

from transforms.event_study import (
    DF_LOST,
    ENGINE,
    EventStudyConfig,
    car_table,
    finite,
    param_keys,
    window_name,
    with_p_values,
)

#: Statistic and p-value columns shared by the daily and window tests (and study_wide).
STAT_COLUMNS: tuple[str, ...] = (
    "bw1980",
    "p_bw1980",
    "bw1985",
    "p_bw1985",
    "cs_t",
    "p_cs_t",
    "patell",
    "p_patell",
    "bmp",
    "p_bmp",
    "kp_bmp",
    "p_kp_bmp",
    "gen_sign",
    "p_gen_sign",
    "corrado_rank",
    "p_corrado_rank",
)

#: (statistic, p-value column, degrees-of-freedom column or None for the normal).
_P_SPECS: list[tuple[str, str, str | None]] = [
    ("bw1980", "p_bw1980", "_df_bw"),
    ("bw1985", "p_bw1985", "_df_bw"),
    ("cs_t", "p_cs_t", "_df_cs"),
    ("patell", "p_patell", None),
    ("bmp", "p_bmp", "_df_bmp"),
    ("kp_bmp", "p_kp_bmp", "_df_bmp"),
    ("gen_sign", "p_gen_sign", None),
    ("corrado_rank", "p_corrado_rank", None),
]

_AR = pl.col("ar")


def _sorted(column: str) -> pl.Expr:
    """A group's values as a list sorted by value, for a float sum over groups of groups.

    Reducing the sorted list (``.list.sum()`` etc.) adds in one fixed order, so the marts are
    bit-identical from run to run: a plain ``.sum()`` over the rows of an earlier
    aggregation adds in whatever order and chunking the engine's threads produced.
    """
    return pl.col(column).drop_nulls().sort()


def _kp_factor(rbar: pl.Expr, n: pl.Expr) -> pl.Expr:
    """Kolari-Pynnönen's cross-correlation deflator for n units."""
    return ((1.0 - rbar) / (1.0 + (n - 1.0) * rbar)).sqrt()


def _base(
    abnormal: pl.DataFrame, params: pl.DataFrame, group_keys: list[str], cfg: EventStudyConfig
) -> tuple[pl.LazyFrame, list[str], list[str]]:
    """Abnormal rows of non-thin units with sigma, est_n and Patell's variance factor."""
    if not group_keys:
        raise ValueError("group_keys must name at least one column")
    missing = [c for c in group_keys if c not in abnormal.columns]
    if missing:
        raise ValueError(f"group_keys not in the abnormal frame: {', '.join(missing)}")
    unit = [*param_keys(params), "ticker"]
    t = pl.col("est_n").cast(pl.Float64)
    k = DF_LOST[cfg.model]
    base = (
        abnormal.lazy()
        .join(params.lazy().select(*unit, "sigma", "est_n"), on=unit, how="inner")
        .filter(pl.col("sigma") > 0)
        .with_columns(vfac=(t - k) / (t - k - 2))
    )
    return base, list(group_keys), list(dict.fromkeys([*group_keys, *unit]))


def _group_constants(
    base: pl.LazyFrame, g: list[str], gu: list[str]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per group: M, Σsigma², mean T, BW85 s.d., p̂, r̄, rank s.d.; and the rank D_τ by day."""
    est = base.filter((pl.col("phase") == "estimation") & _AR.is_not_null())
    consts = (
        base.group_by(gu)
        .agg(var=pl.col("sigma").first() ** 2, est_n=pl.col("est_n").first())
        .group_by(g)
        .agg(M=pl.len(), var=_sorted("var"), mean_est_n=pl.col("est_n").mean())
        .with_columns(sum_var=pl.col("var").list.sum())
        .drop("var")
    )
    sd85 = (
        est.group_by([*g, "rel_day"])
        .agg(m=_AR.mean())
        .group_by(g)
        .agg(m=_sorted("m"))
        .select(*g, sd_bw1985=pl.col("m").list.std(ddof=1))
    )
    p_hat = est.group_by(g).agg(p_hat=(_AR > 0).mean())
    z = (_AR - _AR.mean().over(gu)) / _AR.std(ddof=1).over(gu)
    s, q, c = pl.col("s"), pl.col("q"), pl.col("c")
    rbar = (
        est.with_columns(z=z)
        .group_by([*g, "rel_day"])
        .agg(s=pl.col("z").sum(), q=(pl.col("z") ** 2).sum(), c=pl.len().cast(pl.Float64))
        .with_columns(num=s**2 - q, pairs=c * (c - 1.0))
        .group_by(g)
        .agg(*(_sorted(x) for x in ("num", "pairs", "q", "c")))
        .with_columns(pl.col("num", "pairs", "q", "c").list.sum())
        .select(*g, rbar=finite((pl.col("num") / pl.col("pairs")) / (q / c)))
    )
    ranked = base.filter(_AR.is_not_null()).with_columns(
        k=_AR.rank("average").over(gu) - (_AR.count().over(gu) + 1) / 2
    )
    mean_l = ranked.group_by(gu).agg(L=pl.len()).group_by(g).agg(mean_l=pl.col("L").mean())
    rank_days = (
        ranked.group_by([*g, "rel_day"])
        .agg(kmean=pl.col("k").mean(), nk=pl.len())
        .join(consts.select(*g, "M"), on=g, nulls_equal=True)
        .select(*g, "rel_day", d=pl.col("M") * pl.col("kmean") / pl.col("nk"))
    )
    rank_sd = (
        rank_days.with_columns(d2=pl.col("d") ** 2)
        .group_by(g)
        .agg(_sorted("d2"))
        .select(*g, ss=pl.col("d2").list.sum())
        .join(mean_l, on=g, nulls_equal=True)
        .select(*g, rank_sd=(pl.col("ss") / pl.col("mean_l")).sqrt())
    )
    for extra in (sd85, p_hat, rbar, rank_sd):
        consts = consts.join(extra, on=g, how="left", nulls_equal=True)
    return consts, rank_days


def _daily(base: pl.LazyFrame, g: list[str], gu: list[str]) -> pl.DataFrame:
    """Daily statistics (no p-values yet) with the helper df columns and group constants."""
    consts, rank_days = _group_constants(base, g, gu)
    sar = pl.col("sar")
    day = (
        base.filter(pl.col("phase") == "event")
        .group_by([*g, "rel_day"])
        .agg(
            session_date=pl.col("session_date").min(),
            n=_AR.count().cast(pl.Int64),
            mean_ar=_AR.mean(),
            sd_ar=_AR.std(ddof=1),
            n_sar=sar.count().cast(pl.Float64),
            mean_sar=sar.mean(),
            sd_sar=sar.std(ddof=1),
            sum_sar=sar.sum(),
            vfac=pl.col("vfac").filter(sar.is_not_null()).sum(),
            pos=(_AR > 0).sum().cast(pl.Float64),
        )
        .join(consts, on=g, how="left", nulls_equal=True)
        .join(rank_days, on=[*g, "rel_day"], how="left", nulls_equal=True)
    )
    n, p = pl.col("n").cast(pl.Float64), pl.col("p_hat")
    bmp = pl.col("mean_sar") / pl.col("sd_sar") * pl.col("n_sar").sqrt()
    statistics = {
        "bw1980": pl.col("mean_ar") / (pl.col("sum_var").sqrt() / pl.col("M")),
        "bw1985": pl.col("mean_ar") / pl.col("sd_bw1985"),
        "cs_t": pl.col("mean_ar") / pl.col("sd_ar") * n.sqrt(),
        "patell": pl.col("sum_sar") / pl.col("vfac").sqrt(),
        "bmp": bmp,
        "kp_bmp": bmp * _kp_factor(pl.col("rbar"), pl.col("n_sar")),
        "gen_sign": (pl.col("pos") - n * p) / (n * p * (1.0 - p)).sqrt(),
        "corrado_rank": pl.col("d") / pl.col("rank_sd"),
    }
    return (
        day.with_columns(finite(e).alias(name) for name, e in statistics.items())
        .with_columns(
            _df_bw=pl.col("mean_est_n") - 1.0, _df_cs=n - 1.0, _df_bmp=pl.col("n_sar") - 1.0
        )
        .sort([*g, "rel_day"])
        .collect(engine=ENGINE)
    )


def daily_tests(
    abnormal: pl.DataFrame, params: pl.DataFrame, group_keys: list[str], cfg: EventStudyConfig
) -> pl.DataFrame:
    """One row per group and event-window rel_day: every statistic and its p-value.

    Columns: group_keys, rel_day, session_date (earliest in the group that day), n (units
    with an AR), mean_ar, bw1980, p_bw1980, bw1985, p_bw1985, cs_t, p_cs_t, patell,
    p_patell, bmp, p_bmp, kp_bmp, p_kp_bmp, gen_sign, p_gen_sign, corrado_rank,
    p_corrado_rank, p_hat (pooled share of positive estimation ARs), rbar (KP's r̄).
    """
    base, g, gu = _base(abnormal, params, group_keys, cfg)
    day = with_p_values(_daily(base, g, gu), _P_SPECS)
    return day.select(*g, "rel_day", "session_date", "n", "mean_ar", *STAT_COLUMNS, "p_hat", "rbar")


def window_tests(
    abnormal: pl.DataFrame, params: pl.DataFrame, group_keys: list[str], cfg: EventStudyConfig
) -> pl.DataFrame:
    """One row per group and CAR window: n, caar and the window statistics with p-values.

    Columns: group_keys, window (e.g. 'car_0_p5'), win_start, win_end, n_days (days of the
    window with data), n (units with a complete CAR), caar, the statistics of
    ``daily_tests`` aggregated as in the module docstring, their p-values, p_hat, rbar. The
    day-sum statistics are null unless all L days have data.
    """
    base, g, gu = _base(abnormal, params, group_keys, cfg)
    day = _daily(base, g, gu)
    consts = day.group_by(g).agg(pl.col("p_hat", "rbar", "mean_est_n").first())
    unit = [*param_keys(params), "ticker"]
    cars = (
        base.select(gu)
        .unique()
        .join(car_table(abnormal, params, param_keys(params), cfg).lazy(), on=unit)
    )
    summed = ("bw1980", "bw1985", "patell", "corrado_rank")
    frames = []
    for order, (a, b) in enumerate(cfg.car_windows):
        name, length = window_name(a, b), b - a + 1
        sums = (
            day.lazy()
            .filter(pl.col("rel_day").is_between(a, b))
            .group_by(g)
            .agg(
                n_days=(pl.col("n") > 0).sum().cast(pl.Int64),
                **{f"s_{s}": _sorted(s) for s in summed},
            )
            .with_columns(pl.col(f"s_{s}").list.sum() for s in summed)
        )
        car, scar = pl.col(name), pl.col(f"t_{name}")
        cross = (
            cars.group_by(g)
            .agg(
                n=car.count().cast(pl.Int64),
                pos=(car > 0).sum().cast(pl.Float64),
                car=_sorted(name),
                scar=scar.filter(car.is_not_null()).drop_nulls().sort(),
            )
            .with_columns(
                caar=pl.col("car").list.mean(),
                sd=pl.col("car").list.std(ddof=1),
                ms=pl.col("scar").list.mean(),
                ss=pl.col("scar").list.std(ddof=1),
            )
            .drop("car", "scar")
        )
        n, p = pl.col("n").cast(pl.Float64), pl.col("p_hat")
        full = pl.col("n_days") == length
        bmp = pl.col("ms") / pl.col("ss") * n.sqrt()
        statistics = {
            **{s: pl.when(full).then(pl.col(f"s_{s}") / length**0.5) for s in summed},
            "cs_t": pl.col("caar") / pl.col("sd") * n.sqrt(),
            "bmp": bmp,
            "kp_bmp": bmp * _kp_factor(pl.col("rbar"), n),
            "gen_sign": (pl.col("pos") - n * p) / (n * p * (1.0 - p)).sqrt(),
        }
        frames.append(
            consts.lazy()
            .join(sums, on=g, how="left", nulls_equal=True)
            .join(cross, on=g, how="left", nulls_equal=True)
            .with_columns(finite(e).alias(s) for s, e in statistics.items())
            .with_columns(
                window=pl.lit(name),
                win_start=pl.lit(a, dtype=pl.Int64),
                win_end=pl.lit(b, dtype=pl.Int64),
                _order=pl.lit(order),
                _df_bw=pl.col("mean_est_n") - 1.0,
                _df_cs=n - 1.0,
                _df_bmp=n - 1.0,
            )
        )
    out = pl.concat(frames, how="diagonal_relaxed").sort([*g, "_order"]).collect(engine=ENGINE)
    out = with_p_values(out, _P_SPECS)
    return out.select(
        *g, "window", "win_start", "win_end", "n_days", "n", "caar", *STAT_COLUMNS, "p_hat", "rbar"
    )
