"""The day-0 hourly path and its marks, on the real recording (numbers checked against the CSVs
read independently) and on hand-made bars (DST, gaps, missing bars never guessed)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime

import polars as pl
import pytest

from flows.stages import prepare_reference
from sources.intraday import SnapshotIntradaySource
from sources.snapshot import SnapshotSource
from transforms import calendar
from transforms import prices as tp
from transforms.intraday import MARKS, build_intraday_marts, intraday_to_core
from transforms.reactions import anchor_day0

EVENT = "deepseek-app-1-us-app-store"
TICKERS = ["NQ=F", "ES=F", "^GDAXI", "NVDA", "ASML.AS", "300766.SZ", "^GSPC"]


def _csv_rows(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def story(snapshot_dir):
    ref = prepare_reference(date(2025, 3, 1))
    bars = SnapshotIntradaySource(snapshot_dir).intraday(TICKERS, date(2025, 1, 1),
                                                         date(2025, 2, 28)).frame
    daily = tp.to_core(SnapshotSource(snapshot_dir).prices(TICKERS, date(2024, 6, 1),
                                                          date(2025, 2, 28)).frame,
                       ref.securities, ref.sessions)
    anchored = anchor_day0(ref.day0.filter(pl.col("event_id") == EVENT), ref.sessions)
    marts = build_intraday_marts(intraday_to_core(bars, ref.securities, ref.sessions), daily,
                                 ref.securities.filter(pl.col("ticker").is_in(TICKERS)),
                                 ref.sessions, anchored, ref.events)
    return marts


def _mark(story, ticker: str, mark: str) -> dict:
    return story["event_intraday_mark"].filter(
        pl.col("ticker") == ticker, pl.col("mark") == mark).row(0, named=True)


def _daily_close(snapshot_dir, ticker: str, day: str, field: str = "close") -> float:
    return next(float(r[field]) for r in _csv_rows(snapshot_dir / f"{ticker}.csv")
                if r["date"] == day)


@pytest.mark.parametrize("ticker", ["NQ=F", "ES=F", "^GDAXI"])
def test_futures_and_dax_before_the_us_open(story, snapshot_dir, ticker):
    """At 14:30 UTC on 2025-01-27 the last price is the open of the 14:00 bar; the base is
    Friday's official close -- both read straight from the recorded files."""
    hourly = _csv_rows(next((snapshot_dir / "intraday").glob(f"{ticker}_1h_*.csv")))
    at_open = next(float(r["open"]) for r in hourly if r["datetime_utc"] == "2025-01-27 14:00:00")
    friday = _daily_close(snapshot_dir, ticker, "2025-01-24")
    row = _mark(story, ticker, "us_cash_open")
    assert row["mark_utc"] == datetime(2025, 1, 27, 14, 30, tzinfo=UTC)
    assert row["price_source"] == "hourly" and row["missing_reason"] is None
    assert row["price"] == at_open and row["prev_close"] == friday
    assert row["ret_from_prev_close"] == pytest.approx(at_open / friday - 1, rel=1e-12)


def test_nasdaq_futures_were_down_about_three_percent_before_new_york_opened(story):
    nq, es = _mark(story, "NQ=F", "us_cash_open"), _mark(story, "ES=F", "us_cash_open")
    assert -0.045 < nq["ret_from_prev_close"] < -0.025  # the story: about -3 %
    assert -0.03 < es["ret_from_prev_close"] < -0.01  # and about -2 % for the S&P 500
    assert nq["ret_from_prev_close"] < es["ret_from_prev_close"]  # tech led the fall


def test_asml_close_and_intraday_low_from_the_daily_bar(story, snapshot_dir):
    prev = _daily_close(snapshot_dir, "ASML.AS", "2025-01-24")
    for mark, field in (("venue_close", "close"), ("intraday_low", "low"),
                        ("venue_open", "open"), ("intraday_high", "high")):
        row = _mark(story, "ASML.AS", mark)
        value = _daily_close(snapshot_dir, "ASML.AS", "2025-01-27", field)
        assert row["ret_from_prev_close"] == pytest.approx(value / prev - 1, rel=1e-12)
    assert _mark(story, "ASML.AS", "intraday_low")["ret_from_prev_close"] < -0.08
    # no hourly ASML bars were recorded: at 14:30 Amsterdam was trading, so no price is guessed
    row = _mark(story, "ASML.AS", "us_cash_open")
    assert row["price"] is None and row["missing_reason"] == "no_hourly_bars"
    assert row["hourly_bars"] is False


