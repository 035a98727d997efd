"""Event-study engine: normal-return models, abnormal returns, CARs and abnormal volume.

Pure polars, one long "panel" frame in (one row per caller key, ticker and session offset
``rel_day`` from day 0 on the security's own exchange), frames out. A *unit* is one
security in one study: the caller's ``keys`` plus ``ticker``.

Conventions follow R's estudy2 (Rudnytskyi), so that its published vignette is reproduced
(tests/transforms/test_event_tests.py); where estudy2 has no convention we use the textbook
(MacKinlay 1997; Campbell, Lo & MacKinlay 1997) one:

* estimation sample: ``rel_day`` in ``cfg.estimation``; a return counts when ``ret`` (and,
  except for the mean-adjusted model, ``mkt_ret``) is non-null; ``est_n`` counts them.
* market model: OLS of ret on mkt_ret in closed form, beta = cov/var, alpha = ȳ − beta·x̄.
  mean-adjusted: alpha = mean return, beta null. market-adjusted: alpha 0, beta 1.
* sigma: sample standard deviation (n − 1) of the estimation-window abnormal returns, as
  estudy2's ``sd()`` (not the n − 2 textbook residual s.e.; that would move Patell/BMP in
  the third decimal and break the reproduction).
* mkt_mean, mkt_ssd: mean and sum of squared deviations of the benchmark over every
  estimation row where it is non-null (estudy2 uses the whole regressor window, not only the
  security's complete cases — it matters for late listings such as ZM and UBER).
* thin_estimation: est_n < cfg.min_estimation; alpha, beta and sigma are then null, so the
  unit has null AR and leaves every statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import polars as pl
from scipy import stats

Model = Literal["market", "market_adjusted", "mean_adjusted"]

#: Degrees of freedom each model spends in the estimation window (t p-values, Patell's
#: variance factor (T−k)/(T−k−2)). The market-adjusted model estimates nothing, but sigma
#: is a sample s.d. around the AR mean, so it loses one.
DF_LOST: dict[str, int] = {"market": 2, "mean_adjusted": 1, "market_adjusted": 1}
#: The normal-return models, the default first.
MODELS: tuple[str, ...] = ("market", "market_adjusted", "mean_adjusted")


def models_from(default: str) -> tuple[str, ...]:
    """Every model, ``default`` first: the order the marts list them in (``default_model``)."""
    return (default, *(m for m in MODELS if m != default))

#: Polars engine for every ``collect``: the in-memory engine aggregates floats in a fixed
#: order, so a rerun gives bit-identical marts (polars' default streaming engine combines
#: partial sums in thread-completion order, which moves the last bits from run to run).
ENGINE = "in-memory"

#: Columns of ``fit_normal_model``'s output besides the caller's keys.
PARAM_COLUMNS: tuple[str, ...] = (
    "ticker",
    "model",
    "alpha",
    "beta",
    "sigma",
    "est_n",
    "mkt_mean",
    "mkt_ssd",
    "thin_estimation",
)


@dataclass(frozen=True)
class EventStudyConfig:
    """Model and windows, in sessions relative to day 0 (both ends inclusive)."""

    model: Model = "market"
    estimation: tuple[int, int] = (-250, -11)
    min_estimation: int = 120
    window: tuple[int, int] = (-10, 20)
    car_windows: tuple[tuple[int, int], ...] = (
        (0, 0),
        (-1, 1),
        (0, 1),
        (0, 5),
        (0, 10),
        (-5, 20),
    )
    #: Another catalog event whose day 0 on the same venue falls in this range of sessions
    #: around day 0 confounds the reaction (``confounded``).
    confound_window: tuple[int, int] = (-1, 1)
    #: The part of another catalog event's window (sessions around its day 0) that must not
    #: fall inside the estimation window (``estimation_overlap``).
    contamination_window: tuple[int, int] = (-1, 5)

    def __post_init__(self) -> None:
        """Reject configurations the statistics cannot honour, naming the field."""
        if self.model not in DF_LOST:
            raise ValueError(f"model must be one of {sorted(DF_LOST)}, not {self.model!r}")
        (elo, ehi), (wlo, whi) = self.estimation, self.window
        if not elo <= ehi < wlo <= whi:
            raise ValueError(
                f"need estimation start <= end < window start <= end; got estimation="
                f"{self.estimation}, window={self.window}"
            )
        if self.min_estimation < DF_LOST[self.model] + 3:
            raise ValueError(f"min_estimation must be >= {DF_LOST[self.model] + 3}")
        for a, b in self.car_windows:
            if not wlo <= a <= b <= whi:
                raise ValueError(f"car window {(a, b)} is not inside window {self.window}")
        for field in ("confound_window", "contamination_window"):
            a, b = getattr(self, field)
            if a > b:
                raise ValueError(f"{field} start must be <= end; got {(a, b)}")


def window_name(a: int, b: int) -> str:
    """Column-safe name of a CAR window: (-1, 1) -> 'car_m1_p1', (0, 5) -> 'car_0_p5'."""

    def tok(d: int) -> str:
        return "0" if d == 0 else f"{'m' if d < 0 else 'p'}{abs(d)}"

    return f"car_{tok(a)}_{tok(b)}"


def param_keys(params: pl.DataFrame) -> list[str]:
    """The caller's key columns of a params frame (everything but ``PARAM_COLUMNS``)."""
    return [c for c in params.columns if c not in PARAM_COLUMNS]


