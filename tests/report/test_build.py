"""The report's pages from a small serving copy: files, escaping, offline, missing marts."""

from __future__ import annotations

import re
from html import unescape

import altair as alt
import pytest

from report import build, charts
from report.build import ReportError, build_report, page_name, spec_json

# as in conftest.py (test modules cannot import it under --import-mode=importlib)
HOSTILE = "<script>window.__xss=1</script> & <b>bold</b>"
EVENTS = ("deepseek-r1", "evil-event")


def _pages(out):
    return {p.name: p.read_text(encoding="utf-8") for p in (out / "events").glob("*.html")}


def test_index_and_one_page_per_event(built_report):
    assert (built_report / "index.html").is_file()
    assert set(_pages(built_report)) == {page_name(e) for e in EVENTS}
    index = (built_report / "index.html").read_text(encoding="utf-8")
    for event_id in EVENTS:
        assert f'href="events/{page_name(event_id)}"' in index


def test_pages_are_self_contained(built_report):
    """No resource is loaded from anywhere: no src/link/import, and a CSP forbidding it."""
    for html in [(built_report / "index.html").read_text(), *_pages(built_report).values()]:
        markup = re.sub(r"<script\b[^>]*>.*?</script>", "<script></script>", html, flags=re.S)
        assert not re.search(r"<(script|img|iframe)[^>]*\bsrc=", markup, re.I)
        assert not re.search(r"<link\b", markup, re.I)
        assert "default-src 'none'" in unescape(html)
        assert "window.vegaEmbed" in html  # the vega bundle is inlined
        assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_hostile_text_is_escaped(built_report):
    """Event names and headlines holding markup appear only escaped (as text)."""
    for html in [(built_report / "index.html").read_text(), *_pages(built_report).values()]:
        assert "<script>window.__xss" not in html
        assert "<b>bold</b>" not in html
        # our own tags only: JSON specs, the bundle, the chart init
        own = html.count('<script type="application/json"') + 2
        assert html.count("<script") == own
    page = _pages(built_report)[page_name("evil-event")]
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "headline day 1" in page


