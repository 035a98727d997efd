"""The array engine (transforms/event_arrays.py) against the polars reference engine.

``build_reaction_marts(..., engine="arrays")`` (the default) must give the marts of
``engine="polars"``: same rows, columns, dtypes and order, floats equal to 1e-9 relative
(plus 1e-12 absolute for values that are zero by construction). Checked on the recorded
market (a few events and tickers, both anchors), on the demo market, on a hand-made market
whose special cases are also checked by hand, for every normal-return model, and for the
rank helper against scipy.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy import stats

from sources.demo import DemoSource
from sources.snapshot import SnapshotSource
from transforms import calendar
from transforms import prices as tp
from transforms.event_arrays import average_ranks
from transforms.event_study import MODELS, EventStudyConfig
from transforms.reactions import build_reaction_marts
from warehouse import seeds

REL, ABS = 1e-9, 1e-12
TABLES = ("marts.event_reaction", "marts.event_window", "marts.event_segment_summary",
          "marts.event_propagation")


def assert_same_marts(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    assert list(got) == list(want)
    for table in want:
        assert_frame_equal(got[table], want[table], rel_tol=REL, abs_tol=ABS)


@pytest.fixture(scope="module")
def reference() -> dict:
    """The shipped universe and catalog on real session grids (as the flow builds them)."""
    securities = seeds.read_universe()
    events = calendar.events_to_core(seeds.read_events())
    sessions = calendar.exchange_sessions(securities["exchange_mic"].unique().to_list(),
                                          date(2017, 1, 1), date(2026, 3, 1))
    return {"securities": securities, "events": events, "sessions": sessions,
            "day0": calendar.event_day0(events, sessions)}


def reference_world(reference: dict, start: date, end: date) -> dict:
    """The reference with the price range to read."""
    return {**reference, "start": start, "end": end}


def core_prices(raw: pl.DataFrame, world: dict) -> pl.DataFrame:
    core = tp.to_core(raw, world["securities"], world["sessions"])
    return core.filter("is_exchange_session").drop("unparsed", "is_exchange_session")


def both_engines(prices: pl.DataFrame, world: dict, event_ids: list[str],
                 cfg: EventStudyConfig, attention: pl.DataFrame | None = None, **kw
                 ) -> tuple[dict, dict]:
    events = world["events"].filter(pl.col("event_id").is_in(event_ids))
    day0 = world["day0"].filter(pl.col("event_id").is_in(event_ids))
    args = (prices, world["securities"], world["sessions"], day0, events, cfg)
    return (build_reaction_marts(*args, attention=attention, engine="arrays", **kw),
            build_reaction_marts(*args, attention=attention, engine="polars", **kw))


def attention_for(world: dict, event_ids: list[str], days: int = 3) -> pl.DataFrame:
    """An attention day a few days after each announcement but the last (which has none)."""
    return world["events"].filter(pl.col("event_id").is_in(event_ids[:-1])).select(
        "event_id", attention_date=pl.col("announced_date") + pl.duration(days=days))


# --- the recorded market ------------------------------------------------------------------

#: Claude 3.5 Sonnet (GEV spun off eleven weeks before: thin); the DeepSeek week (events
#: confounding each other); GPT-5.2 (its window runs past the recording: incomplete CARs).
SNAPSHOT_EVENTS = ["claude-3-5-sonnet", "deepseek-r1", "stargate-project",
                   "deepseek-app-1-us-app-store", "gpt-5-2"]
#: every venue; ASML.AS, 2330.TW and 000660.KS fall back to another index (theirs are not
#: recorded); NQ=F trades on CME against ^GSPC's dates; 300766.SZ hits its limit; CRWV and
#: HSTECH.HK have no recording at all.
SNAPSHOT_TICKERS = ["NVDA", "AMD", "GEV", "ASML", "ASML.AS", "^GDAXI", "300766.SZ",
                    "399001.SZ", "8035.T", "^N225", "000660.KS", "2330.TW", "0700.HK",
                    "^HSI", "^GSPC", "SPY", "QQQ", "NQ=F", "MSFT", "GOOGL", "GOOG", "BABA",
                    "CRWV", "HSTECH.HK"]


@pytest.fixture(scope="module")
def snapshot_marts(snapshot_dir, reference):
    world = reference_world(reference, date(2023, 6, 1), date(2025, 12, 31))
    src = SnapshotSource(snapshot_dir)
    tickers = [t for t in SNAPSHOT_TICKERS if t in set(src.available())]
    prices = core_prices(src.prices(tickers, world["start"], world["end"]).frame, world)
    return both_engines(prices, world, SNAPSHOT_EVENTS, EventStudyConfig(),
                        attention_for(world, SNAPSHOT_EVENTS))


def test_snapshot_marts_equal_the_polars_engine(snapshot_marts):
    arrays, reference = snapshot_marts
    assert_same_marts(arrays, reference)
    reaction = reference["marts.event_reaction"]
    assert set(reaction["anchor"]) == {"announcement", "attention"}
    assert not {"CRWV", "HSTECH.HK"} & set(reaction["ticker"])  # no prices: no rows
    # the cases the selection was made for are there
    gev = reaction.filter(ticker="GEV", event_id="claude-3-5-sonnet")
    assert gev.height == 2 and gev["thin_estimation"].all() and gev["ar_day0"].is_null().all()
    assert reaction.filter(pl.col("ticker") == "ASML.AS")["benchmark_fallback"].all()
    assert reaction.filter(pl.col("ticker") == "^GSPC")["self_benchmark"].all()
    late = reaction.filter(pl.col("event_id") == "gpt-5-2")
    assert late["car_m5_p20"].is_null().all() and late["car_0_0"].is_not_null().any()


@pytest.mark.slow
def test_whole_snapshot_equals_the_polars_engine(snapshot_dir, reference):
    """Every recorded ticker, every catalog event, both anchors."""
    world = reference_world(reference, date(2018, 1, 1), date(2025, 12, 31))
    src = SnapshotSource(snapshot_dir)
    prices = core_prices(src.prices(src.available(), world["start"], world["end"]).frame, world)
    ids = world["events"]["event_id"].to_list()
    arrays, reference = both_engines(prices, world, ids, EventStudyConfig(),
                                     attention_for(world, ids))
    assert_same_marts(arrays, reference)
    assert reference["marts.event_reaction"].height > 5_000


# --- the demo market ----------------------------------------------------------------------

DEMO_EVENTS = ["deepseek-r1", "stargate-project", "deepseek-app-1-us-app-store", "qwen2-5-max",
               "o3-mini"]
#: HSTECH.HK is an index in segment china_ai: its own benchmark, pooled into 'all' but out
#: of every statistic; SPY and QQQ track ^GSPC (a tiny tracking noise).
DEMO_TICKERS = ["^GSPC", "^IXIC", "^HSI", "^N225", "399001.SZ", "SPY", "QQQ", "NQ=F", "NVDA",
                "AMD", "TSM", "MU", "000660.KS", "8035.T", "9988.HK", "0700.HK", "HSTECH.HK",
                "300766.SZ", "MSFT", "PLTR"]


@pytest.fixture(scope="module")
def demo_world(reference):
    world = reference_world(reference, date(2024, 1, 1), date(2025, 3, 31))
    src = DemoSource(world["securities"], world["sessions"], world["day0"], world["events"])
    world["prices"] = core_prices(src.prices(DEMO_TICKERS, world["start"], world["end"]).frame,
                                  world)
    return world


def test_demo_marts_equal_the_polars_engine(demo_world):
    arrays, reference = both_engines(demo_world["prices"], demo_world, DEMO_EVENTS,
                                     EventStudyConfig(), attention_for(demo_world, DEMO_EVENTS))
    assert_same_marts(arrays, reference)
    hstech = reference["marts.event_reaction"].filter(pl.col("ticker") == "HSTECH.HK")
    assert hstech.height and hstech["self_benchmark"].all() and hstech["sigma"].is_null().all()


def test_every_model_in_one_pass_equals_each_model_alone(demo_world):
    """models=MODELS: one block of reaction and summary rows per model, each what the polars
    engine gives for that model; window and propagation are the first model's."""
    events = DEMO_EVENTS[:2]
    world = demo_world
    chosen = world["day0"].filter(pl.col("event_id").is_in(events))
    args = (world["prices"], world["securities"], world["sessions"], chosen,
            world["events"].filter(pl.col("event_id").is_in(events)))
    together = build_reaction_marts(*args, EventStudyConfig(), models=MODELS)
    blocks = {table: [] for table in TABLES}
    for i, model in enumerate(MODELS):
        alone = build_reaction_marts(*args, EventStudyConfig(model=model), engine="polars")
        for table in TABLES:
            if i == 0 or table in ("marts.event_reaction", "marts.event_segment_summary"):
                blocks[table].append(alone[table])
    expected = {t: pl.concat(b) for t, b in blocks.items()}
    for table in ("marts.event_reaction", "marts.event_segment_summary"):  # alone, each was
        expected[table] = expected[table].with_columns(  # its run's model; together, the first
            default_model=pl.col("model") == MODELS[0])
    assert_same_marts(together, expected)
    assert together["marts.event_reaction"]["model"].unique(maintain_order=True).to_list() == [
        *MODELS]
    assert together["marts.event_reaction"].filter("default_model")["model"].unique().to_list() \
        == [MODELS[0]]


