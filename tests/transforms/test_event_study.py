"""Per-security engine checked against independent computations (statsmodels, numpy)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import stats

from transforms.event_study import (
    EventStudyConfig,
    abnormal_returns,
    abnormal_volume,
    car_table,
    fit_normal_model,
    window_name,
)

KEYS = ["event_id"]
CFG = EventStudyConfig(
    estimation=(-80, -11),
    min_estimation=40,
    window=(-10, 10),
    car_windows=((0, 0), (-1, 1), (0, 5), (-3, 10)),
)
REL = np.arange(-90, 11)  # a few sessions before the estimation window, ignored


def make_panel(seed: int = 7) -> pl.DataFrame:
    """Two events x three tickers; TKB has gaps, TKC is thin, one market day is missing."""
    rng = np.random.default_rng(seed)
    rows = []
    for e, event in enumerate(["e1", "e2"]):
        mkt = rng.normal(0.0004, 0.011, REL.size)
        mkt[REL == -40] = np.nan  # benchmark missing that session
        for t, (ticker, a, b) in enumerate(
            [("TKA", 0.001, 1.2), ("TKB", -0.0005, 0.6), ("TKC", 0.0, 1.0)]
        ):
            ret = a + b * mkt + rng.normal(0, 0.015, REL.size)
            ret[REL == 2] += 0.05 * (t + 1)  # an event shock
            if ticker == "TKB":
                ret[rng.choice(np.flatnonzero(REL < -11), 9, replace=False)] = np.nan
            if ticker == "TKC":
                ret[(REL >= -80) & (REL < -40)] = np.nan  # only 29 valid estimation returns
            volume = np.exp(rng.normal(13 + t, 0.3, REL.size))
            volume[REL == 0] *= 3.0
            day0 = date(2024, 3, 1) + timedelta(days=30 * e)
            rows.append(
                pl.DataFrame(
                    {
                        "event_id": event,
                        "ticker": ticker,
                        "rel_day": REL,
                        "session_date": [day0 + timedelta(days=int(r)) for r in REL],
                        "ret": ret,
                        "mkt_ret": mkt,
                        "volume": volume,
                    }
                ).with_columns(pl.col("ret", "mkt_ret").fill_nan(None))
            )
    return pl.concat(rows)


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return make_panel()


@pytest.fixture(scope="module")
def params(panel: pl.DataFrame) -> pl.DataFrame:
    return fit_normal_model(panel, KEYS, CFG)


def unit_rows(frame: pl.DataFrame, event: str, ticker: str) -> pl.DataFrame:
    return frame.filter((pl.col("event_id") == event) & (pl.col("ticker") == ticker))


def estimation_sample(panel: pl.DataFrame, event: str, ticker: str) -> tuple[np.ndarray, ...]:
    rows = unit_rows(panel, event, ticker).filter(
        pl.col("rel_day").is_between(*CFG.estimation)
        & pl.col("ret").is_not_null()
        & pl.col("mkt_ret").is_not_null()
    )
    return rows["ret"].to_numpy(), rows["mkt_ret"].to_numpy()


def one(frame: pl.DataFrame, event: str, ticker: str) -> dict:
    return unit_rows(frame, event, ticker).row(0, named=True)


@pytest.mark.parametrize("event", ["e1", "e2"])
@pytest.mark.parametrize("ticker", ["TKA", "TKB"])
def test_market_model_matches_statsmodels(panel, params, event, ticker):
    y, x = estimation_sample(panel, event, ticker)
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    got = one(params, event, ticker)
    assert got["est_n"] == len(y) == fit.nobs
    assert got["alpha"] == pytest.approx(fit.params[0], abs=1e-12)
    assert got["beta"] == pytest.approx(fit.params[1], rel=1e-10)
    # sigma follows estudy2: sample s.d. of the residuals, n - 1 degrees of freedom
    assert got["sigma"] == pytest.approx(np.sqrt(fit.ssr / (fit.nobs - 1)), rel=1e-10)
    mkt = unit_rows(panel, event, ticker).filter(pl.col("rel_day").is_between(*CFG.estimation))
    m = mkt["mkt_ret"].drop_nulls().to_numpy()  # every estimation session of the benchmark
    assert got["mkt_mean"] == pytest.approx(m.mean(), rel=1e-12)
    assert got["mkt_ssd"] == pytest.approx(((m - m.mean()) ** 2).sum(), rel=1e-12)
    assert got["thin_estimation"] is False and got["model"] == "market"


def test_thin_estimation_nulls_everything(panel, params):
    got = one(params, "e1", "TKC")
    assert got["est_n"] == 29 < CFG.min_estimation
    assert got["thin_estimation"] is True
    assert got["alpha"] is None and got["beta"] is None and got["sigma"] is None
    ar = unit_rows(abnormal_returns(panel, params, KEYS, CFG), "e1", "TKC")
    assert ar["ar"].null_count() == ar.height and ar["car"].null_count() == ar.height
    cars = one(car_table(ar, params, KEYS, CFG), "e1", "TKC")
    assert all(v is None for k, v in cars.items() if k.startswith(("car_", "t_car", "p_car")))


def test_abnormal_and_standardised_returns(panel, params):
    ab = abnormal_returns(panel, params, KEYS, CFG)
    assert ab.columns == [
        "event_id",
        "ticker",
        "rel_day",
        "session_date",
        "phase",
        "ret",
        "mkt_ret",
        "ar",
        "sar",
        "car",
    ]
    assert ab["rel_day"].min() == CFG.estimation[0]  # rows before the estimation are dropped
    p = one(params, "e2", "TKA")
    rows = unit_rows(ab, "e2", "TKA")
    ret, mkt = rows["ret"].to_numpy(), rows["mkt_ret"].to_numpy()
    ar = ret - p["alpha"] - p["beta"] * mkt
    scale = np.sqrt(1 + 1 / p["est_n"] + (mkt - p["mkt_mean"]) ** 2 / p["mkt_ssd"])
    np.testing.assert_allclose(rows["ar"].to_numpy(), ar, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rows["sar"].to_numpy(), ar / (p["sigma"] * scale), rtol=1e-10)
    event = rows.filter(pl.col("phase") == "event")
    np.testing.assert_allclose(event["car"].to_numpy(), np.cumsum(event["ar"].to_numpy()))
    assert rows.filter(pl.col("phase") == "estimation")["car"].null_count() == 70


@pytest.mark.parametrize("model", ["mean_adjusted", "market_adjusted"])
def test_other_models_by_hand(panel, model):
    cfg = EventStudyConfig(
        model=model,
        estimation=CFG.estimation,
        min_estimation=40,
        window=CFG.window,
        car_windows=CFG.car_windows,
    )
    params = fit_normal_model(panel, KEYS, cfg)
    ab = abnormal_returns(panel, params, KEYS, cfg)
    rows = unit_rows(panel, "e1", "TKB").filter(pl.col("rel_day") >= CFG.estimation[0])
    ret, mkt = rows["ret"].to_numpy(), rows["mkt_ret"].to_numpy()
    est = rows["rel_day"].to_numpy() <= CFG.estimation[1]
    got = one(params, "e1", "TKB")
    if model == "mean_adjusted":
        sample = ret[est & ~np.isnan(ret)]  # the benchmark is not needed
        expected = ret - sample.mean()
        assert got["beta"] is None and got["alpha"] == pytest.approx(sample.mean())
        scale = np.sqrt(1 + 1 / sample.size)
    else:
        ok = est & ~np.isnan(ret) & ~np.isnan(mkt)
        sample = ret[ok] - mkt[ok]
        expected = ret - mkt
        assert (got["alpha"], got["beta"]) == (0.0, 1.0)
        scale = 1.0
    assert got["est_n"] == sample.size
    assert got["sigma"] == pytest.approx(sample.std(ddof=1), rel=1e-12)
    abr = unit_rows(ab, "e1", "TKB")
    np.testing.assert_allclose(abr["ar"].to_numpy(), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(abr["sar"].to_numpy(), expected / (got["sigma"] * scale), rtol=1e-10)
    # CAR t statistic: sigma^2 (L + L^2/T) for mean-adjusted, sigma^2 L for market-adjusted
    cars = one(car_table(ab, params, KEYS, cfg), "e1", "TKB")
    win = (abr["rel_day"] >= 0) & (abr["rel_day"] <= 5)
    car = abr.filter(win)["ar"].sum()
    var = 6 + (36 / sample.size if model == "mean_adjusted" else 0)
    assert cars["car_0_p5"] == pytest.approx(car, rel=1e-12)
    assert cars["t_car_0_p5"] == pytest.approx(car / (got["sigma"] * np.sqrt(var)), rel=1e-10)


def test_car_and_t_statistic_by_hand(panel, params):
    ab = abnormal_returns(panel, params, KEYS, CFG)
    cars = car_table(ab, params, KEYS, CFG)
    assert cars.columns[:5] == ["event_id", "ticker", "car_0_0", "t_car_0_0", "p_car_0_0"]
    assert {"car_m1_p1", "car_0_p5", "car_m3_p10"} <= set(cars.columns)
    p = one(params, "e1", "TKB")
    rows = unit_rows(ab, "e1", "TKB")
    for a, b in CFG.car_windows:
        w = rows.filter(pl.col("rel_day").is_between(a, b))
        ar, mkt, length, t = w["ar"].to_numpy(), w["mkt_ret"].to_numpy(), b - a + 1, p["est_n"]
        # variance of a sum of L OLS prediction errors
        var = p["sigma"] ** 2 * (
            length + length**2 / t + (mkt.sum() - length * p["mkt_mean"]) ** 2 / p["mkt_ssd"]
        )
        got = one(cars, "e1", "TKB")
        name = window_name(a, b)
        assert got[name] == pytest.approx(ar.sum(), rel=1e-12)
        assert got[f"t_{name}"] == pytest.approx(ar.sum() / np.sqrt(var), rel=1e-10)
        p_val = 2 * stats.t.sf(abs(ar.sum() / np.sqrt(var)), t - 2)
        assert got[f"p_{name}"] == pytest.approx(p_val, rel=1e-8)
    assert one(cars, "e2", "TKA")["car_0_0"] == pytest.approx(
        one(ab.filter(pl.col("rel_day") == 0), "e2", "TKA")["ar"]
    )


def test_incomplete_car_window_is_null(panel, params):
    short = panel.filter(pl.col("rel_day") <= 3)  # the event is only 3 sessions old
    ab = abnormal_returns(short, params, KEYS, CFG)
    got = one(car_table(ab, params, KEYS, CFG), "e1", "TKA")
    assert got["car_m1_p1"] is not None
    assert got["car_0_p5"] is None and got["t_car_0_p5"] is None and got["p_car_0_p5"] is None


def test_abnormal_volume_matches_numpy(panel):
    got = one(abnormal_volume(panel, KEYS, CFG), "e2", "TKB")
    rows = unit_rows(panel, "e2", "TKB")
    lv = np.log1p(rows["volume"].to_numpy())
    rel = rows["rel_day"].to_numpy()
    est = lv[(rel >= -80) & (rel <= -11)]
    expected = (lv[rel == 0][0] - est.mean()) / est.std(ddof=1)
    assert got["volume_est_n"] == 70
    assert got["abnormal_volume"] == pytest.approx(expected, rel=1e-10)
    assert got["abnormal_volume"] > 2  # day-0 volume was tripled
    with pytest.raises(ValueError, match="volume"):
        abnormal_volume(panel.drop("volume"), KEYS, CFG)


def test_config_validation_and_names():
    assert [window_name(a, b) for a, b in EventStudyConfig().car_windows] == [
        "car_0_0",
        "car_m1_p1",
        "car_0_p1",
        "car_0_p5",
        "car_0_p10",
        "car_m5_p20",
    ]
    with pytest.raises(ValueError, match="estimation"):
        EventStudyConfig(estimation=(-250, -5), window=(-10, 20))
    with pytest.raises(ValueError, match="car window"):
        EventStudyConfig(car_windows=((0, 30),))
    with pytest.raises(ValueError, match="model"):
        EventStudyConfig(model="fama_french")  # type: ignore[arg-type]


def test_flag_windows_are_validated():
    cfg = EventStudyConfig()
    assert (cfg.confound_window, cfg.contamination_window) == ((-1, 1), (-1, 5))
    with pytest.raises(ValueError, match="confound_window"):
        EventStudyConfig(confound_window=(1, -1))
    with pytest.raises(ValueError, match="contamination_window"):
        EventStudyConfig(contamination_window=(5, -1))


def test_models_from_lists_every_model_once_the_default_first():
    from transforms.event_study import MODELS, models_from

    for default in MODELS:
        order = models_from(default)
        assert order[0] == default and sorted(order) == sorted(MODELS)