def test_spec_json_cannot_close_its_script_tag():
    text = spec_json({"title": HOSTILE + "</script><!--"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\\u003c/script\\u003e" in text


def test_panels_without_marts_say_no_data_yet(bare_serving_copy, tmp_path):
    build_report(bare_serving_copy, tmp_path)
    page = (tmp_path / "events" / page_name("deepseek-r1")).read_text()
    # value moved, propagation, hour by hour (no bars in this copy), news attention
    assert page.count("No data yet") == 4
    assert "marts.event_propagation is not in the serving copy yet" in page
    assert "no security has hourly bars for this event" in page
    assert "marts.news_attention is not in the serving copy yet" in page
    assert 'data-chart="car"' in page and 'data-chart="movers"' in page
    index = (tmp_path / "index.html").read_text()
    assert "mean CAR[0,+5] over the segment" in index  # heatmap falls back to event_reaction


def test_full_page_has_every_panel(built_report):
    page = _pages(built_report)[page_name("deepseek-r1")]
    for key in ("car", "movers", "value", "propagation", "intraday", "attention"):
        assert f'data-chart="{key}"' in page
    assert "No data yet" not in page
    other = _pages(built_report)[page_name("evil-event")]  # no hourly bars: said, not drawn
    assert 'data-chart="intraday"' not in other and "no security has hourly bars" in other
    assert "rows quarantined" in page and "expectations met" in page


def test_value_moved_without_values_says_why(built_report):
    page = _pages(built_report)[page_name("evil-event")]  # its USD values are null
    assert "shares outstanding and FX rates are not loaded yet" in page


def test_one_event_only(serving_copy, tmp_path):
    result = build_report(serving_copy, tmp_path, event_id="deepseek-r1")
    assert [p.rsplit("/", 1)[-1] for p in result["pages"]] == ["deepseek-r1.html"]
    assert not (tmp_path / "index.html").exists()
    with pytest.raises(ReportError, match="unknown event 'nope'"):
        build_report(serving_copy, tmp_path, event_id="nope")


def test_specs_are_valid_vega_lite(serving_copy, monkeypatch):
    """Every chart builder's spec validates against Altair's Vega-Lite schema."""
    monkeypatch.setattr(charts, "VALIDATE", True)
    con = build.connect_read_only(serving_copy)
    try:
        catalog = build._catalog(con)
        listing = build.events(con, catalog)
        cells, _ = build.heatmap_cells(con, catalog, listing)
        charts.heatmap(cells)
        charts.car_paths(build.car_paths(con, catalog, "deepseek-r1"))
        gainers, losers = build.movers(con, catalog, "deepseek-r1")
        charts.movers(gainers)
        charts.value_moved(build.value_moved(con, catalog, "deepseek-r1"))
        charts.propagation(build.propagation(con, catalog, "deepseek-r1"),
                           "2025-01-20T12:00:00Z")
        paths, _ = build.intraday_paths(con, catalog, "deepseek-r1")
        charts.intraday(paths, [{"t": "2025-01-21T14:30:00Z", "label": "US cash open"}])
        news, headlines = build.attention(con, catalog, "deepseek-r1")
        charts.attention(news)
    finally:
        con.close()
    assert headlines[0]["attention_day"] and HOSTILE in headlines[0]["text"]
    assert alt.SCHEMA_VERSION.startswith("v6")


def test_confidence_band_is_the_t_interval_of_the_rows(serving_copy):
    """Checked against the rows themselves: mean ± t(0.975, n−1) · sd / √n, by numpy/scipy."""
    import numpy as np
    from scipy import stats

    con = build.connect_read_only(serving_copy)
    try:
        paths = build.car_paths(con, build._catalog(con), "deepseek-r1")
        cars = np.array([r[0] for r in con.execute(
            "SELECT car FROM marts.event_window WHERE event_id = 'deepseek-r1' "
            "AND segment = 'memory' AND rel_day = 3 AND anchor = 'announcement'").fetchall()])
    finally:
        con.close()
    assert paths.height == len(set(paths["segment"])) * 31
    assert (paths["lo"] <= paths["mean_car"]).all() and (paths["mean_car"] <= paths["hi"]).all()
    assert (paths["hi"] - paths["lo"]).max() > 0
    half = stats.t.ppf(0.975, len(cars) - 1) * cars.std(ddof=1) / np.sqrt(len(cars))
    row = paths.filter(segment="memory", rel_day=3).row(0, named=True)
    assert row["n"] == len(cars) == 4
    assert row["lo"] == pytest.approx(cars.mean() - half, rel=1e-12)
    assert row["hi"] == pytest.approx(cars.mean() + half, rel=1e-12)


def test_a_chart_template_is_filled_per_page_and_never_changed():
    """Charts drawn on every page are built once; each page gets its own rows and params."""
    import polars as pl

    def venues(ar: list[float | None]) -> pl.DataFrame:
        return pl.DataFrame({
            "venue_name": ["Nasdaq", "Korea Exchange", "Tokyo Stock Exchange"],
            "exchange_mic": ["XNAS", "XKRX", "XTKS"], "close_order": [3, 1, 1],
            "day0_open_utc": ["2025-01-21T14:30:00Z"] * 3,
            "day0_close_utc": ["2025-01-21T21:00:00Z"] * 3,
            "hours_after_announcement": [33.0, 18.0, 18.0], "median_ar_day0": ar,
            "day0_move": ar,
            "n_securities": [3, 1, 1], "n_with_ar": [3, 1, 0], "closed_market": [False] * 3,
        })

    template = charts._propagation()
    before = spec_json(template)
    first = charts.propagation(venues([-0.05, 0.01, None]), "2025-01-20T12:00:00Z")
    second = charts.propagation(venues([0.002, 0.001, None]), "2025-02-01T00:00:00Z")
    assert spec_json(charts._propagation()) == before  # the cached template is untouched
    # venues in closing order, ties by MIC: Korea (XKRX) before Tokyo (XTKS), then Nasdaq
    ranked = {r["venue_name"]: r["venue_rank"] for r in first["datasets"][charts.ROWS]}
    assert ranked == {"Korea Exchange": 0, "Tokyo Stock Exchange": 1, "Nasdaq": 2}
    assert first["datasets"]["announced"][0]["t"] == "2025-01-20T12:00:00Z"
    assert second["datasets"]["announced"][0]["t"] == "2025-02-01T00:00:00Z"
    # the colour domain is each page's own: the largest |AR| (98th percentile), at least 1%
    limits = [{p["name"]: p.get("value") for p in s["params"]}["limit"]
              for s in (first, second)]
    assert limits == [0.05, 0.01]
    with pytest.raises(KeyError, match="not declared"):
        charts._fill(template, {}, nope=1)


def test_only_the_announcement_day0_is_reported(built_report, serving_copy):
    """Marts keyed by anchor hold attention-day rows too; the report shows announcement ones."""
    for html in [(built_report / "index.html").read_text(), *_pages(built_report).values()]:
        assert "ATTENTION ROW" not in html
    con = build.connect_read_only(serving_copy)
    try:
        listing = build.events(con, build._catalog(con))
    finally:
        con.close()
    assert listing["n_securities"].to_list() == [12, 12]


def _chart_rows(page: str, key: str) -> dict:
    """The JSON spec embedded for chart ``key`` on a page."""
    import json

    found = re.search(rf'<script type="application/json" id="spec-{key}">(.*?)</script>', page,
                      re.S)
    assert found, f"no spec for chart {key}"
    return json.loads(found.group(1))


def test_day0_hour_by_hour(built_report):
    """The future's hourly path is drawn bar by bar and its marks are tabulated against its
    previous close (100): the US open at 96.0 is -4.00 %, the low 95.5 -4.50 %; the stock
    without hourly bars is left out, the announcement without a time shows as unknown."""
    page = _pages(built_report)[page_name("deepseek-r1")]
    spec = _chart_rows(page, "intraday")
    rows = spec["datasets"]["rows"]
    assert [r["ticker"] for r in rows] == ["TFUT"] * 6
    assert [round(r["ret_from_prev_close"], 6) for r in rows] == [
        round(c / 100 - 1, 6) for _, c in (
            (9, 99.0), (10, 97.5), (11, 96.8), (12, 97.0), (13, 96.0), (14, 96.5))]
    # the announcement (26.5 h before the US open) is outside the drawn span: no rule for it
    assert {i["label"]: i["t"] for i in spec["datasets"]["instants"]} == {
        "US cash open": "2025-01-21T14:30:00Z"}
    section = page[page.index('id="intraday"'):page.index('id="day0"')]
    table = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))
    assert "TFUT XCME 2025-01-21 – -4.00 % -0.50 % -3.50 % -4.50 % -0.50 %" in table
    assert "TACC0" not in section


def test_venues_in_reaction_order_and_day0_securities(built_report):
    """The venue table is `aftershock event ID`'s, in reaction order (Tokyo first); the
    day-0 table lists the largest |AR| first."""
    page = _pages(built_report)[page_name("deepseek-r1")]
    section = page[page.index('id="propagation"'):page.index('id="intraday"')]
    assert section.index("XCME") < section.index("XTKS") < section.index("XNAS")
    # CME lists only futures: no AR, so its session bar is coloured by their return
    spec = _chart_rows(page, "propagation")
    cme = next(r for r in spec["datasets"]["rows"] if r["exchange_mic"] == "XCME")
    assert cme["median_ar_day0"] is None and cme["day0_move"] == pytest.approx(-0.03)
    day0 = page[page.index('id="day0"'):page.index('id="car-paths"')]
    tickers = re.findall(r"<tr><td>(T[A-Z]+\d)</td>", day0)
    # |AR| grows with the ticker's position (conftest: shock * (1 + 0.2 j)): power_cooling last
    assert tickers[:3] == ["TPOW3", "TPOW2", "TPOW1"]
    assert len(tickers) == min(build.TOP_DAY0, 12)
