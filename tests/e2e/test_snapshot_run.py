"""The real recorded market: Nvidia's DeepSeek day."""

import re

import duckdb
import pytest

pytestmark = pytest.mark.slow


def test_nvda_day0_return_on_the_deepseek_app_day(cli, snapshot_dir, tmp_path):
    path = tmp_path / "w.duckdb"
    code, output = cli("run", "--source", "snapshot", "--snapshot-dir", str(snapshot_dir),
                       "--tickers", "NVDA,AAPL,META,^GSPC,300766.SZ,399001.SZ,NQ=F,ASML.AS,^GDAXI",
                       "--warehouse", str(path))
    assert code == 0, output
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute(
        "SELECT event_id, ticker, ret_day0, ar_day0, source FROM marts.event_reaction "
        "WHERE day0 = DATE '2025-01-27' AND exchange_mic = 'XNAS' AND default_model "
        "ORDER BY ticker").fetchall()
    limits = con.execute(
        "SELECT ticker, limit_day0, one_price_day0, censored_day0, ret_day0 "
        "FROM marts.event_reaction WHERE event_id = 'deepseek-app-1-us-app-store' "
        "AND ticker IN ('NVDA', '300766.SZ') AND default_model ORDER BY ticker").fetchall()
    window = con.execute(
        "SELECT limit_hit, one_price FROM marts.event_window WHERE ticker = '300766.SZ' "
        "AND event_id = 'deepseek-app-1-us-app-store' AND rel_day = 0").fetchall()
    nq = con.execute(
        "SELECT ret_from_prev_close, price_source FROM marts.event_intraday_mark "
        "WHERE event_id = 'deepseek-app-1-us-app-store' AND anchor = 'announcement' "
        "AND ticker = 'NQ=F' AND mark = 'us_cash_open'").fetchall()
    bars = con.execute("SELECT count(*) FROM core.fact_price_intraday "
                       "WHERE ticker = 'NQ=F'").fetchall()[0][0]
    order = dict(con.execute(
        "SELECT exchange_mic, reaction_order FROM marts.event_propagation "
        "WHERE event_id = 'deepseek-app-1-us-app-store' AND anchor = 'announcement'").fetchall())
    at_open = dict(con.execute(
        "SELECT exchange_mic, median_ret_us_open FROM marts.event_propagation "
        "WHERE event_id = 'deepseek-app-1-us-app-store' AND anchor = 'announcement' "
        "AND n_at_us_open > 0").fetchall())
    asml = con.execute(
        "SELECT benchmark, benchmark_fallback, ar_day0 FROM marts.event_reaction "
        "WHERE event_id = 'deepseek-app-1-us-app-store' AND anchor = 'announcement' "
        "AND ticker = 'ASML.AS' AND default_model").fetchall()
    con.close()
    # ASML's own index (^AEX) is not recorded: the chain falls back to ^GDAXI, flagged
    assert asml == [("^GDAXI", True, asml[0][2])] and asml[0][2] < -0.03
    # markets in the order they could react: Shenzhen and CME Globex before New York
    assert order["XSHE"] < order["XNAS"] and order["XCME"] < order["XNAS"]
    # measured at the US open: Shenzhen from its close (Merit +20 %), New York from its open
    assert at_open["XSHE"] > 0.1 and at_open["XNAS"] < 0
    # hourly bars loaded; Nasdaq futures were down about 3 % before New York opened
    assert bars > 0 and len(nq) == 1 and nq[0][1] == "hourly"
    assert -0.045 < nq[0][0] < -0.025
    by_ticker = {r[1]: r for r in rows}
    assert {r[0] for r in rows} == {"deepseek-app-1-us-app-store"}
    # close 142.58099365234375 -> 118.38761138916016 in the recording: -16.97 %
    assert by_ticker["NVDA"][2] * 100 == pytest.approx(-16.97, abs=0.02)
    assert by_ticker["NVDA"][3] < -0.10 and by_ticker["NVDA"][4] == "snapshot"
    assert by_ticker["AAPL"][2] > 0 and by_ticker["META"][2] > 0  # Apple and Meta rose
    # Merit Interactive: locked at ChiNext's +20 % limit all day, so its return is censored
    merit = [r for r in limits if r[0] == "300766.SZ"]
    assert merit and all(r[1:4] == ("up", True, True) for r in merit)
    assert all(r[4] == pytest.approx(24.10 / 20.08 - 1, abs=1e-3) for r in merit)
    assert all(r[1:4] == (None, False, False) for r in limits if r[0] == "NVDA")
    assert window and all(w == ("up", True) for w in window)


