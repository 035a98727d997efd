"""A small synthetic warehouse, published to a serving copy, for the report tests.

Rows are written through the real DDL (warehouse.connection.connect migrates a fresh file);
columns a test does not care about get a type-appropriate filler, so the fixture keeps up
with new mart columns. Two events; one carries a hostile name and headline.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from report.browser import find_chromium
from warehouse.connection import connect
from warehouse.publish import publish

RUN_ID = "20250301T000000-test0001"
HOSTILE = "<script>window.__xss=1</script> & <b>bold</b>"
SEGMENTS = ("accelerators", "memory", "power_cooling")
EVENTS = {
    "deepseek-r1": ("DeepSeek-R1", datetime(2025, 1, 20, 12, tzinfo=UTC), -0.08),
    "evil-event": (f"Evil {HOSTILE}", datetime(2025, 2, 10, 15, tzinfo=UTC), 0.03),
}

_FILL = {
    "VARCHAR": "x", "BOOLEAN": False, "DOUBLE": 0.0, "INTEGER": 0, "BIGINT": 0,
    "DATE": date(2025, 1, 1), "JSON": "{}",
}


def insert(con, table: str, **values) -> None:
    """Insert one row, filling NOT NULL columns the caller did not give."""
    schema, name = table.split(".")
    columns = con.execute(
        "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
        "WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, name],
    ).fetchall()
    row = {}
    for column, dtype, nullable in columns:
        if column in values:
            row[column] = values[column]
        elif column == "anchor":  # marts measured from two day 0s: the report reads this one
            row[column] = "announcement"
        elif column == "default_model":  # marts holding every model: the run's one
            row[column] = True
        elif not nullable:
            if dtype.endswith("[]"):
                row[column] = []
            elif dtype.startswith("TIMESTAMP"):
                row[column] = datetime(2025, 1, 1, tzinfo=UTC)
            else:
                row[column] = _FILL.get(dtype, 0)
    unknown = set(values) - {c for c, _, _ in columns}
    assert not unknown, f"{table} has no column(s) {unknown}"
    names = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join("?" for _ in row)
    con.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))


def build_warehouse(path: Path, *, optional_marts: bool = True):
    """A migrated warehouse holding two events' marts and a run's audit record."""
    con = connect(path)
    insert(con, "audit.etl_run", run_id=RUN_ID, flow="daily-refresh", source="demo",
           started_at=datetime(2025, 3, 1, tzinfo=UTC),
           finished_at=datetime(2025, 3, 1, 0, 5, tzinfo=UTC), status="success",
           params='{"source": "demo"}')
    for i, expectation in enumerate(("close_null", "close_above_high", "stale_price")):
        insert(con, "audit.validation_result", run_id=RUN_ID, suite="core_prices",
               expectation=expectation, severity="warn" if i == 2 else "reject",
               success=i == 0, element_count=1000, unexpected_count=[0, 3, 5][i])
    for k in range(3):
        insert(con, "audit.quarantine", run_id=RUN_ID, dataset="prices", row_key=f"NVDA|{k}",
               row_json="{}", reasons=["close_above_high"],
               quarantined_at=datetime(2025, 3, 1, tzinfo=UTC))
    tickers = [(f"T{s[:3].upper()}{j}", s) for s in SEGMENTS for j in range(4)]
    has_anchor = bool(con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'marts' "
        "AND table_name = 'event_reaction' AND column_name = 'anchor'").fetchall()[0][0])
    for ticker, segment in tickers:
        insert(con, "core.dim_security", ticker=ticker, name=f"{ticker} Inc.", segment=segment,
               exchange_mic="XNAS", currency="USD", country="US", kind="equity",
               benchmark="^GSPC")
    for e, (event_id, (name, announced, shock)) in enumerate(EVENTS.items()):
        insert(con, "core.dim_event", event_id=event_id, name=name, lab="Lab", kind="model_release",
               announced_date=announced.date(), announced_at=announced,
               announced_precision="minute", open_weights=True, lab_country="CN",
               source_url="https://example.com/a?b=1&c=<2>", origin="catalog")
        day0 = announced.date() + timedelta(days=1)
        for j, (ticker, segment) in enumerate(tickers):
            size = shock * (1 + 0.2 * j) * (1 if segment != "power_cooling" else -1)
            insert(con, "marts.event_reaction", event_id=event_id, event_name=name,
                   event_kind="model_release", lab="Lab", announced_at=announced, ticker=ticker,
                   security_name=f"{ticker} Inc.", segment=segment, exchange_mic="XNAS",
                   benchmark="^GSPC", day0=day0, model="market", ret_day0=size,
                   ar_day0=size * 0.9, car_0_0=size * 0.9, car_0_0_t=size * 30,
                   car_0_p5=size * 1.2, car_0_p5_t=size * 20, car_0_p5_p=0.01, est_n=240,
                   source="demo")
            for rel in range(-10, 21):
                car = (size * 1.2 if rel >= 0 else 0.001 * rel) + 0.002 * (j % 3)
                insert(con, "marts.event_window", event_id=event_id, ticker=ticker,
                       segment=segment, rel_day=rel, session_date=day0 + timedelta(days=rel),
                       ret=0.001, ar=0.001, car=car)
            if has_anchor:  # rows from the other day 0 the report must leave out
                insert(con, "marts.event_reaction", event_id=event_id, anchor="attention",
                       event_name=name, event_kind="model_release", lab="Lab",
                       announced_at=announced, ticker=ticker, security_name="ATTENTION ROW",
                       segment=segment, exchange_mic="XNAS", benchmark="^GSPC", day0=day0,
                       model="market", car_0_p5=0.99, est_n=240, source="demo")
        if not optional_marts:
            continue
        for segment in (*SEGMENTS, "all"):
            insert(con, "marts.event_segment_summary", event_id=event_id, event_name=name,
                   segment=segment, car_window="car_0_p5", window_start=0, window_end=5,
                   model="market", n_securities=4, n=4, caar=shock * 1.3, kp_bmp=-3.1,
                   value_moved_usd_0_0=-5.9e11 if e == 0 else None,
                   value_moved_usd_0_p5=-7.1e11 if e == 0 else None)
        for order, (mic, venue, hours) in enumerate(
            (("XTKS", "Tokyo Stock Exchange", 18.0), ("XNAS", "Nasdaq", 33.0)), start=1
        ):
            insert(con, "marts.event_propagation", event_id=event_id, event_name=name,
                   announced_at=announced, announced_precision="minute", exchange_mic=mic,
                   venue_name=venue, venue_group=venue, day0=day0,
                   day0_open_utc=announced + timedelta(hours=hours - 6),
                   day0_close_utc=announced + timedelta(hours=hours), closed_market=False,
                   close_order=order, hours_after_announcement=hours, n_securities=4,
                   n_with_ar=4, median_ar_day0=shock / order, median_ret_day0=shock / order,
                   first_trade_utc=announced + timedelta(hours=hours - 6),
                   reaction_order=order + 1)  # CME Globex (below) trades first
        if e == 0:  # one future with hourly bars on day 0, one stock with daily marks only
            intraday_rows(con, event_id, day0)
            insert(con, "marts.event_propagation", event_id=event_id, event_name=name,
                   announced_at=announced, announced_precision="minute", exchange_mic="XCME",
                   venue_name="CME Globex", venue_group="CME Globex", day0=day0,
                   day0_open_utc=announced + timedelta(hours=11),
                   day0_close_utc=announced + timedelta(hours=34), closed_market=False,
                   close_order=3, hours_after_announcement=34.0, n_securities=0,
                   n_with_ar=0, n_etf_futures=1, etf_futures_median_ret_day0=-0.03,
                   first_trade_utc=announced + timedelta(hours=11), reaction_order=1)
        for rel in range(-3, 6):
            insert(con, "marts.news_attention", event_id=event_id, rel_day=rel,
                   session_date=day0 + timedelta(days=rel), exchange_mic="XNYS",
                   stories_total=50 + rel, stories_event=max(0, 12 - 3 * abs(rel - 1)),
                   stories_model=2, mean_sentiment=-0.2,
                   top_headlines=[f"{HOSTILE} headline day {rel}", "Chips slide"] if rel == 1
                   else [f"Plain headline {rel}"],
                   news_sources=["demo"], is_attention_day=rel == 1, attention_rel_day=1,
                   attention_date=day0 + timedelta(days=1))
    if not optional_marts:
        for table in ("event_segment_summary", "event_propagation", "news_attention",
                      "ticker_news_daily"):
            con.execute(f"DROP TABLE IF EXISTS marts.{table}")
    return con


#: The hourly future's bars: (hour of bar start UTC, close), previous close 100.
HOURLY = ((9, 99.0), (10, 97.5), (11, 96.8), (12, 97.0), (13, 96.0), (14, 96.5))
US_OPEN = datetime(2025, 1, 21, 14, 30, tzinfo=UTC)


def intraday_rows(con, event_id: str, day0: date) -> None:
    """marts.event_intraday and marts.event_intraday_mark rows for a future (TFUT) with
    hourly bars and a stock (TACC0) without: what the report's hour-by-hour panel reads."""
    insert(con, "core.dim_security", ticker="TFUT", name="Index future", segment="benchmark",
           exchange_mic="XCME", currency="USD", country="US", kind="future", benchmark="^GSPC")
    start = datetime.combine(day0, datetime.min.time(), UTC)
    for hour, close in HOURLY:
        insert(con, "marts.event_intraday", event_id=event_id, ticker="TFUT",
               exchange_mic="XCME", segment="benchmark", day0=day0,
               bar_start_utc=start + timedelta(hours=hour),
               bar_end_utc=start + timedelta(hours=hour + 1), prev_close=100.0,
               open=close, high=close + 0.5, low=close - 0.5, close=close,
               ret_from_prev_close=close / 100 - 1, low_from_prev_close=(close - 0.5) / 100 - 1,
               high_from_prev_close=(close + 0.5) / 100 - 1)
    marks = {"announcement": None, "us_cash_open": 96.0, "venue_open": 99.5,
             "venue_close": 96.5, "intraday_low": 95.5, "intraday_high": 99.5}
    for mark, price in marks.items():
        insert(con, "marts.event_intraday_mark", event_id=event_id, ticker="TFUT",
               exchange_mic="XCME", segment="benchmark", day0=day0, mark=mark,
               mark_utc=US_OPEN if mark == "us_cash_open" else None, prev_close=100.0,
               price=price, ret_from_prev_close=None if price is None else price / 100 - 1,
               hourly_bars=True, missing_reason="time_unknown" if price is None else None)
        insert(con, "marts.event_intraday_mark", event_id=event_id, ticker="TACC0",
               exchange_mic="XNAS", segment="accelerators", day0=day0, mark=mark,
               hourly_bars=False, missing_reason="no_hourly_bars")