def finite(expr: pl.Expr) -> pl.Expr:
    """Null where an expression is NaN or ±inf (a zero variance, an empty group)."""
    return pl.when(expr.is_finite()).then(expr)


def with_p_values(frame: pl.DataFrame, specs: list[tuple[str, str, str | None]]) -> pl.DataFrame:
    """Add two-sided p-values: (stat column, p column, df column or None for normal)."""
    cols = []
    for stat, p_col, df_col in specs:
        x = np.abs(frame[stat].cast(pl.Float64).to_numpy())
        if df_col is None:
            p = 2.0 * stats.norm.sf(x)
        else:
            df = frame[df_col].cast(pl.Float64).to_numpy()
            with np.errstate(invalid="ignore"):
                p = 2.0 * stats.t.sf(x, np.where(df > 0, df, np.nan))
        cols.append(pl.Series(p_col, p, dtype=pl.Float64).fill_nan(None))
    return frame.with_columns(cols)


def _valid_return(model: str) -> pl.Expr:
    """A usable estimation observation: both returns, or just ret for mean-adjusted."""
    ok = pl.col("ret").is_not_null()
    return ok if model == "mean_adjusted" else ok & pl.col("mkt_ret").is_not_null()


def fit_normal_model(panel: pl.DataFrame, keys: list[str], cfg: EventStudyConfig) -> pl.DataFrame:
    """Estimate the normal-return model per unit over ``cfg.estimation``; one row per unit.

    Columns: keys, ticker, model, alpha, beta, sigma, est_n, mkt_mean, mkt_ssd,
    thin_estimation. Every unit of the panel gets a row (est_n 0 if it has no estimation
    data).
    """
    unit = [*keys, "ticker"]
    in_est = pl.col("rel_day").is_between(*cfg.estimation)
    valid = in_est & _valid_return(cfg.model)
    y = pl.col("ret").filter(valid)
    x = pl.col("mkt_ret").filter(valid)
    if cfg.model == "market":
        beta = pl.cov(x, y, ddof=1) / x.var(ddof=1)
        alpha = y.mean() - beta * x.mean()
        resid = y - alpha - beta * x
    elif cfg.model == "mean_adjusted":
        beta = pl.lit(None, dtype=pl.Float64)
        alpha = y.mean()
        resid = y - alpha
    else:
        beta = pl.lit(1.0)
        alpha = pl.lit(0.0)
        resid = y - x
    m = pl.col("mkt_ret").filter(in_est & pl.col("mkt_ret").is_not_null())
    thin = pl.col("est_n") < cfg.min_estimation
    return (
        panel.lazy()
        .group_by(unit, maintain_order=True)
        .agg(
            alpha=alpha,
            beta=beta,
            sigma=resid.std(ddof=1),
            est_n=valid.sum().cast(pl.Int64),
            mkt_mean=m.mean(),
            mkt_ssd=((m - m.mean()) ** 2).sum(),
        )
        .with_columns(thin_estimation=thin)
        .with_columns(
            pl.when(~pl.col("thin_estimation")).then(finite(pl.col(c))).alias(c)
            for c in ("alpha", "beta", "sigma")
        )
        .select(*unit, pl.lit(cfg.model).alias("model"), *PARAM_COLUMNS[2:])
        .collect(engine=ENGINE)
    )


def forecast_scale(model: str) -> pl.Expr:
    """sqrt of the forecast-error variance factor of a one-day AR (needs params columns).

    market: 1 + 1/T + (Rm_t − mean Rm)² / SSD_Rm (Patell 1976); mean-adjusted: 1 + 1/T;
    market-adjusted: 1 (nothing estimated).
    """
    t = pl.col("est_n").cast(pl.Float64)
    if model == "market":
        dev = pl.col("mkt_ret") - pl.col("mkt_mean")
        return (1.0 + 1.0 / t + dev**2 / pl.col("mkt_ssd")).sqrt()
    if model == "mean_adjusted":
        return (1.0 + 1.0 / t).sqrt()
    return pl.lit(1.0)