# --- a hand-made market -------------------------------------------------------------------

CFG = EventStudyConfig(estimation=(-40, -6), min_estimation=20, window=(-3, 5),
                       car_windows=((0, 0), (-1, 1), (0, 2), (-3, 5)))
N = 140
DATES = [d for d in (date(2024, 1, 1) + timedelta(days=i) for i in range(220))
         if d.weekday() < 5][:N]
DAY0 = {"e1": 60, "e2": 100, "e3": 136}  # e3's window runs past the last session
GAP = DAY0["e2"] + 1  # AAA has no price that day: no return on it and the next


def hand_world() -> dict:
    rng = np.random.default_rng(7)
    mkt = rng.normal(0.0003, 0.01, N)
    rets = {
        "^IDX": mkt,
        "AAA": 0.0002 + 1.2 * mkt + rng.normal(0, 0.015, N),
        "BBB": -0.0001 + 0.8 * mkt + rng.normal(0, 0.012, N),
        "CCC": 1.0 * mkt + rng.normal(0, 0.02, N),  # alone in its segment: a group of one
        "NEW": 0.9 * mkt + rng.normal(0, 0.02, N),  # listed late: 9 returns for e1
    }
    first = {"NEW": 45}
    frames = []
    for ticker, r in rets.items():
        close = 100.0 * np.cumprod(1.0 + r)
        keep = np.arange(N) >= first.get(ticker, 0)
        if ticker == "AAA":
            keep[GAP] = False
        frames.append(pl.DataFrame({"ticker": ticker, "session_date": DATES, "adj_close": close,
                                    "volume": np.exp(rng.normal(14, 0.4, N))}).filter(keep))
    prices = pl.concat(frames).with_columns(
        open=pl.col("adj_close"), high=pl.col("adj_close"), low=pl.col("adj_close"),
        close=pl.col("adj_close"), currency=pl.lit("USD"), source=pl.lit("test"))
    tickers = [*rets, "GHOST"]  # GHOST never traded
    securities = pl.DataFrame({
        "ticker": tickers, "name": tickers,
        "segment": ["benchmark", "chips", "chips", "cloud", "chips", "chips"],
        "exchange_mic": "XNYS", "currency": "USD", "country": "US",
        "kind": ["index", "equity", "equity", "equity", "equity", "equity"],
        "benchmark": "^IDX",
    })
    close = [datetime(d.year, d.month, d.day, 21, tzinfo=UTC) for d in DATES]
    sessions = pl.DataFrame({
        "exchange_mic": "XNYS", "session_date": DATES, "session_idx": np.arange(N),
        "open_utc": [c - timedelta(hours=6) for c in close], "close_utc": close,
    }).with_columns(pl.col("open_utc", "close_utc").dt.cast_time_unit("us"))
    day0 = pl.DataFrame([{"event_id": e, "exchange_mic": "XNYS", "day0": DATES[i],
                          "day0_idx": i, "day0_close_utc": close[i], "closed_market": False}
                         for e, i in DAY0.items()]).with_columns(
        pl.col("day0_close_utc").dt.cast_time_unit("us"))
    events = pl.DataFrame({
        "event_id": list(DAY0), "name": [e.upper() for e in DAY0], "lab": "Lab",
        "kind": "model_release", "announced_date": [DATES[i] for i in DAY0.values()],
        "announced_at": [close[i] - timedelta(hours=10) for i in DAY0.values()],
        "announced_precision": "minute", "open_weights": False, "lab_country": "US",
        "source_url": None,
    }).with_columns(pl.col("announced_at").dt.cast_time_unit("us"))
    return {"inputs": (prices, securities, sessions, day0, events), "rets": rets,
            "first": first}