def test_closed_venues_are_known_exactly_at_the_us_open(story, snapshot_dir):
    """Shenzhen had closed (07:00 UTC): its price at 14:30 is the day-0 close; New York opens at
    14:30: the daily open."""
    merit = _mark(story, "300766.SZ", "us_cash_open")
    assert (merit["price_source"], merit["price"]) == ("daily", 24.1)
    nvda = _mark(story, "NVDA", "us_cash_open")
    assert nvda["price_source"] == "daily"
    assert nvda["price"] == _daily_close(snapshot_dir, "NVDA", "2025-01-27", "open")


def test_every_unit_has_every_mark_and_the_announcement_has_no_time(story):
    marks = story["event_intraday_mark"]
    per_unit = marks.group_by("ticker").agg(pl.col("mark"))
    assert all(sorted(m) == sorted(MARKS) for m in per_unit["mark"])
    ann = marks.filter(pl.col("mark") == "announcement")
    assert ann["missing_reason"].unique().to_list() == ["time_unknown"]  # date-only catalog row
    assert (marks["price"].is_null() == marks["missing_reason"].is_not_null()).all()


def test_path_is_the_day0_session_bar_by_bar(story, snapshot_dir):
    path = story["event_intraday"].filter(pl.col("ticker") == "NQ=F")
    hourly = _csv_rows(next((snapshot_dir / "intraday").glob("NQ=F_1h_*.csv")))
    # CME's 2025-01-27 session runs from Sunday 23:00 UTC to Monday 23:00 UTC
    inside = [r for r in hourly
              if "2025-01-26 23:00:00" <= r["datetime_utc"] < "2025-01-27 23:00:00"]
    assert path.height == len(inside)
    friday = _daily_close(snapshot_dir, "NQ=F", "2025-01-24")
    expected = [float(r["close"]) / friday - 1 for r in inside]
    assert path.sort("bar_start_utc")["ret_from_prev_close"].to_list() == pytest.approx(expected)
    assert set(story["event_intraday"]["ticker"]) == {"NQ=F", "ES=F", "^GDAXI"}


# -- hand-made ----------------------------------------------------------------------------


def _synthetic(day: date, hours: list[int] | None):
    sessions = calendar.exchange_sessions(["XNYS", "XETR"], date(day.year, 1, 1),
                                          date(day.year, 12, 31))
    securities = pl.DataFrame({"ticker": ["NVD.DE"], "exchange_mic": ["XETR"],
                               "segment": ["accelerators"]})
    prev = sessions.filter(pl.col("exchange_mic") == "XETR", pl.col("session_date") < day)[
        "session_date"].max()
    daily = pl.DataFrame({"ticker": "NVD.DE", "session_date": [prev, day],
                          "open": [100.0, 96.0], "high": [101.0, 97.0], "low": [99.0, 90.0],
                          "close": [100.0, 91.0]})
    s = sessions.filter(pl.col("exchange_mic") == "XETR", pl.col("session_date") == day).row(
        0, named=True)
    bars = pl.DataFrame({
        "ticker": "NVD.DE",
        "bar_start_utc": [datetime(day.year, day.month, day.day, h, tzinfo=UTC)
                          for h in (hours or [])],
        "open": [96.0 - i for i in range(len(hours or []))],
        "high": 97.0, "low": 90.0, "close": [95.5 - i for i in range(len(hours or []))],
        "volume": 1.0}, schema_overrides={"bar_start_utc": pl.Datetime("us", "UTC")}
    ) if hours else pl.DataFrame(schema={
        "ticker": pl.String, "bar_start_utc": pl.Datetime("us", "UTC"),
        **dict.fromkeys(["open", "high", "low", "close", "volume"], pl.Float64)})
    bars = intraday_to_core(bars, securities, sessions)
    events = pl.DataFrame({"event_id": ["e"], "announced_precision": ["minute"],
                           "announced_at": [datetime(day.year, day.month, day.day, 9, 40,
                                                     tzinfo=UTC)]})
    anchored = pl.DataFrame({
        "event_id": ["e", "e"], "anchor": "announcement", "exchange_mic": ["XETR", "XNYS"],
        "day0": [day, day], "day0_idx": [
            s["session_idx"],
            sessions.filter(pl.col("exchange_mic") == "XNYS", pl.col("session_date") == day)[
                "session_idx"][0]]})
    return build_intraday_marts(bars, daily, securities, sessions, anchored, events), s