@pytest.fixture(scope="session")
def serving_copy(tmp_path_factory) -> Path:
    """A published serving copy with every mart the report knows."""
    root = tmp_path_factory.mktemp("serving-full")
    con = build_warehouse(root / "aftershock.duckdb")
    try:
        return Path(publish(con, root / "serving", RUN_ID, parquet=False)["path"])
    finally:
        con.close()


@pytest.fixture(scope="session")
def bare_serving_copy(tmp_path_factory) -> Path:
    """A serving copy with only event_reaction and event_window among the marts."""
    root = tmp_path_factory.mktemp("serving-bare")
    con = build_warehouse(root / "aftershock.duckdb", optional_marts=False)
    try:
        return Path(publish(con, root / "serving", RUN_ID, parquet=False)["path"])
    finally:
        con.close()


@pytest.fixture(scope="session")
def built_report(serving_copy, tmp_path_factory) -> Path:
    from report.build import build_report

    out = tmp_path_factory.mktemp("reports")
    build_report(serving_copy, out)
    return out


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None and os.environ.get("CI"):
        pytest.fail("no Chromium in CI: the Makefile's test target runs .ci/install-chromium.sh")
    if found is None:
        pytest.skip("no Chromium on PATH: run .ci/install-chromium.sh (apt-get install chromium)")
    return found
