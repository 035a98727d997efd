"""Two anchors per event: day 0 at the announcement and at the attention day, by hand.

A small two-venue market with returns written out so that, under the market-adjusted model,
every abnormal return is a number typed below (AR = R - R_m = eps). Event e1 is announced
on XNYS session 20 and the news noticed it on session 24 (its attention day), when the
stock fell 6% and then 2% more; e2 is announced on session 25 and has no attention day. On
XTKS the attention day is a holiday, so its attention day 0 rolls to the next session.
"""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from transforms.event_study import EventStudyConfig
from transforms.reactions import anchor_day0, build_reaction_marts
from warehouse import load
from warehouse.connection import connect

CFG = EventStudyConfig(
    model="market_adjusted",
    estimation=(-15, -6),
    min_estimation=5,
    window=(-2, 3),
    car_windows=((0, 0), (0, 1), (-1, 1)),
)
N = 32
DAYS = (date(2025, 1, 1) + timedelta(days=i) for i in range(60))
DATES = [d for d in DAYS if d.weekday() < 5][:N]
ANNOUNCED, ATTENDED, E2_ANNOUNCED = 20, 24, 25
HOLIDAY = DATES[ATTENDED]  # XTKS is closed on e1's attention day
TK_DATES = [d for d in DATES if d != HOLIDAY]


def eps(t: int) -> float:
    """The abnormal return of AAA (and TTT) on session t, typed by hand."""
    shocks = {ANNOUNCED: 0.005, ATTENDED: -0.06, ATTENDED + 1: -0.02}
    return shocks.get(t, 0.001 * ((t % 3) - 1))


def market(t: int) -> float:
    return 0.002 * ((t % 5) - 2)


def prices_for(ticker: str, dates: list[date], rets: list[float]) -> pl.DataFrame:
    close = 100.0 * np.cumprod([1.0, *(1.0 + r for r in rets[1:])])
    return pl.DataFrame({"ticker": ticker, "session_date": dates, "adj_close": close})


def sessions_frame() -> pl.DataFrame:
    frames = []
    for mic, dates, hour in (("XNYS", DATES, 21), ("XTKS", TK_DATES, 6)):
        close = [datetime(d.year, d.month, d.day, hour, tzinfo=UTC) for d in dates]
        frames.append(pl.DataFrame({
            "exchange_mic": mic, "session_date": dates,
            "session_idx": np.arange(len(dates), dtype=np.int64),
            "open_utc": [c - timedelta(hours=6) for c in close], "close_utc": close,
        }))
    return pl.concat(frames).with_columns(pl.col("open_utc", "close_utc").dt.cast_time_unit("us"))


@pytest.fixture(scope="module")
def world():
    sessions = sessions_frame()
    ny = [market(t) for t in range(N)]
    tk = [market(t) for t in range(len(TK_DATES))]
    prices = pl.concat([
        prices_for("^IDX", DATES, ny),
        prices_for("AAA", DATES, [ny[t] + eps(t) for t in range(N)]),
        prices_for("^TK", TK_DATES, tk),
        prices_for("TTT", TK_DATES, [tk[t] + eps(t) for t in range(len(TK_DATES))]),
    ]).with_columns(
        open=pl.col("adj_close"), high=pl.col("adj_close"), low=pl.col("adj_close"),
        close=pl.col("adj_close"), volume=pl.lit(1e6), currency=pl.lit("USD"),
        source=pl.lit("test"),
    )
    securities = pl.DataFrame({
        "ticker": ["^IDX", "AAA", "^TK", "TTT"],
        "name": ["Index", "AAA Inc.", "Tokyo index", "TTT KK"],
        "segment": ["benchmark", "chips", "benchmark", "chips"],
        "exchange_mic": ["XNYS", "XNYS", "XTKS", "XTKS"],
        "currency": "USD", "country": "US",
        "kind": ["index", "equity", "index", "equity"],
        "benchmark": ["^IDX", "^IDX", "^TK", "^TK"],
    })

    def day0_row(event: str, mic: str, idx: int) -> dict:
        s = sessions.filter((pl.col("exchange_mic") == mic) & (pl.col("session_idx") == idx))
        s = s.row(0, named=True)
        return {"event_id": event, "exchange_mic": mic, "day0": s["session_date"],
                "day0_idx": idx, "day0_close_utc": s["close_utc"], "closed_market": False}

    day0 = pl.DataFrame([
        day0_row("e1", "XNYS", ANNOUNCED), day0_row("e1", "XTKS", ANNOUNCED),
        day0_row("e2", "XNYS", E2_ANNOUNCED), day0_row("e2", "XTKS", E2_ANNOUNCED - 1),
    ])
    events = pl.DataFrame({
        "event_id": ["e1", "e2"], "name": ["E1 model", "E2 model"], "lab": "Lab",
        "kind": "model_release", "announced_date": [DATES[ANNOUNCED], DATES[E2_ANNOUNCED]],
        "announced_at": [datetime(d.year, d.month, d.day, 14, tzinfo=UTC)
                         for d in (DATES[ANNOUNCED], DATES[E2_ANNOUNCED])],
        "announced_precision": "minute", "open_weights": False, "lab_country": "US",
        "source_url": None, "origin": ["catalog", "detected"],
    }).with_columns(pl.col("announced_at").dt.cast_time_unit("us"))
    attention = pl.DataFrame({"event_id": ["e1", "e2"], "attention_date": [HOLIDAY, None]})
    inputs = (prices, securities, sessions, day0, events, CFG)
    return {
        "inputs": inputs,
        "marts": build_reaction_marts(*inputs, attention=attention),
        "attention": attention,
    }