def test_us_open_follows_daylight_saving_time():
    marts, _ = _synthetic(date(2025, 7, 15), [7, 8, 9, 10, 11, 12, 13, 14, 15])
    row = marts["event_intraday_mark"].filter(pl.col("mark") == "us_cash_open").row(
        0, named=True)
    assert row["mark_utc"] == datetime(2025, 7, 15, 13, 30, tzinfo=UTC)  # EDT: 9:30 = 13:30
    # the 13:00 bar holds 13:30: its open (96 - 6), observed at 13:00
    assert (row["price"], row["as_of_utc"]) == (90.0, datetime(2025, 7, 15, 13, tzinfo=UTC))
    ann = marts["event_intraday_mark"].filter(pl.col("mark") == "announcement").row(
        0, named=True)
    assert (ann["price"], ann["price_source"]) == (94.0, "hourly")  # 09:40 is in the 09:00 bar


def test_a_gap_in_the_bars_uses_the_last_close_before_the_instant():
    marts, _ = _synthetic(date(2025, 1, 27), [8, 9, 10, 11])  # nothing after 12:00 UTC
    row = marts["event_intraday_mark"].filter(pl.col("mark") == "us_cash_open").row(
        0, named=True)
    assert row["price"] == 95.5 - 3 and row["as_of_utc"] == datetime(2025, 1, 27, 12,
                                                                       tzinfo=UTC)


def test_without_bars_nothing_is_guessed():
    marts, _ = _synthetic(date(2025, 1, 27), None)
    marks = marts["event_intraday_mark"]
    assert marts["event_intraday"].height == 0
    inside = marks.filter(pl.col("mark").is_in(["announcement", "us_cash_open"]))
    assert inside["price"].null_count() == 2
    assert inside["missing_reason"].to_list() == ["no_hourly_bars", "no_hourly_bars"]
    close = marks.filter(pl.col("mark") == "venue_close").row(0, named=True)
    assert close["ret_from_prev_close"] == pytest.approx(-0.09)


def test_bars_are_placed_in_their_venue_session():
    sessions = calendar.exchange_sessions(["XCME", "XETR"], date(2025, 1, 1), date(2025, 2, 28))
    securities = pl.DataFrame({"ticker": ["NQ=F", "^GDAXI"], "exchange_mic": ["XCME", "XETR"]})
    bars = pl.DataFrame({
        "ticker": ["NQ=F", "NQ=F", "^GDAXI", "^GDAXI", "ZZZ"],
        "bar_start_utc": [datetime(2025, 1, 26, 23, tzinfo=UTC),
                          datetime(2025, 1, 25, 12, tzinfo=UTC),  # Saturday: no session
                          datetime(2025, 1, 27, 16, tzinfo=UTC),
                          datetime(2025, 1, 27, 17, tzinfo=UTC),  # after Xetra's close
                          datetime(2025, 1, 27, 12, tzinfo=UTC)]})
    placed = intraday_to_core(bars, securities, sessions)
    assert placed["ticker"].to_list() == bars["ticker"].to_list()  # order kept
    assert placed["session_date"].to_list() == [date(2025, 1, 27), None, date(2025, 1, 27),
                                                None, None]
    assert placed["exchange_mic"].to_list() == ["XCME", "XCME", "XETR", "XETR", None]
