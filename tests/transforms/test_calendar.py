"""Sessions and day 0 against hand-checked exchange facts."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from contracts import ContractError
from transforms.calendar import event_day0, events_to_core, exchange_sessions


def _seed(**cols):
    base = {"name": "n", "lab": "lab", "kind": "model_release", "open_weights": "false",
            "source_url": "u"}
    n = len(cols["event_id"])
    return pl.DataFrame({**{k: [v] * n for k, v in base.items()}, **cols})


@pytest.fixture(scope="module")
def sessions():
    return exchange_sessions(["XNAS", "XKRX", "XTKS", "XSHE", "XHKG"], date(2024, 6, 1),
                             date(2025, 6, 30))


def test_sessions_are_numbered_consecutively_per_venue(sessions):
    nas = sessions.filter(pl.col("exchange_mic") == "XNAS").sort("session_date")
    assert nas["session_idx"].to_list() == list(range(nas.height))
    # 2025-01-09 (national day of mourning) and 2025-01-20 (MLK day): NYSE closed
    assert date(2025, 1, 9) not in nas["session_date"].to_list()
    assert date(2025, 1, 20) not in nas["session_date"].to_list()
    # Korea closed for Lunar New Year 2025-01-27..30
    krx = sessions.filter(pl.col("exchange_mic") == "XKRX")["session_date"].to_list()
    assert not {date(2025, 1, d) for d in (27, 28, 29, 30)} & set(krx)


def test_date_only_event_counts_from_lab_midnight():
    ev = events_to_core(_seed(event_id=["a"], announced_date=["2025-01-26"],
                              announced_time_utc=[None], lab_country=["CN"]))
    # Beijing midnight is 16:00 UTC the day before
    assert ev["announced_at"][0] == datetime(2025, 1, 25, 16, 0, tzinfo=UTC)
    assert ev["announced_precision"][0] == "date"


def test_timed_event_keeps_the_lab_local_date():
    # 21:00 Pacific on 2025-07-09 is 04:00 UTC on 2025-07-10
    ev = events_to_core(_seed(event_id=["g"], announced_date=["2025-07-09"],
                              announced_time_utc=["04:00"], lab_country=["US"]))
    assert ev["announced_at"][0] == datetime(2025, 7, 10, 4, 0, tzinfo=UTC)
    assert ev["announced_precision"][0] == "minute"


def test_a_row_the_seed_suite_refuses_is_kept_with_no_instant_never_dropped():
    # the rule (lab_country_unknown) is the seed suite's; the transform keeps every row
    ev = events_to_core(_seed(event_id=["x", "g"], announced_date=["2025-01-01", "2025-01-02"],
                              announced_time_utc=[None, None], lab_country=["ZZ", "US"]))
    assert ev["event_id"].to_list() == ["g", "x"]
    assert ev["announced_at"].null_count() == 1 and ev["announced_at"][1] is None


def test_deepseek_app_day0_per_venue(sessions):
    ev = events_to_core(_seed(event_id=["app"], announced_date=["2025-01-26"],
                              announced_time_utc=[None], lab_country=["CN"]))
    d0 = {r["exchange_mic"]: r for r in event_day0(ev, sessions).iter_rows(named=True)}
    assert d0["XNAS"]["day0"] == date(2025, 1, 27) and not d0["XNAS"]["closed_market"]
    assert d0["XTKS"]["day0"] == date(2025, 1, 27)
    # Seoul was closed for Lunar New Year: rolled to Friday and flagged
    assert d0["XKRX"]["day0"] == date(2025, 1, 31) and d0["XKRX"]["closed_market"]


def test_announcement_after_the_close_moves_to_next_session(sessions):
    # 21:30 UTC on a Tuesday is after the 21:00 UTC NYSE close (winter time)
    ev = events_to_core(_seed(event_id=["late", "early"], announced_date=["2025-01-14"] * 2,
                              announced_time_utc=["21:30", "15:00"], lab_country=["US"] * 2))
    d0 = event_day0(ev, sessions).filter(pl.col("exchange_mic") == "XNAS")
    got = dict(zip(d0["event_id"], d0["day0"], strict=True))
    assert got == {"late": date(2025, 1, 15), "early": date(2025, 1, 14)}
    assert not d0["closed_market"].any()


def test_holiday_rolls_forward_and_is_flagged(sessions):
    # DeepSeek-R1, 2025-01-20 in Beijing: NYSE closed for MLK day -> 2025-01-21, flagged
    ev = events_to_core(_seed(event_id=["r1"], announced_date=["2025-01-20"],
                              announced_time_utc=[None], lab_country=["CN"]))
    row = event_day0(ev, sessions).filter(pl.col("exchange_mic") == "XNAS").row(0, named=True)
    assert row["day0"] == date(2025, 1, 21) and row["closed_market"]


def test_unknown_mic_is_named():
    with pytest.raises(ContractError, match="'XXXX' has no known trading calendar"):
        exchange_sessions(["XXXX"], date(2024, 1, 1), date(2024, 2, 1))