STORY = "NVDA,NQ=F,ES=F,ASML.AS,300766.SZ,399001.SZ,^GSPC,^GDAXI,^HSI,9988.HK,0981.HK"


def _close(snapshot_dir, ticker: str, day: str, field: str = "close") -> float:
    import csv

    with open(snapshot_dir / f"{ticker}.csv") as f:
        return next(float(r[field]) for r in csv.DictReader(f) if r["date"] == day)


def test_the_event_page_tells_deepseek_monday(cli, snapshot_dir, tmp_path):
    """`aftershock event`: each number of the story checked against the recorded CSVs."""
    import json

    path = tmp_path / "w.duckdb"
    code, output = cli("run", "--source", "snapshot", "--snapshot-dir", str(snapshot_dir),
                       "--tickers", STORY, "--warehouse", str(path), "--top", "0")
    assert code == 0, output
    code, output = cli("event", "deepseek-app-1-us-app-store", "--format", "json",
                       "--warehouse", str(path))
    assert code == 0, output
    page = json.loads(output)
    sec = {r["ticker"]: r for r in page["securities"]}
    venues = [r["venue"] for r in page["venues"]]
    day, friday = "2025-01-27", "2025-01-24"

    def pct(ticker, field="close"):
        return 100 * (_close(snapshot_dir, ticker, day, field) / _close(snapshot_dir, ticker,
                                                                       friday) - 1)

    # markets in the order they could react: CME Globex and Asia before New York
    assert venues.index("XCME") < venues.index("XSHE") < venues.index("XNAS")
    assert sec["NVDA"]["ret_day0"] == pytest.approx(pct("NVDA"), abs=0.005)  # -16.97 %
    assert -650 < sec["NVDA"]["usd_bn"] < -550  # about -$590B
    # futures before the US open, from the hourly files: the 14:00 UTC bar's open
    with open(next((snapshot_dir / "intraday").glob("NQ=F_1h_*.csv"))) as f:
        import csv

        bars = {r["datetime_utc"]: r for r in csv.DictReader(f)}
    nq_open = float(bars["2025-01-27 14:00:00"]["open"])
    nq_13_close = float(bars["2025-01-27 13:00:00"]["close"])
    nq_friday = _close(snapshot_dir, "NQ=F", friday)
    assert sec["NQ=F"]["at_us_open"] == pytest.approx(100 * (nq_open / nq_friday - 1),
                                                      abs=0.005)
    assert sec["ES=F"]["at_us_open"] < -1
    # ASML's close and intraday low; Merit's limit-up; Hong Kong
    assert sec["ASML.AS"]["ret_day0"] == pytest.approx(pct("ASML.AS"), abs=0.005)
    assert sec["ASML.AS"]["low"] == pytest.approx(pct("ASML.AS", "low"), abs=0.005)
    assert sec["ASML.AS"]["low"] < -8
    assert sec["300766.SZ"]["limit"] == "up"
    assert sec["300766.SZ"]["ret_day0"] == pytest.approx(pct("300766.SZ"), abs=0.005)
    for hk in ("^HSI", "9988.HK", "0981.HK"):
        assert sec[hk]["ret_day0"] == pytest.approx(pct(hk), abs=0.005)
    # the report's event page shows the same: NQ=F drawn hour by hour, its US-open mark, and
    # the venue table in the same order as `aftershock event`
    html = (tmp_path / "reports" / "events" / "deepseek-app-1-us-app-store.html").read_text()
    spec = json.loads(re.search(r'id="spec-intraday">(.*?)</script>', html, re.S).group(1))
    drawn = {r["ticker"] for r in spec["datasets"]["rows"]}
    assert {"NQ=F", "ES=F"} <= drawn
    nq_bar = next(r for r in spec["datasets"]["rows"]
                  if r["ticker"] == "NQ=F" and r["bar_start_utc"] == "2025-01-27T13:00:00Z")
    assert 100 * nq_bar["ret_from_prev_close"] == pytest.approx(
        100 * (nq_13_close / nq_friday - 1), abs=0.005)
    marks = html[html.index('id="intraday"'):html.index('id="day0"')]
    nq_row = re.search(r"<td>NQ=F</td>(.*?)</tr>", marks, re.S).group(1)
    assert f"{sec['NQ=F']['at_us_open']:+.2f} %" in nq_row
    table = html[html.index('id="propagation"'):html.index('id="intraday"')]
    shown = re.findall(r"<td>(X[A-Z]{3}|ARCX)</td>", table)
    assert shown == venues
    # the table fits the page's title and unknown events get one line
    code, output = cli("event", "deepseek", "--warehouse", str(path))
    assert code == 2 and "unknown event 'deepseek' (did you mean" in output
