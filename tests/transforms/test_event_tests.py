"""Cross-sectional tests: estudy2's published vignette, and independent numpy checks."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy import stats

from transforms.event_study import (
    EventStudyConfig,
    abnormal_returns,
    car_table,
    fit_normal_model,
    study_wide,
    wide_to_panel,
)
from transforms.event_tests import daily_tests, window_tests

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("AFTERSHOCK_SHARED", REPO / ".." / "shared"))
RATES = SHARED / "reference" / "estudy2" / "rates.csv"

ESTIMATION = (date(2019, 4, 1), date(2020, 3, 13))
EVENT = (date(2020, 3, 16), date(2020, 3, 20))

# estudy2 vignette (parametric_tests / nonparametric_tests on rates.csv), as published.
# Columns: mean AR, BW1980, BW1985, cross-sectional t, Patell, BMP, generalized sign, rank.
COLUMNS = ["mean_ar", "bw1980", "bw1985", "cs_t", "patell", "bmp", "gen_sign", "corrado_rank"]
PUBLISHED = {
    date(2020, 3, 16): "0.02329740 2.486449 1.858514 1.3941497 2.5507399 1.20471169 1.1516761 "
    "0.7962064",
    date(2020, 3, 17): "-0.03157867 -3.370281 -2.519140 -1.2769075 -2.9495613 -1.17531339 "
    "0.3957301 -0.1857202",
    date(2020, 3, 18): "-0.01617850 -1.726675 -1.290615 -0.4023135 0.3283654 0.07606284 "
    "1.1516761 1.0205417",
    date(2020, 3, 19): "0.07672027 8.188085 6.120241 1.7958275 8.4216222 2.16657728 1.9076220 "
    "2.1127972",
    date(2020, 3, 20): "0.05840545 6.233409 4.659205 5.1233281 6.3196352 8.65212561 2.6635680 "
    "2.9255529",
}


def printed_tolerance(text: str) -> float:
    """Half a unit in the last printed digit (a little slack for float noise), <= 1e-6 here."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals * (1 + 1e-6) + 1e-12


needs_reference = pytest.mark.skipif(
    not RATES.is_file(), reason=f"estudy2 reference data not found at {RATES}"
)


@pytest.fixture(scope="module")
def rates() -> pl.DataFrame:
    return pl.read_csv(RATES, try_parse_dates=True)


@needs_reference
def test_reproduces_estudy2_vignette(rates):
    out = study_wide(rates, "GSPC", ESTIMATION, EVENT)
    assert out["date"].to_list() == list(PUBLISHED)
    assert out["n"].to_list() == [7] * 5
    for day, line in PUBLISHED.items():
        got = out.filter(pl.col("date") == day).row(0, named=True)
        for col, text in zip(COLUMNS, line.split(), strict=True):
            assert got[col] == pytest.approx(float(text), abs=printed_tolerance(text)), (day, col)
    # the pooled share of positive estimation ARs behind the generalized sign test
    assert out["p_hat"][0] == pytest.approx(0.496644, abs=printed_tolerance("0.496644"))
    for col in [c for c in out.columns if c.startswith("p_") and c != "p_hat"]:
        assert out[col].is_between(0, 1).all(), col


@needs_reference
def test_estudy2_market_model_parameters(rates):
    panel, cfg = wide_to_panel(rates, "GSPC", ESTIMATION, EVENT)
    assert cfg.window == (0, 4)
    params = fit_normal_model(panel, ["study"], cfg)
    amzn = params.filter(pl.col("ticker") == "AMZN").row(0, named=True)
    assert amzn["alpha"] == pytest.approx(0.000134189, abs=printed_tolerance("0.000134189"))
    assert amzn["beta"] == pytest.approx(0.864635, abs=printed_tolerance("0.864635"))
    # late listings are estimated on their complete cases only
    est_n = dict(params.select("ticker", "est_n").iter_rows())
    assert est_n["AMZN"] == 240 and est_n["ZM"] < est_n["AMZN"] and est_n["UBER"] < est_n["ZM"]


# --- independent checks on a synthetic, cross-correlated panel ---------------------------

CFG = EventStudyConfig(
    estimation=(-120, -11), min_estimation=60, window=(-5, 5), car_windows=((0, 0), (-1, 2))
)
TICKERS = ["A", "B", "C", "D", "E", "F"]