@pytest.fixture(scope="module")
def hand():
    world = hand_world()
    world["arrays"] = build_reaction_marts(*world["inputs"], CFG)
    world["polars"] = build_reaction_marts(*world["inputs"], CFG, engine="polars")
    return world


def test_hand_market_equals_the_polars_engine(hand):
    assert_same_marts(hand["arrays"], hand["polars"])


def _row(frame: pl.DataFrame, **match) -> dict:
    rows = frame.filter(**match)
    assert rows.height == 1, match
    return rows.row(0, named=True)


def test_hand_unit_cases(hand):
    reaction = hand["arrays"]["marts.event_reaction"]
    assert "GHOST" not in reaction["ticker"].to_list()  # no prices: not in any mart
    new = _row(reaction, event_id="e1", ticker="NEW")  # no price before session 45
    assert new["thin_estimation"] and new["est_n"] == 9 and new["sigma"] is None
    assert new["ar_day0"] is None and new["ret_day0"] is not None
    own = _row(reaction, event_id="e1", ticker="^IDX")
    assert own["self_benchmark"] and own["alpha"] is None and own["ar_day0"] is None
    # the market model by hand (numpy's least squares) for BBB on e1
    d = DAY0["e1"]
    y, x = hand["rets"]["BBB"], hand["rets"]["^IDX"]
    est = np.arange(d - 40, d - 5)
    beta, alpha = np.polyfit(x[est], y[est], 1)
    bbb = _row(reaction, event_id="e1", ticker="BBB")
    assert bbb["beta"] == pytest.approx(beta, rel=1e-9)
    assert bbb["alpha"] == pytest.approx(alpha, rel=1e-7, abs=1e-12)
    sigma = np.std(y[est] - alpha - beta * x[est], ddof=1)
    assert bbb["sigma"] == pytest.approx(sigma, rel=1e-9)
    ar = y[d - 1: d + 3] - alpha - beta * x[d - 1: d + 3]
    assert bbb["car_0_p2"] == pytest.approx(ar[1:].sum(), rel=1e-9)
    assert bbb["car_m1_p1"] == pytest.approx(ar[:3].sum(), rel=1e-9)