def abnormal_returns(
    panel: pl.DataFrame, params: pl.DataFrame, keys: list[str], cfg: EventStudyConfig
) -> pl.DataFrame:
    """AR, standardised AR and running CAR for every estimation and event-window row.

    Columns: keys, ticker, rel_day, session_date, phase ('estimation'|'event'), ret, mkt_ret,
    ar, sar, car. ``sar`` = ar / (sigma · forecast_scale); ``car`` is the cumulative AR from
    ``cfg.window[0]`` (event rows only; null on a day whose AR is null, skipped in the sum).
    Rows outside both windows are dropped; a thin unit keeps its rows with null AR.
    """
    unit = [*keys, "ticker"]
    (elo, ehi), (wlo, whi) = cfg.estimation, cfg.window
    rel = pl.col("rel_day")
    phase = (
        pl.when(rel.is_between(wlo, whi))
        .then(pl.lit("event"))
        .when(rel.is_between(elo, ehi))
        .then(pl.lit("estimation"))
    )
    ar = pl.col("ret") - pl.col("alpha")
    if cfg.model != "mean_adjusted":
        ar = ar - pl.col("beta") * pl.col("mkt_ret")
    is_event = pl.col("phase") == "event"
    running = pl.col("ar").fill_null(0.0).cum_sum().over([*unit, "phase"])
    return (
        panel.lazy()
        .select(*unit, "rel_day", "session_date", "ret", "mkt_ret")
        .with_columns(phase=phase)
        .filter(pl.col("phase").is_not_null())
        .join(params.lazy().drop("model", "thin_estimation"), on=unit, how="left")
        .with_columns(ar=ar)
        .with_columns(sar=finite(pl.col("ar") / (pl.col("sigma") * forecast_scale(cfg.model))))
        .sort([*unit, "rel_day"])
        .with_columns(car=pl.when(is_event & pl.col("ar").is_not_null()).then(running))
        .select(*unit, "rel_day", "session_date", "phase", "ret", "mkt_ret", "ar", "sar", "car")
        .collect(engine=ENGINE)
    )


def car_variance_factor(model: str, length: int, mkt_sum: pl.Expr) -> pl.Expr:
    """Var(CAR)/sigma² over an L-day window, with the estimation error of the parameters.

    market: L + L²/T + (ΣRm − L·mean Rm)² / SSD_Rm (the variance of a sum of L OLS
    prediction errors); mean-adjusted: L + L²/T; market-adjusted: L.
    """
    t = pl.col("est_n").cast(pl.Float64)
    if model == "market":
        dev = mkt_sum - length * pl.col("mkt_mean")
        return length + length**2 / t + dev**2 / pl.col("mkt_ssd")
    if model == "mean_adjusted":
        return length + length**2 / t
    return pl.lit(float(length))


def car_table(
    abnormal: pl.DataFrame, params: pl.DataFrame, keys: list[str], cfg: EventStudyConfig
) -> pl.DataFrame:
    """Per unit and CAR window: car_<w>, its t statistic t_car_<w> and p-value p_car_<w>.

    CAR(a,b) = Σ AR over rel_day a..b, only when all L = b−a+1 days have an AR (else null,
    e.g. a window not yet complete). t = CAR / (sigma·sqrt(car_variance_factor)); p is
    two-sided Student t with est_n − DF_LOST[model] degrees of freedom. Null when thin.
    """
    unit = [*keys, "ticker"]
    rel = pl.col("rel_day")
    aggs: list[pl.Expr] = []
    for a, b in cfg.car_windows:
        name, inw = window_name(a, b), rel.is_between(a, b)
        aggs += [
            pl.col("ar").filter(inw).sum().alias(name),
            pl.col("ar").filter(inw).count().alias(f"_n_{name}"),
            pl.col("mkt_ret").filter(inw & pl.col("ar").is_not_null()).sum().alias(f"_m_{name}"),
        ]
    sums = abnormal.lazy().filter(pl.col("phase") == "event").group_by(unit).agg(aggs)
    frame = params.lazy().join(sums, on=unit, how="left")
    out: list[pl.Expr] = []
    specs: list[tuple[str, str, str | None]] = []
    for a, b in cfg.car_windows:
        name, length = window_name(a, b), b - a + 1
        car = pl.when(pl.col(f"_n_{name}") == length).then(pl.col(name))
        var = pl.col("sigma") ** 2 * car_variance_factor(cfg.model, length, pl.col(f"_m_{name}"))
        out += [car.alias(name), finite(car / var.sqrt()).alias(f"t_{name}")]
        specs.append((f"t_{name}", f"p_{name}", "_df"))
    df = (pl.col("est_n") - DF_LOST[cfg.model]).alias("_df")
    result = frame.select(*unit, df, *out).collect(engine=ENGINE)
    result = with_p_values(result, specs)
    order = [c for a, b in cfg.car_windows for c in _car_cols(window_name(a, b))]
    return result.select(*unit, *order)