def make_panel(seed: int = 11) -> pl.DataFrame:
    """Two events x six securities sharing an industry factor (residuals correlate)."""
    rng = np.random.default_rng(seed)
    rel = np.arange(-120, 6)
    frames = []
    for event in ["ev1", "ev2"]:
        mkt = rng.normal(0.0003, 0.01, rel.size)
        industry = rng.normal(0, 0.008, rel.size)
        for i, ticker in enumerate(TICKERS):
            ret = 0.0002 * i + (0.6 + 0.15 * i) * mkt + industry
            ret = ret + rng.normal(0, 0.012, rel.size) + np.where(rel == 1, 0.02, 0.0)
            frames.append(
                pl.DataFrame(
                    {
                        "event_id": event,
                        "ticker": ticker,
                        "rel_day": rel,
                        "session_date": pl.date_range(
                            date(2023, 1, 1), date(2023, 5, 6), eager=True
                        ),
                        "ret": ret,
                        "mkt_ret": mkt,
                    }
                )
            )
    return pl.concat(frames)


@pytest.fixture(scope="module")
def study() -> tuple[pl.DataFrame, pl.DataFrame]:
    panel = make_panel()
    params = fit_normal_model(panel, ["event_id"], CFG)
    return params, abnormal_returns(panel, params, ["event_id"], CFG)


def matrix(abnormal: pl.DataFrame, event: str, phase: str, col: str = "ar") -> np.ndarray:
    """Days x securities matrix of one event's ARs (or SARs)."""
    return (
        abnormal.filter((pl.col("event_id") == event) & (pl.col("phase") == phase))
        .pivot(on="ticker", index="rel_day", values=col)
        .sort("rel_day")
        .select(TICKERS)
        .to_numpy()
    )


@pytest.mark.parametrize("event", ["ev1", "ev2"])
def test_kolari_pynnonen_adjustment(study, event):
    params, abnormal = study
    daily = daily_tests(abnormal, params, ["event_id"], CFG).filter(pl.col("event_id") == event)
    corr = np.corrcoef(matrix(abnormal, event, "estimation"), rowvar=False)
    rbar = corr[np.triu_indices(len(TICKERS), k=1)].mean()
    assert rbar > 0.1  # the industry factor is there
    assert daily["rbar"][0] == pytest.approx(rbar, rel=1e-10)
    sar = matrix(abnormal, event, "event", "sar")
    n = len(TICKERS)
    bmp = sar.mean(axis=1) / sar.std(axis=1, ddof=1) * np.sqrt(n)
    kp = bmp * np.sqrt((1 - rbar) / (1 + (n - 1) * rbar))
    np.testing.assert_allclose(daily["bmp"].to_numpy(), bmp, rtol=1e-10)
    np.testing.assert_allclose(daily["kp_bmp"].to_numpy(), kp, rtol=1e-10)
    np.testing.assert_allclose(
        daily["p_kp_bmp"].to_numpy(), 2 * stats.t.sf(np.abs(kp), n - 1), rtol=1e-8
    )


def test_daily_statistics_by_hand(study):
    params, abnormal = study
    daily = daily_tests(abnormal, params, ["event_id"], CFG).filter(pl.col("event_id") == "ev2")
    est, ev = matrix(abnormal, "ev2", "estimation"), matrix(abnormal, "ev2", "event")
    sar = matrix(abnormal, "ev2", "event", "sar")
    p = params.filter(pl.col("event_id") == "ev2")
    sigma, t = p["sigma"].to_numpy(), p["est_n"].to_numpy()
    n = len(TICKERS)
    mean = ev.mean(axis=1)
    expected = {
        "mean_ar": mean,
        "bw1980": mean / (np.sqrt((sigma**2).sum()) / n),
        "bw1985": mean / est.mean(axis=1).std(ddof=1),
        "cs_t": mean / ev.std(axis=1, ddof=1) * np.sqrt(n),
        "patell": sar.sum(axis=1) / np.sqrt(((t - 2) / (t - 4)).sum()),
    }
    for col, values in expected.items():
        np.testing.assert_allclose(daily[col].to_numpy(), values, rtol=1e-10, err_msg=col)
    p_hat = (est > 0).mean()
    w = (ev > 0).sum(axis=1)
    gen_sign = (w - n * p_hat) / np.sqrt(n * p_hat * (1 - p_hat))
    np.testing.assert_allclose(daily["gen_sign"].to_numpy(), gen_sign, rtol=1e-10)
    full = np.vstack([est, ev])  # Corrado: ranks over estimation + event days
    k = stats.rankdata(full, axis=0) - (full.shape[0] + 1) / 2
    sd = np.sqrt((k.mean(axis=1) ** 2).sum() / full.shape[0])
    rank = k[est.shape[0] :].mean(axis=1) / sd
    np.testing.assert_allclose(daily["corrado_rank"].to_numpy(), rank, rtol=1e-10)
    np.testing.assert_allclose(
        daily["p_bw1985"].to_numpy(),
        2 * stats.t.sf(np.abs(expected["bw1985"]), t.mean() - 1),
        rtol=1e-8,
    )
    assert daily["p_patell"][0] == pytest.approx(2 * stats.norm.sf(abs(expected["patell"][0])))


