"""The report in headless Chromium (Debian's `chromium`): what a reader actually sees.

Pages load from disk with no console error and no request but their own file, every chart
renders (its screenshot is not blank), and a headline holding <script> shows as text.
"""

from __future__ import annotations

import pytest

from report.browser import distinct_colors, load_page
from report.build import page_name

pytestmark = pytest.mark.slow

XSS_PROBE = """
JSON.stringify({
  xss: window.__xss === undefined ? null : window.__xss,
  headlines: [...document.querySelectorAll('#attention li')].map(li => li.textContent),
  title: document.querySelector('h1').textContent,
  svgText: [...document.querySelectorAll('[data-chart] svg text')].map(t => t.textContent)
})
"""


def _assert_clean(result, expected_charts):
    assert result.errors == []
    assert set(result.charts) == set(expected_charts)
    assert all(state == "ok" for state in result.charts.values()), result.charts
    assert all(u.startswith(("file://", "data:", "about:")) for u in result.requests), \
        result.requests
    assert result.svg_marks > 20


def test_index_renders_the_heatmap(chromium, built_report):
    result = load_page((built_report / "index.html").as_uri(), clip_selector="#heatmap")
    _assert_clean(result, {"heatmap"})
    assert distinct_colors(result.screenshot) > 20  # a drawn heatmap, not a blank box


def test_event_page_renders_every_chart(chromium, built_report):
    url = (built_report / "events" / page_name("deepseek-r1")).as_uri()
    result = load_page(url, clip_selector="#car-paths")
    _assert_clean(result, {"car", "movers", "value", "propagation", "intraday", "attention"})
    assert distinct_colors(result.screenshot) > 20


def test_script_in_a_headline_shows_as_text(chromium, built_report):
    import json

    url = (built_report / "events" / page_name("evil-event")).as_uri()
    result = load_page(url, probe_js=XSS_PROBE, full_page=False)
    _assert_clean(result, {"car", "movers", "propagation", "attention"})
    seen = json.loads(result.probe)
    assert seen["xss"] is None  # the injected script never ran
    assert any("<script>window.__xss=1</script> & <b>bold</b> headline day 1" in h
               for h in seen["headlines"])
    assert seen["title"].startswith("Evil <script>window.__xss=1</script>")


def test_pages_without_optional_marts_load_cleanly(chromium, bare_serving_copy, tmp_path):
    from report.build import build_report

    build_report(bare_serving_copy, tmp_path)
    result = load_page((tmp_path / "events" / page_name("deepseek-r1")).as_uri(),
                       full_page=False)
    _assert_clean(result, {"car", "movers"})