def _car_cols(name: str) -> tuple[str, str, str]:
    return name, f"t_{name}", f"p_{name}"


def abnormal_volume(panel: pl.DataFrame, keys: list[str], cfg: EventStudyConfig) -> pl.DataFrame:
    """Day-0 trading volume against the estimation window, in estimation s.d. of log volume.

    abnormal_volume = (log(1+V_0) − mean_est log(1+V)) / sd_est log(1+V) (sd with n − 1);
    null when day 0 has no volume or fewer than cfg.min_estimation estimation volumes.
    Columns: keys, ticker, log_volume_0, log_volume_mean, log_volume_sd, volume_est_n,
    abnormal_volume.
    """
    if "volume" not in panel.columns:
        raise ValueError("abnormal_volume needs a 'volume' column in the panel")
    unit = [*keys, "ticker"]
    lv = finite(pl.col("volume").cast(pl.Float64).log1p())
    est = lv.filter(pl.col("rel_day").is_between(*cfg.estimation) & lv.is_not_null())
    enough = pl.col("volume_est_n") >= cfg.min_estimation
    z = (pl.col("log_volume_0") - pl.col("log_volume_mean")) / pl.col("log_volume_sd")
    return (
        panel.lazy()
        .group_by(unit, maintain_order=True)
        .agg(
            log_volume_0=lv.filter(pl.col("rel_day") == 0).first(),
            log_volume_mean=est.mean(),
            log_volume_sd=est.std(ddof=1),
            volume_est_n=est.count().cast(pl.Int64),
        )
        .with_columns(abnormal_volume=pl.when(enough).then(finite(z)))
        .collect(engine=ENGINE)
    )


def wide_to_panel(
    wide: pl.DataFrame,
    benchmark: str,
    estimation: tuple[date, date],
    window: tuple[date, date],
    model: Model = "market",
    min_estimation: int = 120,
) -> tuple[pl.DataFrame, EventStudyConfig]:
    """Long panel (key ``study``) and config for a wide frame of returns, by calendar dates.

    ``wide``: a ``date`` column and one return column per security, ``benchmark`` among them
    (nulls = missing). rel_day counts rows from the first row on/after ``window[0]``; the
    config's estimation/event ranges are the rows whose dates fall in ``estimation`` /
    ``window`` (inclusive ``(start, end)`` dates), with one CAR window spanning the event.
    """
    frame = wide.sort("date").with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    d, row = pl.col("date"), pl.col("_row")
    bounds = frame.select(
        w0=row.filter(d >= window[0]).min(),
        w1=row.filter(d <= window[1]).max(),
        e0=row.filter(d >= estimation[0]).min(),
        e1=row.filter(d <= estimation[1]).max(),
    ).row(0, named=True)
    if any(v is None for v in bounds.values()):
        raise ValueError("estimation or event window has no rows in the wide frame")
    w0, last = bounds["w0"], bounds["w1"] - bounds["w0"]
    cfg = EventStudyConfig(
        model=model,
        estimation=(bounds["e0"] - w0, bounds["e1"] - w0),
        min_estimation=min_estimation,
        window=(0, last),
        car_windows=((0, last),),
    )
    securities = [c for c in wide.columns if c not in ("date", benchmark)]
    panel = frame.unpivot(
        on=securities, index=["date", "_row", benchmark], variable_name="ticker", value_name="ret"
    ).select(
        pl.lit("study").alias("study"),
        "ticker",
        (row - w0).alias("rel_day"),
        d.alias("session_date"),
        pl.col("ret").cast(pl.Float64),
        pl.col(benchmark).cast(pl.Float64).alias("mkt_ret"),
    )
    return panel, cfg


