"""marts.event_propagation on hand-made frames: close order, medians, benchmarks."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from transforms.propagation import event_propagation, venue_benchmarks

ANNOUNCED = datetime(2025, 1, 25, 16, 0, tzinfo=UTC)  # a Sunday, Beijing midnight


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, minute, tzinfo=UTC)


# venue: (day0, close in UTC)
VENUES = {
    "XTKS": (date(2025, 1, 27), utc(27, 6, 30)),
    "XHKG": (date(2025, 1, 27), utc(27, 8)),
    "XAMS": (date(2025, 1, 27), utc(27, 16, 30)),
    "XETR": (date(2025, 1, 27), utc(27, 16, 30)),
    "XNAS": (date(2025, 1, 27), utc(27, 21)),
    "XNYS": (date(2025, 1, 27), utc(27, 21)),
    "ARCX": (date(2025, 1, 27), utc(27, 21)),
    "XCME": (date(2025, 1, 27), utc(27, 23)),
    "XKRX": (date(2025, 1, 31), utc(31, 6, 30)),  # Lunar New Year: rolled forward
    "XWAR": (date(2025, 1, 27), utc(27, 15)),  # a venue with no name in the lookup
}
# ticker: segment, venue, benchmark, ret_day0, ar_day0
REACTIONS = {
    "8035.T": ("semicap", "XTKS", "^N225", -0.049, -0.035),
    "6857.T": ("semicap", "XTKS", "^N225", -0.086, -0.071),
    "9984.T": ("cloud", "XTKS", "^N225", -0.083, -0.069),
    "^N225": ("benchmark", "XTKS", "^N225", -0.009, None),
    "0700.HK": ("china_ai", "XHKG", "^HSI", 0.013, None),  # no AR (thin)
    "ASML.AS": ("semicap", "XAMS", "^AEX", -0.071, -0.061),
    "NVD.DE": ("chips", "XETR", "^GDAXI", -0.160, -0.150),
    "NVDA": ("chips", "XNAS", "^GSPC", -0.170, -0.150),
    "AVGO": ("chips", "XNAS", "^GSPC", -0.174, -0.140),
    "MSFT": ("cloud", "XNAS", "^GSPC", -0.021, -0.005),
    "AAPL": ("cloud", "XNAS", "^GSPC", 0.032, 0.045),
    "SOXX": ("benchmark", "XNAS", "^GSPC", -0.092, -0.080),  # excluded from the medians
    "VST": ("power", "XNYS", "^GSPC", -0.283, -0.250),
    "TSM": ("foundry", "XNYS", "^GSPC", -0.133, -0.108),
    "ORCL": ("cloud", "XNYS", "^GSPC", -0.139, -0.120),
    "SPY": ("benchmark", "ARCX", "^GSPC", -0.014, 0.0003),
    "000660.KS": ("memory", "XKRX", "^KS11", -0.099, None),
    "005930.KS": ("memory", "XKRX", "^KS11", -0.024, None),
}
UNIVERSE_ONLY = {  # in the security master, no reaction row
    "^GSPC": ("benchmark", "XNYS", "^GSPC"),
    "^IXIC": ("benchmark", "XNAS", "^IXIC"),
    "^NDX": ("benchmark", "XNAS", "^NDX"),
    "QQQ": ("benchmark", "XNAS", "^GSPC"),
    "ES=F": ("benchmark", "XCME", "^GSPC"),
    "NQ=F": ("benchmark", "XCME", "^GSPC"),
    "DIA": ("benchmark", "ARCX", "^GSPC"),
    "HSTECH.HK": ("china_ai", "XHKG", "HSTECH.HK"),
    "9988.HK": ("china_ai", "XHKG", "^HSI"),
}
KIND = {
    "^N225": "index",
    "^GSPC": "index",
    "^IXIC": "index",
    "^NDX": "index",
    "HSTECH.HK": "index",
    "SOXX": "etf",
    "SPY": "etf",
    "QQQ": "etf",
    "DIA": "etf",
    "ES=F": "future",
    "NQ=F": "future",
}
BENCH_RET = {
    ("^GSPC", date(2025, 1, 27)): -0.0146,
    ("^N225", date(2025, 1, 27)): -0.009,
    ("^KS11", date(2025, 1, 31)): -0.0077,
    ("^GSPC", date(2025, 1, 31)): 0.5,
}


@pytest.fixture(scope="module")
def frames():
    reaction = pl.DataFrame(
        {
            "event_id": "deepseek",
            "ticker": list(REACTIONS),
            "segment": [v[0] for v in REACTIONS.values()],
            "exchange_mic": [v[1] for v in REACTIONS.values()],
            "ret_day0": [v[3] for v in REACTIONS.values()],
            "ar_day0": [v[4] for v in REACTIONS.values()],
        },
        schema_overrides={"ar_day0": pl.Float64},
    )
    master = {**{t: v[:3] for t, v in REACTIONS.items()}, **UNIVERSE_ONLY}
    securities = pl.DataFrame(
        {
            "ticker": list(master),
            "segment": [v[0] for v in master.values()],
            "exchange_mic": [v[1] for v in master.values()],
            "benchmark": [v[2] for v in master.values()],
            "kind": [KIND.get(t, "equity") for t in master],
        }
    )
    day0 = pl.DataFrame(
        {
            "event_id": "deepseek",
            "exchange_mic": list(VENUES),
            "day0": [v[0] for v in VENUES.values()],
            "day0_close_utc": [v[1] for v in VENUES.values()],
            "closed_market": [mic == "XKRX" for mic in VENUES],
        }
    ).with_columns(pl.col("day0_close_utc").dt.cast_time_unit("us"))
    events = pl.DataFrame(
        {
            "event_id": ["deepseek"],
            "name": ["DeepSeek app #1"],
            "announced_at": [ANNOUNCED],
            "announced_precision": ["date"],
        }
    ).with_columns(pl.col("announced_at").dt.cast_time_unit("us"))
    returns = pl.DataFrame(
        {
            "ticker": [k[0] for k in BENCH_RET],
            "session_date": [k[1] for k in BENCH_RET],
            "ret": list(BENCH_RET.values()),
        }
    )
    return reaction, day0, events, securities, returns


@pytest.fixture(scope="module")
def prop(frames):
    return event_propagation(*frames)


def test_close_order_reads_asia_europe_new_york(prop):
    closes = sorted({v[1] for v in VENUES.values()})
    expected = {mic: closes.index(close) + 1 for mic, (_, close) in VENUES.items()}
    assert dict(prop.select("exchange_mic", "close_order").iter_rows()) == expected
    # sorted by close, venues of one instant by MIC
    assert prop["exchange_mic"].to_list() == [
        "XTKS",
        "XHKG",
        "XWAR",
        "XAMS",
        "XETR",
        "ARCX",
        "XNAS",
        "XNYS",
        "XCME",
        "XKRX",
    ]
    assert prop.filter(pl.col("exchange_mic").is_in(["XNAS", "XNYS", "ARCX"]))[
        "venue_group"
    ].unique().to_list() == ["US cash"]
    row = prop.filter(pl.col("exchange_mic") == "XKRX").row(0, named=True)
    assert row["closed_market"] and row["hours_after_announcement"] == pytest.approx(134.5)
    assert prop.filter(pl.col("exchange_mic") == "XWAR")["venue_name"][0] == "XWAR"
    assert prop["day0_open_utc"].null_count() == prop.height  # no sessions given


def test_medians_exclude_the_benchmark_segment(prop):
    for row in prop.iter_rows(named=True):
        mic = row["exchange_mic"]
        mine = [v for v in REACTIONS.values() if v[1] == mic and v[0] != "benchmark"]
        rets = [v[3] for v in mine]
        ars = [v[4] for v in mine if v[4] is not None]
        assert row["n_securities"] == len(rets), row["exchange_mic"]
        assert row["n_with_ar"] == len(ars), row["exchange_mic"]
        for col, values, fn in [
            ("median_ret_day0", rets, np.median),
            ("mean_ret_day0", rets, np.mean),
            ("median_ar_day0", ars, np.median),
            ("mean_ar_day0", ars, np.mean),
        ]:
            if values:
                assert row[col] == pytest.approx(fn(values), rel=1e-12), (row["exchange_mic"], col)
            else:
                assert row[col] is None, (row["exchange_mic"], col)
    for row in prop.iter_rows(named=True):
        mic = row["exchange_mic"]
        trackers = [
            v[3]
            for t, v in REACTIONS.items()
            if v[1] == mic and KIND.get(t) != "index" and v[0] == "benchmark"
        ]
        assert row["n_etf_futures"] == len(trackers), mic
        expected = np.median(trackers) if trackers else None
        assert row["etf_futures_median_ret_day0"] == pytest.approx(expected), mic
    arca = prop.filter(pl.col("exchange_mic") == "ARCX").row(0, named=True)
    assert arca["n_securities"] == 0 and arca["etf_futures_median_ret_day0"] == -0.014
    # ^N225 (an index) is in neither count: only SOXX on XNAS, SPY on ARCX are trackers
    assert dict(prop.select("exchange_mic", "n_etf_futures").iter_rows())["XTKS"] == 0
    nas = prop.filter(pl.col("exchange_mic") == "XNAS").row(0, named=True)
    assert nas["median_ar_day0"] == pytest.approx(np.median([-0.150, -0.140, -0.005, 0.045]))


def test_venue_benchmarks_and_their_returns(prop, frames):
    bench = dict(prop.select("exchange_mic", "benchmark_ticker").iter_rows())
    assert bench["XNAS"] == "^GSPC"  # its stocks' benchmark, not its own indices
    assert bench["ARCX"] == "^GSPC" and bench["XCME"] == "^GSPC"  # ETFs/futures only
    assert bench["XHKG"] == "^HSI"  # 2 stocks on ^HSI beat HSTECH.HK on itself
    assert bench["XWAR"] is None
    ret = dict(prop.select("exchange_mic", "benchmark_ret_day0").iter_rows())
    assert ret["XNYS"] == pytest.approx(-0.0146) and ret["XTKS"] == pytest.approx(-0.009)
    assert ret["XKRX"] == pytest.approx(-0.0077)  # on the venue's own (rolled) day 0
    assert ret["XHKG"] is None  # no ^HSI price that day
    assert venue_benchmarks(frames[3]).height == len(VENUES) - 1  # XWAR has no securities


def test_open_times_from_sessions_and_one_row_per_venue(frames):
    sessions = frames[1].select(
        "exchange_mic",
        session_date="day0",
        open_utc=pl.col("day0_close_utc") - pl.duration(hours=6),
    )
    prop = event_propagation(*frames, sessions=sessions)
    assert prop.height == len(VENUES)
    assert prop.select("event_id", "exchange_mic").is_duplicated().sum() == 0
    assert (prop["day0_close_utc"] - prop["day0_open_utc"]).dt.total_hours().to_list() == [6] * len(
        VENUES
    )
