"""The reaction marts on a hand-made two-venue market, checked against numpy by hand.

Two venues with their own session grids (XTKS lacks a few weekdays), hand-placed day 0s
so that some events confound each other and some estimation windows overlap other events,
and returns drawn from a market model with an industry factor. Every flag and statistic of
the marts is recomputed here from the generated arrays, without the engine.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from transforms.event_study import EventStudyConfig
from transforms.reactions import build_reaction_marts
from warehouse import load
from warehouse.connection import connect

CFG = EventStudyConfig(
    estimation=(-60, -11),
    min_estimation=30,
    window=(-5, 10),
    car_windows=((0, 0), (-1, 1), (0, 5)),
)
CLOSE_HOUR = {"XNYS": 21, "XTKS": 6}
#: Day-0 session index of each event on each venue (hand-placed; see the test docstrings).
DAY0 = {
    "e1": {"XNYS": 200, "XTKS": 194},  # the same date, 2022-10-10, on both venues
    "e2": {"XNYS": 201, "XTKS": 197},
    "e3": {"XNYS": 136, "XTKS": 128},
    "e4": {"XNYS": 400, "XTKS": 390},
    "e5": {"XNYS": 203, "XTKS": 194},
}
# ticker: (segment, venue, benchmark, alpha, beta, industry loading)
SECURITIES = {
    "^GSPC": ("benchmark", "XNYS", "^GSPC", 0.0, 1.0, 0.0),
    "SPY": ("benchmark", "XNYS", "^GSPC", 0.0, 1.0, 0.1),
    "A1": ("chips", "XNYS", "^GSPC", 0.0004, 1.3, 1.0),
    "A2": ("chips", "XNYS", "^GSPC", -0.0002, 1.1, 0.8),
    "A3": ("chips", "XNYS", "^GSPC", 0.0001, 0.9, 1.2),
    "B1": ("cloud", "XNYS", "^GSPC", 0.0003, 1.0, 0.3),
    "B2": ("cloud", "XNYS", "^GSPC", 0.0, 0.7, 0.2),
    "^N225": ("benchmark", "XTKS", "^N225", 0.0, 1.0, 0.0),
    "T1": ("chips", "XTKS", "^N225", 0.0002, 1.2, 0.9),
    "T2": ("chips", "XTKS", "^N225", -0.0001, 0.8, 1.1),
    "T3": ("cloud", "XTKS", "^N225", 0.0, 1.0, 0.5),
}
THIN_FROM = {"T3": 175}  # T3 is listed late: too few estimation returns for e1, e2 and e5


def make_sessions() -> pl.DataFrame:
    """Weekdays from 2022-01-03; XTKS also closes on every 37th weekday."""
    days = [date(2022, 1, 3) + timedelta(days=i) for i in range(800)]
    weekdays = [d for d in days if d.weekday() < 5]
    frames = []
    for mic, skip in (("XNYS", None), ("XTKS", 37)):
        dates = [d for i, d in enumerate(weekdays) if skip is None or i % skip != 5]
        close = [datetime(d.year, d.month, d.day, CLOSE_HOUR[mic], tzinfo=UTC) for d in dates]
        frames.append(
            pl.DataFrame(
                {
                    "exchange_mic": mic,
                    "session_date": dates,
                    "session_idx": np.arange(len(dates), dtype=np.int64),
                    "open_utc": [c - timedelta(hours=6) for c in close],
                    "close_utc": close,
                }
            )
        )
    return pl.concat(frames).with_columns(pl.col("open_utc", "close_utc").dt.cast_time_unit("us"))


@pytest.fixture(scope="module")
def market():
    """Returns (numpy, by venue session) and the frames the marts are built from."""
    rng = np.random.default_rng(20250127)
    sessions = make_sessions()
    n = {mic: sessions.filter(pl.col("exchange_mic") == mic).height for mic in CLOSE_HOUR}
    mkt = {
        "XNYS": rng.normal(0.0004, 0.01, n["XNYS"]),
        "XTKS": rng.normal(0.0002, 0.012, n["XTKS"]),
    }
    industry = {mic: rng.normal(0, 0.008, n[mic]) for mic in n}
    rets: dict[str, np.ndarray] = {}
    for ticker, (segment, mic, bench, a, b, ind) in SECURITIES.items():
        if ticker == bench:
            continue
        r = a + b * mkt[mic] + ind * industry[mic] + rng.normal(0, 0.012, n[mic])
        if segment == "chips":  # the shock: chips fall on e1's day 0 and the day after
            r[DAY0["e1"][mic]] -= 0.05
            r[DAY0["e1"][mic] + 1] -= 0.02
        rets[ticker] = r
    for mic, bench in (("XNYS", "^GSPC"), ("XTKS", "^N225")):
        rets[bench] = mkt[mic]
    rows, returns = [], {}
    for ticker, r in rets.items():
        mic = SECURITIES[ticker][1]
        grid = sessions.filter(pl.col("exchange_mic") == mic)
        price = 100.0 * np.cumprod(1.0 + r)
        start = THIN_FROM.get(ticker, 0)
        rows.append(
            pl.DataFrame(
                {
                    "ticker": ticker,
                    "session_date": grid["session_date"][start:],
                    "adj_close": price[start:],
                    "volume": np.exp(rng.normal(14, 0.3, n[mic]))[start:],
                }
            )
        )
        ret = np.full(n[mic], np.nan)  # numpy's own returns of the adjusted close
        ret[start + 1 :] = price[start + 1 :] / price[start:-1] - 1.0
        returns[ticker] = ret
    prices = pl.concat(rows).with_columns(
        open=pl.col("adj_close"),
        high=pl.col("adj_close"),
        low=pl.col("adj_close"),
        close=pl.col("adj_close"),
        currency=pl.lit("USD"),
        source=pl.lit("test"),
    )
    securities = pl.DataFrame(
        {
            "ticker": list(SECURITIES),
            "name": [f"{t} Inc." for t in SECURITIES],
            "segment": [v[0] for v in SECURITIES.values()],
            "exchange_mic": [v[1] for v in SECURITIES.values()],
            "currency": "USD",
            "country": "US",
            "kind": [
                "index" if t.startswith("^") else "etf" if t == "SPY" else "equity"
                for t in SECURITIES
            ],
            "benchmark": [v[2] for v in SECURITIES.values()],
        }
    )
    day0_rows = []
    for event, venues in DAY0.items():
        for mic, idx in venues.items():
            s = sessions.filter(
                (pl.col("exchange_mic") == mic) & (pl.col("session_idx") == idx)
            ).row(0, named=True)
            day0_rows.append(
                {
                    "event_id": event,
                    "exchange_mic": mic,
                    "day0": s["session_date"],
                    "day0_idx": idx,
                    "day0_close_utc": s["close_utc"],
                    "closed_market": False,
                }
            )
    day0 = pl.DataFrame(day0_rows)
    first_close = day0.group_by("event_id").agg(pl.col("day0_close_utc").min())
    events = first_close.select(
        "event_id",
        name=pl.col("event_id").str.to_uppercase(),
        lab=pl.lit("Lab"),
        kind=pl.lit("model_release"),
        announced_date=pl.col("day0_close_utc").dt.date(),
        announced_at=pl.col("day0_close_utc") - pl.duration(hours=10),
        announced_precision=pl.lit("minute"),
        open_weights=pl.lit(False),
        lab_country=pl.lit("US"),
        source_url=pl.lit("https://example.com"),
    )
    inputs = (prices, securities, sessions, day0, events)
    marts = build_reaction_marts(*inputs, CFG)
    return {
        "returns": returns,
        "sessions": sessions,
        "day0": day0,
        "marts": marts,
        "inputs": inputs,
    }


def _reaction(market) -> pl.DataFrame:
    return market["marts"]["marts.event_reaction"]


# --- flags ------------------------------------------------------------------------------


def expected_flags(event: str, mic: str) -> tuple[list[str], list[str]]:
    """By hand: other events within [-1,+1] of day 0, and whose [-1,+5] window meets the
    estimation window [-60,-11], on the same venue (ordered by their day 0, then id)."""
    d = DAY0[event][mic]
    est = set(range(d + CFG.estimation[0], d + CFG.estimation[1] + 1))
    others = sorted(((v[mic], e) for e, v in DAY0.items() if e != event))
    confounding = [e for o, e in others if -1 <= o - d <= 1]
    overlapping = [e for o, e in others if est & set(range(o - 1, o + 6))]
    return confounding, overlapping


def test_confounded_and_overlap_flags_by_hand(market):
    reaction = _reaction(market)
    seen = reaction.select("event_id", "exchange_mic").unique().height
    assert seen == len(DAY0) * 2
    for row in reaction.iter_rows(named=True):
        confounding, overlapping = expected_flags(row["event_id"], row["exchange_mic"])
        assert row["confounding_events"] == confounding, row["ticker"]
        assert row["confounded"] is bool(confounding)
        assert row["overlapping_events"] == overlapping, row["ticker"]
        assert row["estimation_overlap"] is bool(overlapping)
        assert row["n_overlapping_events"] == len(overlapping)
    # the cases the layout was built for
    flags = {
        (r["event_id"], r["exchange_mic"]): (r["confounding_events"], r["overlapping_events"])
        for r in reaction.iter_rows(named=True)
    }
    assert flags[("e1", "XNYS")] == (["e2"], ["e3"])  # +1 session; e3's window meets est.
    assert flags[("e1", "XTKS")] == (["e5"], [])  # same day 0; e3 ends one session too early
    assert flags[("e2", "XNYS")] == (["e1"], ["e3"])  # e3's [-1,+5] touches the first est. day
    assert flags[("e4", "XNYS")] == ([], [])


# --- per security ----------------------------------------------------------------------


def unit_ar(market, event: str, ticker: str) -> dict:
    """Market-model ARs of one unit by numpy (estimation and event window)."""
    mic, bench = SECURITIES[ticker][1], SECURITIES[ticker][2]
    d = DAY0[event][mic]
    y, x = market["returns"][ticker], market["returns"][bench]
    est = np.arange(d + CFG.estimation[0], d + CFG.estimation[1] + 1)
    ev = np.arange(d + CFG.window[0], d + CFG.window[1] + 1)
    ok = est[~np.isnan(y[est]) & ~np.isnan(x[est])]
    beta, alpha = np.polyfit(x[ok], y[ok], 1)
    resid = y[ok] - alpha - beta * x[ok]
    sigma, t = resid.std(ddof=1), ok.size
    xm = x[est][~np.isnan(x[est])]
    mean, ssd = xm.mean(), ((xm - xm.mean()) ** 2).sum()
    ar = y[ev] - alpha - beta * x[ev]
    sar = ar / (sigma * np.sqrt(1 + 1 / t + (x[ev] - mean) ** 2 / ssd))
    return {
        "est_ar": resid,
        "ar": ar,
        "sar": sar,
        "x": x[ev],
        "sigma": sigma,
        "t": t,
        "mean": mean,
        "ssd": ssd,
        "alpha": alpha,
        "beta": beta,
    }


def test_reaction_rows_match_numpy(market):
    reaction = _reaction(market).filter(pl.col("event_id") == "e1")
    a1 = reaction.filter(pl.col("ticker") == "A1").row(0, named=True)
    u = unit_ar(market, "e1", "A1")
    assert a1["alpha"] == pytest.approx(u["alpha"], abs=1e-12)
    assert a1["beta"] == pytest.approx(u["beta"], rel=1e-9)
    assert a1["ar_day0"] == pytest.approx(u["ar"][5], rel=1e-9)
    assert a1["car_0_p5"] == pytest.approx(u["ar"][5:11].sum(), rel=1e-9)
    t3 = reaction.filter(pl.col("ticker") == "T3").row(0, named=True)
    assert t3["thin_estimation"] and t3["ar_day0"] is None and t3["ret_day0"] is not None
    # an index regressed on itself: zero AR by construction, so no model and no AR
    for ticker in ("^GSPC", "^N225"):
        row = reaction.filter(pl.col("ticker") == ticker).row(0, named=True)
        assert row["self_benchmark"] and row["sigma"] is None and row["ar_day0"] is None
        day = DAY0["e1"][row["exchange_mic"]]
        assert row["ret_day0"] == pytest.approx(market["returns"][ticker][day])
    assert not reaction.filter(~pl.col("ticker").str.starts_with("^"))["self_benchmark"].any()


# --- segment summary -------------------------------------------------------------------


def group_statistics(market, event: str, tickers: list[str], a: int, b: int) -> dict:
    """The estudy2 window statistics of one cross-section, from numpy ARs."""
    units = [unit_ar(market, event, t) for t in tickers]
    lo = a - CFG.window[0]
    length = b - a + 1
    win = slice(lo, lo + length)
    est = np.column_stack([u["est_ar"] for u in units])  # every unit has every est. day here
    ev = np.column_stack([u["ar"] for u in units])
    sar = np.column_stack([u["sar"] for u in units])
    sigma, t = np.array([u["sigma"] for u in units]), np.array([u["t"] for u in units])
    n = len(units)
    car = ev[win].sum(axis=0)
    factor = np.array(
        [
            length + length**2 / u["t"] + (u["x"][win].sum() - length * u["mean"]) ** 2 / u["ssd"]
            for u in units
        ]
    )
    scar = car / (sigma * np.sqrt(factor))
    rbar = np.corrcoef(est, rowvar=False)[np.triu_indices(n, k=1)].mean() if n > 1 else np.nan
    bmp = scar.mean() / scar.std(ddof=1) * np.sqrt(n) if n > 1 else np.nan
    p_hat = (est > 0).mean()
    daily_mean = ev[win].mean(axis=1)
    full = np.vstack([est, ev])
    k = stats.rankdata(full, axis=0) - (full.shape[0] + 1) / 2
    rank_sd = np.sqrt((k.mean(axis=1) ** 2).sum() / full.shape[0])
    rank = k[est.shape[0] :].mean(axis=1)[win] / rank_sd
    out = {
        "n": n,
        "caar": car.mean(),
        "cs_t": car.mean() / car.std(ddof=1) * np.sqrt(n) if n > 1 else np.nan,
        "bmp": bmp,
        "kp_bmp": bmp * np.sqrt((1 - rbar) / (1 + (n - 1) * rbar)),
        "rbar": rbar,
        "bw1980": (daily_mean / (np.sqrt((sigma**2).sum()) / n)).sum() / np.sqrt(length),
        "bw1985": (daily_mean / est.mean(axis=1).std(ddof=1)).sum() / np.sqrt(length),
        "patell": (sar[win].sum(axis=1) / np.sqrt(((t - 2) / (t - 4)).sum())).sum()
        / np.sqrt(length),
        "gen_sign": ((car > 0).sum() - n * p_hat) / np.sqrt(n * p_hat * (1 - p_hat)),
        "corrado_rank": rank.sum() / np.sqrt(length),
        "p_hat": p_hat,
    }
    out["p_bw1985"] = 2 * stats.t.sf(abs(out["bw1985"]), t.mean() - 1)
    out["p_kp_bmp"] = 2 * stats.t.sf(abs(out["kp_bmp"]), n - 1)
    out["p_patell"] = 2 * stats.norm.sf(abs(out["patell"]))
    return out


CHIPS = ["A1", "A2", "A3", "T1", "T2"]
ALL_E1 = ["A1", "A2", "A3", "B1", "B2", "T1", "T2"]  # T3 is thin; SPY and indices excluded


@pytest.mark.parametrize(
    ("segment", "tickers"), [("chips", CHIPS), ("all", ALL_E1), ("benchmark", ["SPY"])]
)
@pytest.mark.parametrize(("a", "b"), [(0, 0), (-1, 1), (0, 5)])
def test_segment_summary_matches_numpy(market, segment, tickers, a, b):
    summary = market["marts"]["marts.event_segment_summary"]
    row = summary.filter(
        (pl.col("event_id") == "e1")
        & (pl.col("segment") == segment)
        & (pl.col("window_start") == a)
        & (pl.col("window_end") == b)
    ).row(0, named=True)
    expected = group_statistics(market, "e1", tickers, a, b)
    assert row["n"] == expected["n"] and row["n_days"] == b - a + 1
    assert row["model"] == "market" and row["event_name"] == "E1"
    for col, value in expected.items():
        if col == "n":
            continue
        if len(tickers) == 1 and col in ("cs_t", "bmp", "kp_bmp", "rbar", "p_kp_bmp"):
            assert row[col] is None, col  # no cross-section of one
            continue
        assert row[col] == pytest.approx(value, rel=1e-8, abs=1e-12), (segment, a, b, col)
    assert row["value_moved_usd_0_0"] is None and row["value_moved_usd_0_p5"] is None


def test_segment_summary_grain_and_counts(market):
    summary = market["marts"]["marts.event_segment_summary"]
    assert summary.select("event_id", "segment", "car_window").is_duplicated().sum() == 0
    e1 = summary.filter(pl.col("event_id") == "e1")
    counts = dict(e1.select("segment", "n_securities").unique().iter_rows())
    # n_securities counts the mart rows (thin T3 and the indices included); n only the usable
    assert counts == {"all": 8, "chips": 5, "cloud": 3, "benchmark": 3}
    assert e1.filter(pl.col("segment") == "cloud")["n"].to_list() == [2, 2, 2]
    assert e1["segment"].to_list()[:3] == ["all"] * 3  # 'all' first, then segments by name
    assert e1["car_window"].to_list()[:3] == ["car_0_0", "car_m1_p1", "car_0_p5"]
    # the chips shock is there and significant on the headline statistic
    chips = e1.filter((pl.col("segment") == "chips") & (pl.col("car_window") == "car_0_0"))
    assert chips["caar"][0] < -0.03 and chips["p_bw1985"][0] < 0.01


# --- propagation, end to end -------------------------------------------------------------


def test_propagation_from_the_marts(market):
    prop = market["marts"]["marts.event_propagation"].filter(pl.col("event_id") == "e1")
    assert prop["exchange_mic"].to_list() == ["XTKS", "XNYS"]  # Tokyo closes first
    assert prop["close_order"].to_list() == [1, 2]
    for row in prop.iter_rows(named=True):
        mic = row["exchange_mic"]
        d = DAY0["e1"][mic]
        stocks = [t for t, v in SECURITIES.items() if v[1] == mic and v[0] != "benchmark"]
        ars = [unit_ar(market, "e1", t)["ar"][5] for t in stocks if t not in THIN_FROM]
        rets = [market["returns"][t][d] for t in stocks]
        assert row["n_securities"] == len(rets) and row["n_with_ar"] == len(ars)
        assert row["median_ar_day0"] == pytest.approx(np.median(ars), rel=1e-9)
        assert row["mean_ar_day0"] == pytest.approx(np.mean(ars), rel=1e-9)
        assert row["median_ret_day0"] == pytest.approx(np.median(rets), rel=1e-9)
        etfs = [market["returns"][t][d] for t in ("SPY",) if SECURITIES[t][1] == mic]
        assert row["n_etf_futures"] == len(etfs)  # indices are not counted
        assert row["etf_futures_median_ret_day0"] == (
            pytest.approx(np.median(etfs)) if etfs else None
        )
        bench = {"XNYS": "^GSPC", "XTKS": "^N225"}[mic]
        assert row["benchmark_ticker"] == bench
        assert row["benchmark_ret_day0"] == pytest.approx(market["returns"][bench][d])
        assert row["hours_after_announcement"] == pytest.approx(
            (row["day0_close_utc"] - row["announced_at"]).total_seconds() / 3600
        )
        assert row["day0_open_utc"] == row["day0_close_utc"] - timedelta(hours=6)


# --- the marts load into their DDL -----------------------------------------------------


def test_marts_load_into_the_warehouse_ddl(market):
    # the DDL has the default CAR windows; e4 has the 250 sessions of history they need
    marts = build_reaction_marts(*market["inputs"], EventStudyConfig(min_estimation=30))
    assert marts["marts.event_reaction"].filter(pl.col("event_id") == "e4")["ar_day0"].count()
    con = connect(":memory:")  # the warehouse's own DDL, as a run applies it
    for table, frame in marts.items():
        assert load.replace_table(con, table, frame) == frame.height > 0
        schema, name = table.split(".")
        columns = con.execute(
            "SELECT column_name, comment FROM duckdb_columns() "
            "WHERE schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
        missing = [c for c, comment in columns if not comment]
        assert not missing, f"{table}: columns without a COMMENT: {missing}"
        table_comment = con.execute(
            "SELECT comment FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
        assert table_comment, table
    lists = con.execute(
        "SELECT confounding_events FROM marts.event_reaction "
        "WHERE event_id = 'e1' AND ticker = 'A1'"
    ).fetchone()[0]
    assert lists == ["e2"]
    con.close()


def test_value_moved_is_joined_when_given(market):
    moved = pl.DataFrame(
        {
            "event_id": ["e1", "e1"],
            "segment": ["chips", "all"],
            "value_moved_usd_0_0": [-5.0e9, -6.0e9],
            "value_moved_usd_0_p5": [None, -7.5e9],
        }
    )
    marts = build_reaction_marts(*market["inputs"], CFG, value_moved=moved)
    summary = marts["marts.event_segment_summary"].filter(pl.col("event_id") == "e1")
    got = {
        (r["segment"], r["car_window"]): (r["value_moved_usd_0_0"], r["value_moved_usd_0_p5"])
        for r in summary.iter_rows(named=True)
    }
    assert got[("chips", "car_0_0")] == got[("chips", "car_0_p5")] == (-5.0e9, None)
    assert got[("all", "car_0_p5")] == (-6.0e9, -7.5e9)
    assert got[("cloud", "car_0_0")] == (None, None)
    assert summary.drop("value_moved_usd_0_0", "value_moved_usd_0_p5").equals(
        market["marts"]["marts.event_segment_summary"]
        .filter(pl.col("event_id") == "e1")
        .drop("value_moved_usd_0_0", "value_moved_usd_0_p5")
    )


def test_events_studied_in_batches_give_the_same_marts(market):
    """Batches bound the engine's memory; they change no row, no order and no value beyond
    the last bits of a float sum (a cross-section summed in another order)."""
    from polars.testing import assert_frame_equal

    events = market["inputs"][4]["event_id"].n_unique()
    assert events >= 2
    for size in (1, 2):
        batched = build_reaction_marts(*market["inputs"], CFG, batch_events=size)
        assert set(batched) == set(market["marts"])
        for table, whole in market["marts"].items():
            assert batched[table].height == whole.height > 0
            assert_frame_equal(batched[table], whole, rel_tol=1e-12, abs_tol=1e-15)