def study_wide(
    wide: pl.DataFrame,
    benchmark: str,
    estimation: tuple[date, date],
    window: tuple[date, date],
    model: Model = "market",
    min_estimation: int = 120,
) -> pl.DataFrame:
    """Run the panel engine on a wide frame of returns (estudy2's interface), one event.

    See ``wide_to_panel`` for the layout. Returns one row per event-window date: date, n,
    mean_ar, every statistic of ``daily_tests`` with its p-value, and p_hat and rbar.
    """
    return study_wide_report(wide, benchmark, estimation, window, model, min_estimation)[0]


def study_wide_report(
    wide: pl.DataFrame,
    benchmark: str,
    estimation: tuple[date, date],
    window: tuple[date, date],
    model: Model = "market",
    min_estimation: int = 120,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``study_wide``'s rows, and :func:`left_out` of the same study: who is missing from
    which statistic, and why."""
    from transforms.event_tests import STAT_COLUMNS, daily_tests

    panel, cfg = wide_to_panel(wide, benchmark, estimation, window, model, min_estimation)
    params = fit_normal_model(panel, ["study"], cfg)
    abnormal = abnormal_returns(panel, params, ["study"], cfg)
    daily = daily_tests(abnormal, params, ["study"], cfg)
    return daily.select(
        pl.col("session_date").alias("date"), "n", "mean_ar", *STAT_COLUMNS, "p_hat", "rbar"
    ), left_out(abnormal, params, cfg).drop("study")


#: Columns of :func:`left_out` besides the unit keys.
LEFT_OUT_COLUMNS = ("ticker", "est_n", "window_days", "days_with_ar", "left_out", "reason")


def left_out(abnormal: pl.DataFrame, params: pl.DataFrame, cfg: EventStudyConfig
             ) -> pl.DataFrame:
    """One row per unit that is missing from a statistic, with why, so a cross-section that
    shrank says who left it: ``left_out`` is ``every statistic`` (too few valid estimation
    returns, or estimation abnormal returns that do not vary: ``daily_tests`` needs sigma > 0)
    or ``some dates`` (no abnormal return on those window dates: the security's return or the
    benchmark's is missing there); ``reason`` says which, naming up to five dates."""
    keys = param_keys(params)
    unit = [*keys, "ticker"]
    event = abnormal.filter(pl.col("phase") == "event")
    no_ar = pl.col("ar").is_null()

    def dates(when: pl.Expr) -> pl.Expr:
        picked = pl.col("session_date").filter(when).sort()
        return (picked.head(5).cast(pl.String).str.join(", ")
                + pl.when(picked.len() > 5).then(pl.lit(", …")).otherwise(pl.lit("")))

    days = event.group_by(unit).agg(
        window_days=pl.len().cast(pl.Int64),
        days_with_ar=(~no_ar).sum().cast(pl.Int64),
        _no_ret=(no_ar & pl.col("ret").is_null()).sum(),
        _no_mkt=(no_ar & pl.col("ret").is_not_null()).sum(),
        _no_ret_dates=dates(no_ar & pl.col("ret").is_null()),
        _no_mkt_dates=dates(no_ar & pl.col("ret").is_not_null()),
    )
    flat = (pl.col("sigma").is_null() | (pl.col("sigma") <= 0)) & ~pl.col("thin_estimation")
    missing = pl.col("days_with_ar") < pl.col("window_days")
    gaps = pl.concat_str(
        pl.when(pl.col("_no_ret") > 0).then(pl.format(
            "no return on {} of {} window dates ({})", "_no_ret", "window_days",
            "_no_ret_dates")),
        pl.when(pl.col("_no_mkt") > 0).then(pl.format(
            "no benchmark return on {} of {} window dates ({})", "_no_mkt", "window_days",
            "_no_mkt_dates")),
        separator="; ", ignore_nulls=True)
    return (
        params.select(*unit, "est_n", "sigma", "thin_estimation")
        .join(days, on=unit, how="left", nulls_equal=True)
        .with_columns(pl.col("window_days", "days_with_ar").fill_null(0))
        .filter(pl.col("thin_estimation") | flat | missing)
        .with_columns(
            left_out=pl.when(pl.col("thin_estimation") | flat).then(pl.lit("every statistic"))
            .otherwise(pl.lit("some dates")),
            reason=pl.when(pl.col("thin_estimation")).then(pl.format(
                "{} valid estimation returns, fewer than the {} required", "est_n",
                pl.lit(cfg.min_estimation)))
            .when(flat).then(pl.lit("its estimation abnormal returns do not vary (sigma 0)"))
            .otherwise(gaps),
        )
        .sort(unit)
        .select(*keys, *LEFT_OUT_COLUMNS)
    )
