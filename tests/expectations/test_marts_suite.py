"""The mart suites on hand-made marts: one consistent event, then one defect per rule."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from expectations.marts import (
    MartValidationError,
    car_windows,
    mart_suites,
    raise_on_rejected,
    validate_marts,
)

AR = 0.01
DAYS = range(-10, 21)


def _window(ticker: str = "AAA") -> pl.DataFrame:
    return pl.DataFrame({
        "event_id": "e1", "ticker": ticker, "segment": "accelerators",
        "rel_day": list(DAYS),
        "session_date": [date(2025, 1, 27) + timedelta(days=d) for d in DAYS],
        "ret": [AR + 0.001] * len(DAYS),
        "ar": [AR] * len(DAYS),
        "car": [AR * (i + 1) for i in range(len(DAYS))],
    }, schema_overrides={"rel_day": pl.Int32})


def _reaction(ticker: str = "AAA", **over) -> dict:
    row = {
        "event_id": "e1", "ticker": ticker, "ret_day0": AR + 0.001, "ar_day0": AR,
        "car_0_0": AR, "car_0_0_t": 1.0, "car_0_0_p": 0.3,
        "car_m1_p1": 3 * AR, "car_m1_p1_t": 1.0, "car_m1_p1_p": 0.3,
        "car_0_p5": 6 * AR, "car_0_p5_t": 1.0, "car_0_p5_p": 0.3,
        "car_m5_p20": 26 * AR, "car_m5_p20_t": 1.0, "car_m5_p20_p": 0.3,
        "alpha": 0.0, "beta": 1.0, "sigma": 0.02, "est_n": 240, "thin_estimation": False,
    }
    return row | over


def _marts(reactions: list[dict], windows: list[pl.DataFrame] | None = None) -> dict:
    windows = windows if windows is not None else [_window(r["ticker"]) for r in reactions]
    return {
        "marts.event_reaction": pl.DataFrame(reactions),
        "marts.event_window": pl.concat(windows),
        "marts.event_segment_summary": pl.DataFrame({
            "event_id": ["e1", "e1"], "segment": ["all", "accelerators"],
            "car_window": ["car_0_0", "car_0_0"], "n_securities": [2, 2], "n": [2, 2],
            "caar": [AR, AR], "bw1985": [1.0, 1.0], "p_bw1985": [0.3, 0.3],
            "p_hat": [0.5, 0.5],
        }),
        "marts.event_propagation": pl.DataFrame({
            "event_id": ["e1"], "exchange_mic": ["XNAS"], "n_securities": [2], "n_with_ar": [2],
        }),
    }


def _outcomes(marts) -> dict:
    return {o.dataset: o for o in validate_marts(marts)}


def test_consistent_marts_pass():
    outcomes = _outcomes(_marts([_reaction("AAA"), _reaction("BBB")]))
    assert set(outcomes) == {"marts.event_reaction", "marts.event_window",
                             "marts.event_segment_summary", "marts.event_propagation"}
    for o in outcomes.values():
        assert o.rejected.height == 0, (o.dataset, o.results.filter(~pl.col("success")))
    raise_on_rejected(list(outcomes.values()))


def test_suites_follow_the_columns():
    suites = mart_suites(_marts([_reaction()]))
    names = [r.name for r in suites["marts.event_reaction"].rules]
    assert {"car_0_0_inconsistent", "car_m1_p1_inconsistent", "car_0_p5_inconsistent",
            "car_m5_p20_inconsistent", "car_0_0_not_ar_day0", "car_0_p5_p_out_of_range",
            "thin_alpha_not_null", "duplicate_key"} <= set(names)
    assert car_windows(["car_m1_p1", "car_0_p10", "car_0_p10_t", "ar_day0"]) == {
        "car_m1_p1": (-1, 1), "car_0_p10": (0, 10)}
    summary = [r.name for r in suites["marts.event_segment_summary"].rules]
    assert {"p_bw1985_out_of_range", "p_hat_out_of_range", "n_above_n_securities"} <= set(
        summary)


@pytest.mark.parametrize(
    ("defect", "reasons"),
    [
        ({"car_0_p5": 7 * AR}, ["car_0_p5_inconsistent"]),
        ({"car_0_0": 2 * AR}, ["car_0_0_not_ar_day0", "car_0_0_inconsistent"]),
        ({"car_0_p5_p": 1.2}, ["car_0_p5_p_out_of_range"]),
        ({"car_m1_p1_p": -0.1}, ["car_m1_p1_p_out_of_range"]),
        ({"thin_estimation": True}, ["thin_alpha_not_null", "thin_beta_not_null",
                                     "thin_sigma_not_null"]),
        ({"est_n": -1}, ["est_n_negative"]),
    ],
)
def test_reaction_defects_are_named(defect, reasons):
    outcome = _outcomes(_marts([_reaction("AAA"), _reaction("BBB", **defect)]))[
        "marts.event_reaction"]
    assert outcome.rejected.select("ticker", "reasons").to_dicts() == [
        {"ticker": "BBB", "reasons": reasons}]


def test_a_rejected_mart_row_raises_naming_mart_rule_and_sample():
    outcomes = validate_marts(_marts([_reaction("AAA"), _reaction("BBB", car_0_p5_p=1.2)]))
    with pytest.raises(MartValidationError) as failed:
        raise_on_rejected(outcomes)
    message = str(failed.value)
    assert message.startswith("mart validation failed (a transform bug): marts.event_reaction: "
                              "1 row(s) failed car_0_p5_p_out_of_range (1) e.g. ")
    assert '"ticker":"BBB"' in message and '"car_0_p5_p":1.2' in message


def test_thin_unit_with_null_parameters_passes():
    thin = _reaction("BBB", thin_estimation=True, alpha=None, beta=None, sigma=None,
                     car_0_0=None, car_m1_p1=None, car_0_p5=None, car_m5_p20=None)
    outcome = _outcomes(_marts([thin]))["marts.event_reaction"]
    assert outcome.rejected.height == 0


def test_car_without_every_daily_ar_is_inconsistent():
    window = _window("AAA").with_columns(
        ar=pl.when(pl.col("rel_day") == 3).then(None).otherwise(pl.col("ar")))
    window = window.with_columns(
        car=pl.when(pl.col("ar").is_null()).then(None).otherwise(
            pl.col("ar").fill_null(0).cum_sum()))
    outcome = _outcomes(_marts([_reaction("AAA")], [window]))
    assert outcome["marts.event_reaction"].rejected["reasons"].to_list() == [
        ["car_0_p5_inconsistent", "car_m5_p20_inconsistent"]]
    assert outcome["marts.event_window"].rejected.height == 0


def test_duplicate_and_window_defects():
    window = _window("AAA").with_columns(
        car=pl.when(pl.col("rel_day") == 5).then(1.0).otherwise(pl.col("car")))
    extra = _window("AAA").filter(pl.col("rel_day") == 20).with_columns(
        rel_day=pl.lit(21, pl.Int32), car=pl.lit(32 * AR))
    marts = _marts([_reaction("AAA"), _reaction("AAA")], [window, extra])
    outcomes = _outcomes(marts)
    assert outcomes["marts.event_reaction"].rejected["reasons"].to_list() == [
        ["duplicate_key"], ["duplicate_key"]]
    bad = outcomes["marts.event_window"].rejected.select("rel_day", "reasons").to_dicts()
    assert bad == [{"rel_day": 5, "reasons": ["car_not_running_sum"]},
                   {"rel_day": 21, "reasons": ["rel_day_out_of_window"]}]


def test_summary_and_propagation_defects():
    marts = _marts([_reaction()])
    marts["marts.event_segment_summary"] = marts["marts.event_segment_summary"].with_columns(
        n=pl.Series([3, 2]), p_bw1985=pl.Series([0.3, 1.5]))
    marts["marts.event_propagation"] = marts["marts.event_propagation"].with_columns(
        n_with_ar=pl.lit(5))
    outcomes = _outcomes(marts)
    assert outcomes["marts.event_segment_summary"].rejected["reasons"].to_list() == [
        ["n_above_n_securities"], ["p_bw1985_out_of_range"]]
    assert outcomes["marts.event_propagation"].rejected["reasons"].to_list() == [
        ["n_with_ar_above_n_securities"]]


def test_unknown_marts_are_not_validated():
    marts = _marts([_reaction()]) | {"marts.news_attention": pl.DataFrame({"x": [1]})}
    assert "marts.news_attention" not in _outcomes(marts)