def reaction_row(world, event: str, anchor: str, ticker: str) -> dict:
    frame = world["marts"]["marts.event_reaction"].filter(
        (pl.col("event_id") == event) & (pl.col("anchor") == anchor)
        & (pl.col("ticker") == ticker)
    )
    assert frame.height == 1, (event, anchor, ticker)
    return frame.row(0, named=True)


def test_attention_anchor_by_hand(world):
    row = reaction_row(world, "e1", "attention", "AAA")
    assert row["day0"] == HOLIDAY and not row["closed_market"]
    assert row["ar_day0"] == pytest.approx(-0.06, abs=1e-12)
    assert row["ret_day0"] == pytest.approx(market(ATTENDED) - 0.06, abs=1e-12)
    assert row["car_0_0"] == pytest.approx(-0.06, abs=1e-12)
    assert row["car_0_p1"] == pytest.approx(-0.08, abs=1e-12)
    assert row["car_m1_p1"] == pytest.approx(0.001 - 0.06 - 0.02, abs=1e-12)
    # market-adjusted: sigma = sd of the estimation ARs (sessions 9..18), t = CAR / (sigma sqrt L)
    est = [eps(t) for t in range(ATTENDED - 15, ATTENDED - 6 + 1)]
    sigma = statistics.stdev(est)
    assert row["est_n"] == 10 and row["sigma"] == pytest.approx(sigma, rel=1e-9)
    assert row["car_0_p1_t"] == pytest.approx(-0.08 / (sigma * 2**0.5), rel=1e-9)
    assert row["car_0_p1_p"] == pytest.approx(
        2 * stats.t.sf(0.08 / (sigma * 2**0.5), 10 - 1), rel=1e-9
    )


def test_announcement_anchor_by_hand(world):
    row = reaction_row(world, "e1", "announcement", "AAA")
    assert row["day0"] == DATES[ANNOUNCED]
    assert row["ar_day0"] == pytest.approx(0.005, abs=1e-12)
    assert row["car_0_p1"] == pytest.approx(0.005 + eps(ANNOUNCED + 1), abs=1e-12)
    assert row["car_0_p1"] == pytest.approx(0.004, abs=1e-12)
    # the selloff came at attention: announcement's [0,+1] misses it, attention's holds it
    att = reaction_row(world, "e1", "attention", "AAA")
    assert att["car_0_p1"] < -0.07 < 0 < row["car_0_p1"]


def test_attention_day_closed_on_a_venue_rolls_forward(world):
    row = reaction_row(world, "e1", "attention", "TTT")
    next_open = DATES[ATTENDED + 1]
    assert row["day0"] == next_open and row["closed_market"]
    tk_idx = TK_DATES.index(next_open)
    assert row["ar_day0"] == pytest.approx(eps(tk_idx), abs=1e-12)


def test_event_without_attention_day_has_announcement_rows_only(world):
    reaction = world["marts"]["marts.event_reaction"]
    e2 = reaction.filter(pl.col("event_id") == "e2")
    assert set(e2["anchor"]) == {"announcement"}
    assert e2["detected"].all()
    assert not reaction.filter(pl.col("event_id") == "e1")["detected"].any()


def test_without_attention_frame_only_announcement(world):
    marts = build_reaction_marts(*world["inputs"])
    for table, frame in marts.items():
        assert set(frame["anchor"]) == {"announcement"}, table
    with_attention = world["marts"]["marts.event_reaction"].filter(
        pl.col("anchor") == "announcement")
    assert marts["marts.event_reaction"].equals(with_attention)


def test_flags_compare_with_other_events_announcements(world):
    # e2 is announced one session after e1's attention day: that reaction is confounded,
    # e1's announcement (five sessions earlier) is not
    att = reaction_row(world, "e1", "attention", "AAA")
    ann = reaction_row(world, "e1", "announcement", "AAA")
    assert att["confounded"] and att["confounding_events"] == ["e2"]
    assert not ann["confounded"] and ann["confounding_events"] == []


