"""Study fingerprints (incremental marts): a change reaches exactly the studies that read it.

A hand-made two-venue market; which studies a change must reach is worked out here from the
session indices (a study reads sessions day0_idx - 250 .. day0_idx + 20 of its venues), not
from the code under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from transforms.event_study import EventStudyConfig
from transforms.reactions import anchor_day0, build_reaction_marts
from transforms.study_inputs import changed_studies, study_fingerprints

CFG = EventStudyConfig(estimation=(-60, -11), min_estimation=30, window=(-5, 10),
                       car_windows=((0, 0), (0, 5)))
SPAN = (CFG.estimation[0], CFG.window[1])
VENUES = {"XNYS": ("^GSPC", ["A", "B", "C"]), "XTKS": ("^N225", ["T", "U"])}
#: Day-0 session index on both venues: e2 confounds e1 (the next session), e1's [-1, +5]
#: window lies in e3's estimation window, e4 stands alone and its window is still open.
DAY0 = {"e1": 100, "e2": 101, "e3": 150, "e4": 290}
N = 300


def _market():
    rng = np.random.default_rng(7)
    days = [d for d in (date(2023, 1, 2) + timedelta(days=i) for i in range(460))
            if d.weekday() < 5][:N]
    sessions = pl.concat([
        pl.DataFrame({
            "exchange_mic": mic, "session_date": days,
            "session_idx": np.arange(N, dtype=np.int64),
            "open_utc": [datetime(d.year, d.month, d.day, h - 6, tzinfo=UTC) for d in days],
            "close_utc": [datetime(d.year, d.month, d.day, h, tzinfo=UTC) for d in days],
        }) for mic, h in (("XNYS", 21), ("XTKS", 7))
    ]).with_columns(pl.col("open_utc", "close_utc").dt.cast_time_unit("us"))
    rows, secs = [], []
    for mic, (bench, names) in VENUES.items():
        for ticker in [bench, *names]:
            price = 100 * np.cumprod(1 + rng.normal(0, 0.01, N))
            rows.append(pl.DataFrame({"ticker": ticker, "session_date": days, "open": price,
                                      "high": price, "low": price, "close": price,
                                      "adj_close": price, "volume": 1e6, "source": "test",
                                      "currency": "USD"}))
            secs.append({"ticker": ticker, "name": ticker, "exchange_mic": mic,
                         "segment": "benchmark" if ticker == bench else "chips",
                         "currency": "USD", "country": "US",
                         "kind": "index" if ticker == bench else "equity",
                         "benchmark": bench})
    prices = pl.concat(rows)
    securities = pl.DataFrame(secs).with_columns(benchmark_fallback=pl.lit(False))
    day0 = pl.DataFrame([
        {"event_id": e, "exchange_mic": mic, "day0": days[i], "day0_idx": i,
         "day0_close_utc": datetime(days[i].year, days[i].month, days[i].day, 21, tzinfo=UTC),
         "closed_market": False}
        for e, i in DAY0.items() for mic in VENUES
    ]).with_columns(pl.col("day0_close_utc").dt.cast_time_unit("us"))
    events = pl.DataFrame({
        "event_id": list(DAY0), "name": [e.upper() for e in DAY0], "lab": "Lab",
        "kind": "model_release", "announced_date": [days[i] for i in DAY0.values()],
        "announced_at": [datetime(days[i].year, days[i].month, days[i].day, 1, tzinfo=UTC)
                         for i in DAY0.values()],
        "announced_precision": "minute", "open_weights": False, "lab_country": "US",
        "source_url": "https://example.com",
    }).with_columns(pl.col("announced_at").dt.cast_time_unit("us"))
    return sessions, prices, securities, day0, events, days


@pytest.fixture(scope="module")
def market():
    return _market()


def _fingerprints(market, prices=None, events=None, sessions=None):
    base_sessions, base_prices, securities, day0, base_events, _ = market
    sessions = base_sessions if sessions is None else sessions
    anchored = anchor_day0(day0, sessions, None)
    return study_fingerprints(anchored, day0, base_events if events is None else events,
                              securities, base_prices if prices is None else prices,
                              sessions, CFG)


def _reading(idx: int) -> set[str]:
    """Events whose span (SPAN around day 0) contains session ``idx``: worked out by hand."""
    return {e for e, d in DAY0.items() if d + SPAN[0] <= idx <= d + SPAN[1]}


def test_fingerprints_are_deterministic_and_distinct(market):
    first, second = _fingerprints(market), _fingerprints(market)
    assert first.equals(second)
    assert first.height == len(DAY0)  # one announcement study per event (no attention)
    assert first["fingerprint"].n_unique() == len(DAY0)


@pytest.mark.parametrize("ticker,idx", [("A", 95), ("^GSPC", 60), ("T", 285), ("B", 250)])
def test_a_changed_price_reaches_exactly_the_studies_that_read_it(market, ticker, idx):
    """A security's own price, or its benchmark's (which every security of the venue reads)."""
    _, prices, _, _, _, days = market
    edited = prices.with_columns(
        pl.when((pl.col("ticker") == ticker) & (pl.col("session_date") == days[idx]))
        .then(pl.col("close") * 1.001).otherwise(pl.col("close")).alias("close"))
    build, gone = changed_studies(_fingerprints(market, prices=edited), _fingerprints(market))
    assert set(build["event_id"]) == _reading(idx)
    assert gone.height == 0


def test_a_new_session_reaches_only_windows_still_open(market):
    """The next day's session and prices: only studies whose window reaches it change."""
    sessions, prices, _, _, _, days = market
    before_s = sessions.filter(pl.col("session_idx") < N - 1)
    before_p = prices.filter(pl.col("session_date") < days[N - 1])
    build, _ = changed_studies(_fingerprints(market),
                               _fingerprints(market, prices=before_p, sessions=before_s))
    assert set(build["event_id"]) == _reading(N - 1) == {"e4"}