def test_groups_are_independent(study):
    params, abnormal = study
    both = daily_tests(abnormal, params, ["event_id"], CFG)
    alone = daily_tests(
        abnormal.filter(pl.col("event_id") == "ev1"),
        params.filter(pl.col("event_id") == "ev1"),
        ["event_id"],
        CFG,
    )
    # equal up to summation order
    assert_frame_equal(both.filter(pl.col("event_id") == "ev1"), alone, rel_tol=1e-12)
    assert both.height == 2 * 11 and both["n"].unique().to_list() == [6]


def test_window_statistics_by_hand(study):
    params, abnormal = study
    windows = window_tests(abnormal, params, ["event_id"], CFG)
    assert windows["window"].to_list() == ["car_0_0", "car_m1_p2"] * 2
    daily = daily_tests(abnormal, params, ["event_id"], CFG)
    cars = car_table(abnormal, params, ["event_id"], CFG).filter(pl.col("event_id") == "ev1")
    got = windows.filter((pl.col("event_id") == "ev1") & (pl.col("window") == "car_m1_p2"))
    got = got.row(0, named=True)
    car, scar = cars["car_m1_p2"].to_numpy(), cars["t_car_m1_p2"].to_numpy()
    n = len(TICKERS)
    assert (got["n"], got["n_days"], got["win_start"], got["win_end"]) == (n, 4, -1, 2)
    assert got["caar"] == pytest.approx(car.mean(), rel=1e-12)
    assert got["cs_t"] == pytest.approx(car.mean() / car.std(ddof=1) * np.sqrt(n), rel=1e-10)
    bmp = scar.mean() / scar.std(ddof=1) * np.sqrt(n)
    assert got["bmp"] == pytest.approx(bmp, rel=1e-10)
    r = got["rbar"]
    assert got["kp_bmp"] == pytest.approx(bmp * np.sqrt((1 - r) / (1 + (n - 1) * r)), rel=1e-10)
    days = daily.filter((pl.col("event_id") == "ev1") & pl.col("rel_day").is_between(-1, 2))
    for col in ["bw1980", "bw1985", "patell", "corrado_rank"]:
        assert got[col] == pytest.approx(days[col].sum() / 2.0, rel=1e-10), col
    p = got["p_hat"]
    w = (car > 0).sum()
    assert got["gen_sign"] == pytest.approx((w - n * p) / np.sqrt(n * p * (1 - p)), rel=1e-10)
    one_day = windows.filter((pl.col("event_id") == "ev1") & (pl.col("window") == "car_0_0"))
    day0 = daily.filter((pl.col("event_id") == "ev1") & (pl.col("rel_day") == 0))
    for col in ["bw1980", "bw1985", "cs_t", "patell", "corrado_rank", "gen_sign"]:
        assert one_day[col][0] == pytest.approx(day0[col][0], rel=1e-10), col


def test_incomplete_window_and_bad_keys(study):
    params, abnormal = study
    early = abnormal.filter(pl.col("rel_day") <= 1)  # day +2 not traded yet
    got = window_tests(early, params, ["event_id"], CFG).filter(pl.col("window") == "car_m1_p2")
    assert got["n"].to_list() == [0, 0] and got["n_days"].to_list() == [3, 3]
    assert got["caar"].null_count() == 2 and got["patell"].null_count() == 2
    with pytest.raises(ValueError, match="group_keys"):
        daily_tests(abnormal, params, [], CFG)
    with pytest.raises(ValueError, match="segment"):
        daily_tests(abnormal, params, ["segment"], CFG)