def test_hand_missing_day_and_incomplete_window(hand):
    """AAA has no price on e2's day +1: no return on +1 nor +2, so every CAR window that
    holds them is null, and the running CAR skips them (null on those days)."""
    reaction = hand["arrays"]["marts.event_reaction"]
    aaa = _row(reaction, event_id="e2", ticker="AAA")
    assert aaa["car_0_0"] is not None and aaa["car_0_p2"] is None
    assert aaa["car_m1_p1"] is None and aaa["car_m3_p5"] is None
    window = hand["arrays"]["marts.event_window"].filter(event_id="e2", ticker="AAA")
    by_day = {r["rel_day"]: r for r in window.iter_rows(named=True)}
    assert by_day[1]["ret"] is None and by_day[2]["ret"] is None and by_day[2]["car"] is None
    assert by_day[3]["car"] == pytest.approx(
        sum(by_day[t]["ar"] for t in (-3, -2, -1, 0, 3)), rel=1e-12)
    # e3: day 0 is session 136 of 140, so days +9.. do not exist: no window rows for them
    late = hand["arrays"]["marts.event_window"].filter(event_id="e3", ticker="BBB")
    assert late["rel_day"].max() == N - 1 - DAY0["e3"]
    summary = hand["arrays"]["marts.event_segment_summary"].filter(event_id="e3")
    full = summary.filter(car_window="car_m3_p5")
    assert full["n"].to_list() == [0] * full.height and full["bw1980"].is_null().all()