def test_grains_carry_the_anchor(world):
    marts = world["marts"]
    keys = {
        "marts.event_reaction": ["event_id", "anchor", "ticker"],
        "marts.event_window": ["event_id", "anchor", "ticker", "rel_day"],
        "marts.event_segment_summary": ["event_id", "anchor", "segment", "car_window"],
        "marts.event_propagation": ["event_id", "anchor", "exchange_mic"],
    }
    for table, key in keys.items():
        frame = marts[table]
        assert frame.columns[:2] == ["event_id", "anchor"], table
        assert frame.select(key).is_duplicated().sum() == 0, table
    window = marts["marts.event_window"].filter(
        (pl.col("event_id") == "e1") & (pl.col("anchor") == "attention")
        & (pl.col("ticker") == "AAA")
    )
    assert window["session_date"].to_list() == DATES[ATTENDED - 2: ATTENDED + 4]
    assert window["ar"].to_list() == pytest.approx([eps(t) for t in range(22, 28)], abs=1e-12)
    assert window["car"].to_list() == pytest.approx(
        np.cumsum([eps(t) for t in range(22, 28)]).tolist(), abs=1e-12)
    summary = marts["marts.event_segment_summary"].filter(
        (pl.col("event_id") == "e1") & (pl.col("anchor") == "attention")
        & (pl.col("segment") == "chips") & (pl.col("car_window") == "car_0_p1")
    ).row(0, named=True)
    tk_idx = TK_DATES.index(DATES[ATTENDED + 1])
    assert summary["n"] == 2
    assert summary["caar"] == pytest.approx((-0.08 + eps(tk_idx) + eps(tk_idx + 1)) / 2)
    prop = marts["marts.event_propagation"].filter(
        (pl.col("event_id") == "e1") & (pl.col("anchor") == "attention"))
    assert dict(prop.select("exchange_mic", "day0").iter_rows()) == {
        "XNYS": HOLIDAY, "XTKS": DATES[ATTENDED + 1]}


def test_anchor_day0_is_one_asof_join(world):
    _, _, sessions, day0, _, _ = world["inputs"]
    anchored = anchor_day0(day0, sessions, world["attention"])
    att = anchored.filter(pl.col("anchor") == "attention")
    assert att.select("event_id", "exchange_mic", "day0", "closed_market").rows() == [
        ("e1", "XNYS", HOLIDAY, False), ("e1", "XTKS", DATES[ATTENDED + 1], True)]
    assert att["day0_idx"].to_list() == [ATTENDED, TK_DATES.index(DATES[ATTENDED + 1])]
    assert anchor_day0(day0, sessions, None).equals(
        anchored.filter(pl.col("anchor") == "announcement"))


def test_two_anchors_load_into_the_warehouse_ddl(world):
    # the DDL has the default CAR windows (those past the 32 sessions are null here)
    prices, securities, sessions, day0, events, _ = world["inputs"]
    cfg = EventStudyConfig(model="market_adjusted", estimation=(-16, -11), min_estimation=5)
    marts = build_reaction_marts(prices, securities, sessions, day0, events, cfg,
                                 attention=world["attention"])
    con = connect(":memory:")
    for table, frame in marts.items():
        assert load.replace_table(con, table, frame) == frame.height > 0  # PK holds
        missing = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'marts' "
            "AND table_name = ? AND (comment IS NULL OR comment = '')", [table.split(".")[1]]
        ).fetchall()
        assert not missing, (table, missing)
    got = con.execute(
        "SELECT anchor, day0, round(ar_day0, 6) FROM marts.event_reaction "
        "WHERE event_id = 'e1' AND ticker = 'AAA' ORDER BY anchor").fetchall()
    assert got == [("announcement", DATES[ANNOUNCED], 0.005), ("attention", HOLIDAY, -0.06)]
    pk = con.execute(
        "SELECT constraint_text FROM duckdb_constraints() WHERE schema_name = 'marts' "
        "AND table_name = 'event_reaction' AND constraint_type = 'PRIMARY KEY'").fetchone()[0]
    assert "anchor" in pk
    con.close()


def test_value_moved_per_anchor(world):
    prices, securities, sessions, day0, events, cfg = world["inputs"]
    shares = pl.DataFrame({"ticker": ["AAA", "TTT"], "as_of_date": [DATES[0], DATES[0]],
                           "shares_outstanding": [1e9, 2e9], "source": "test"})
    fx = pl.DataFrame(schema={"currency": pl.String, "session_date": pl.Date,
                              "usd_per_unit": pl.Float64, "source": pl.String})
    marts = build_reaction_marts(prices, securities, sessions, day0, events, cfg,
                                 shares=shares, fx=fx, attention=world["attention"])
    close = dict(prices.filter(pl.col("ticker") == "AAA").select("session_date", "close")
                 .iter_rows())
    reaction = marts["marts.event_reaction"].filter(
        (pl.col("event_id") == "e1") & (pl.col("ticker") == "AAA"))
    moved = dict(reaction.select("anchor", "value_moved_usd_0_0").iter_rows())
    for anchor, day in (("announcement", ANNOUNCED), ("attention", ATTENDED)):
        expected = 1e9 * (close[DATES[day]] - close[DATES[day - 1]])
        assert moved[anchor] == pytest.approx(expected, rel=1e-12), anchor
    summary = marts["marts.event_segment_summary"].filter(
        (pl.col("event_id") == "e1") & (pl.col("segment") == "chips")
        & (pl.col("car_window") == "car_0_0"))
    assert summary.height == 2 and summary["value_moved_usd_0_0"].is_not_null().all()