def test_an_event_reaches_its_neighbours_and_a_removed_one_is_gone(market):
    """Renaming e2 changes e2 only; removing e1 reports it gone and changes the studies that
    had it as a neighbour: e2 (confounded by it) and e3 (its window in e3's estimation)."""
    sessions, prices, securities, day0, events, _ = market
    renamed = events.with_columns(
        pl.when(pl.col("event_id") == "e2").then(pl.lit("E2 renamed")).otherwise("name")
        .alias("name"))
    build, _ = changed_studies(_fingerprints(market, events=renamed), _fingerprints(market))
    assert set(build["event_id"]) == {"e2"}
    kept_day0 = day0.filter(pl.col("event_id") != "e1")
    kept = events.filter(pl.col("event_id") != "e1")
    without = study_fingerprints(anchor_day0(kept_day0, sessions, None), kept_day0, kept,
                                 securities, prices, sessions, CFG)
    build, gone = changed_studies(without, _fingerprints(market))
    assert set(build["event_id"]) == {"e2", "e3"}
    assert gone.rows() == [("e1", "announcement")]


def test_only_events_gives_the_rows_a_full_build_gives(market):
    """build_reaction_marts(only_events=...) equals the full build filtered to those events,
    flags that depend on the other events (confounded, estimation overlap) included."""
    sessions, prices, securities, day0, events, _ = market
    full = build_reaction_marts(prices, securities, sessions, day0, events, CFG)
    part = build_reaction_marts(prices, securities, sessions, day0, events, CFG,
                                only_events=["e1", "e4"])
    for table, frame in full.items():
        expected = frame.filter(pl.col("event_id").is_in(["e1", "e4"]))
        assert part[table].height == expected.height > 0, table
        assert part[table].equals(expected), table
    reaction = part["marts.event_reaction"].filter(pl.col("event_id") == "e1")
    assert reaction["confounded"].all()  # by e2, which was not built


def test_share_counts_reach_the_studies_whose_as_of_lookup_reads_them(market):
    """A count dated after every span changes nothing; the last count before a span, or one
    inside it, changes that study (the as-of lookup at the span's dates reads them)."""
    sessions, prices, securities, day0, events, days = market
    anchored = anchor_day0(day0, sessions, None)

    def fp(shares):
        return study_fingerprints(anchored, day0, events, securities, prices, sessions, CFG,
                                  shares=shares)

    def counts(*rows):
        return pl.DataFrame([{"ticker": "A", "as_of_date": d, "shares_outstanding": n,
                              "source": "test"} for d, n in rows])

    base = [(days[10], 1e9), (days[60], 1.1e9), (days[200], 1.2e9)]
    before = fp(counts(*base))
    later = fp(counts(*base, (days[N - 1] + timedelta(days=30), 2e9)))
    assert changed_studies(later, before)[0].height == 0
    # days[60] is the last count before e3's span (90..160) and inside e1's and e2's (40..)
    edited = fp(counts(base[0], (days[60], 1.15e9), base[2]))
    assert set(changed_studies(edited, before)[0]["event_id"]) == {"e1", "e2", "e3"}
    # days[200] is the last count before e4's span (230..300), and in no other span
    edited = fp(counts(base[0], base[1], (days[200], 1.25e9)))
    assert set(changed_studies(edited, before)[0]["event_id"]) == {"e4"}


def test_where_the_calendar_starts_changes_nothing(market):
    """A backfill's calendar starts years before a daily run's, so the same session has
    another index: the same sessions and prices must give the same fingerprints."""
    sessions, prices, securities, day0, events, _ = market
    shifted_s = sessions.with_columns(pl.col("session_idx") + 500)
    shifted_d = day0.with_columns(pl.col("day0_idx") + 500)
    shifted = study_fingerprints(anchor_day0(shifted_d, shifted_s, None), shifted_d, events,
                                 securities, prices, shifted_s, CFG)
    assert shifted.equals(_fingerprints(market))