def test_hand_group_of_one(hand):
    """CCC is alone in 'cloud': the window statistics that need a cross-section are null,
    the day sums are not; it is pooled into 'all'."""
    summary = hand["arrays"]["marts.event_segment_summary"]
    cloud = _row(summary, event_id="e1", segment="cloud", car_window="car_0_p2")
    assert cloud["n"] == 1 and cloud["n_securities"] == 1
    for col in ("cs_t", "bmp", "kp_bmp", "rbar"):
        assert cloud[col] is None, col
    for col in ("bw1980", "bw1985", "patell", "corrado_rank", "gen_sign"):
        assert cloud[col] is not None, col
    pooled = _row(summary, event_id="e1", segment="all", car_window="car_0_p2")
    assert pooled["n_securities"] == 4  # AAA, BBB, CCC, NEW (thin: counted, not used)
    assert pooled["n"] == 3
    reaction = hand["arrays"]["marts.event_reaction"].filter(event_id="e1")
    cars = reaction.filter(pl.col("ticker").is_in(["AAA", "BBB", "CCC"]))["car_0_p2"]
    assert pooled["caar"] == pytest.approx(cars.mean(), rel=1e-12)


def test_value_moved_with_shares_and_fx_equals_the_polars_engine(hand):
    """With share counts and FX, value moved is measured on the window mart and summed per
    segment, in every model's reaction and summary rows."""
    first = DATES[0]
    shares = pl.DataFrame({"ticker": ["AAA", "BBB", "CCC"], "as_of_date": [first] * 3,
                           "shares_outstanding": [1e9, 2e9, 5e8], "source": "test"})
    fx = pl.DataFrame(schema={"currency": pl.String, "session_date": pl.Date,
                              "usd_per_unit": pl.Float64, "source": pl.String})
    kw = {"shares": shares, "fx": fx}
    arrays = build_reaction_marts(*hand["inputs"], CFG, models=MODELS[:2], **kw)
    reference = build_reaction_marts(*hand["inputs"], CFG, models=MODELS[:2], engine="polars",
                                     **kw)
    assert_same_marts(arrays, reference)
    moved = arrays["marts.event_reaction"].filter(event_id="e1", ticker="BBB")
    assert moved.height == 2 and moved["value_moved_usd_0_0"].is_not_null().all()
    summary = arrays["marts.event_segment_summary"].filter(event_id="e1", segment="all")
    assert summary["value_moved_usd_0_0"].is_not_null().all()


def test_batches_change_nothing(hand):
    """The array engine batches studies by units: any batching gives the same bits (every
    cross-section lies within one study)."""
    for batch in (1, 2):
        assert_same_marts(build_reaction_marts(*hand["inputs"], CFG, batch_events=batch),
                          hand["arrays"])


def test_no_events_gives_the_same_empty_marts():
    world = hand_world()
    prices, securities, sessions, day0, events = world["inputs"]
    args = (prices, securities, sessions, day0.head(0), events.head(0), CFG)
    assert_same_marts(build_reaction_marts(*args), build_reaction_marts(*args, engine="polars"))


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine"):
        build_reaction_marts(*hand_world()["inputs"], CFG, engine="spark")


# --- ranks --------------------------------------------------------------------------------


def test_average_ranks_match_scipy_with_ties_nan_and_signed_zero():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 40))
    a[rng.random(a.shape) < 0.2] = np.nan
    a[:10, :8] = 0.25  # ties
    a[10, :4] = [0.0, -0.0, 0.0, -0.0]  # -0.0 ties with 0.0, as in polars
    a[11] = np.nan  # a row with nothing to rank
    got = average_ranks(a)
    want = stats.rankdata(a, axis=1, nan_policy="omit")
    assert np.array_equal(np.isnan(got), np.isnan(a))
    assert np.array_equal(got[~np.isnan(a)], want[~np.isnan(a)])
    assert got[10, :4].tolist() == [got[10, 0]] * 4
