"""Build the HTML report from the serving copy (read-only; never the ETL's writable file).

Writes ``<out>/index.html`` (every event: the event × segment heatmap of CAR[0,+5], the event
list, the run's data quality) and ``<out>/events/<event_id>.html`` per event: its anchors,
the venues in the order they could react (the same table as `aftershock event ID`), day 0 hour
by hour (hourly paths and the intraday marks), the securities that moved most on day 0, CAR
paths with confidence bands per segment, top gainers and losers with t statistics, USD value
moved by segment, news attention with its top headlines, data quality.

Pages are self-contained: the Vega/Vega-Lite/vega-embed bundle (from vl-convert-python) and
every chart's spec and data are inlined, so a page opens offline from disk. All text goes
through Jinja2 with autoescaping; chart specs are embedded as JSON with ``<``, ``>`` and ``&``
escaped, so a headline such as ``<script>…`` shows as text. A panel whose mart is not in the
serving copy (yet) says so instead of failing: tables and columns are looked up in
information_schema first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import duckdb
import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape
from scipy import stats

from report import charts
from transforms.intraday import MARKS as MARK_COLUMNS
from warehouse import event_page
from warehouse.connection import connect_read_only, query_frame

#: Securities shown in each of the gainers and losers lists.
TOP_N = 10
#: Headlines listed under the attention chart.
MAX_HEADLINES = 12
#: Securities in the day-0 table (by |AR day 0|), as `aftershock event ID` lists them.
TOP_DAY0 = 15
#: Securities drawn hour by hour, and listed with their intraday marks.
MAX_PATHS = 8
MAX_MARKS = 20
#: Segments that are not supply-chain segments (pools and benchmarks).
NOT_SEGMENTS = ("all", "benchmark")


def reports_dir_for(serving_file: str | os.PathLike) -> Path:
    """Where the report of a serving copy goes: ``reports/`` beside its serving folder
    (``data/reports`` for ``data/serving/aftershock.duckdb``)."""
    return Path(serving_file).resolve().parent.parent / "reports"


class ReportError(RuntimeError):
    """The report cannot be built (no serving copy, unknown event, ...)."""


@dataclass
class Catalog:
    """Which tables and columns the serving copy has."""

    columns: dict[str, set[str]] = field(default_factory=dict)

    def has(self, table: str, *cols: str) -> bool:
        have = self.columns.get(table)
        return have is not None and all(c in have for c in cols)


#: The day 0 the report measures from, in marts keyed by anchor (announcement or attention).
ANCHOR = "announcement"


def _reported(catalog: Catalog, table: str, alias: str = "") -> str:
    """The rows the report reads: `AND anchor = 'announcement'` when ``table`` is keyed by
    anchor, and `AND default_model` (the run's model) when it holds every model."""
    prefix = alias + "." if alias else ""
    where = f" AND {prefix}anchor = '{ANCHOR}'" if catalog.has(table, "anchor") else ""
    if catalog.has(table, "default_model"):
        where += f" AND {prefix}default_model"
    return where


def _catalog(con: duckdb.DuckDBPyConnection) -> Catalog:
    rows = con.execute(
        "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns"
    ).fetchall()
    catalog = Catalog()
    for table, column in rows:
        catalog.columns.setdefault(table, set()).add(column)
    return catalog


def page_name(event_id: str) -> str:
    """File name of an event's page: the id with anything but [A-Za-z0-9._-] replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", event_id) + ".html"


# --- formatting (Jinja filters) -------------------------------------------------------------
def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_pct(value, digits: int = 2) -> str:
    return "–" if _missing(value) else f"{100 * value:+.{digits}f} %"


def fmt_rate(value, digits: int = 2) -> str:
    return "–" if _missing(value) else f"{100 * value:.{digits}f} %"


def fmt_num(value, digits: int = 2) -> str:
    return "–" if _missing(value) else f"{value:.{digits}f}"


def fmt_int(value) -> str:
    return "–" if _missing(value) else f"{int(value):,}"


def fmt_usd(value) -> str:
    """Dollars in billions (or millions below one billion), signed."""
    if _missing(value):
        return "–"
    return f"{value / 1e9:+,.1f} bn" if abs(value) >= 1e9 else f"{value / 1e6:+,.0f} m"


def fmt_p(value) -> str:
    if _missing(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def fmt_ts(value) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def fmt_iso(value: datetime) -> str:
    """An instant as the ISO UTC text Vega-Lite parses."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("report", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=fmt_pct, rate=fmt_rate, num=fmt_num, int=fmt_int, p=fmt_p, ts=fmt_ts,
                       usd=fmt_usd)
    return env


@cache
def vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one script (assigns window.vegaEmbed)."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()
    if "</script" in bundle.lower():  # would end the inline <script> early
        raise ReportError("the vega bundle contains '</script' and cannot be inlined")
    return bundle


#: Renders every chart of a page: <div data-chart=KEY> with its spec in
#: <script type="application/json" id="spec-KEY">. Marks each div rendered or failed.
INIT_JS = """
(function () {
  for (const el of document.querySelectorAll('[data-chart]')) {
    const spec = JSON.parse(document.getElementById('spec-' + el.dataset.chart).textContent);
    vegaEmbed(el, spec, {renderer: 'svg', actions: {export: true, source: false,
                         compiled: false, editor: false}})
      .then(function () { el.dataset.rendered = 'ok'; })
      .catch(function (err) {
        el.dataset.rendered = 'error';
        el.textContent = 'This chart could not be drawn: ' + err;
        console.error('chart ' + el.dataset.chart + ': ' + err);
      });
  }
})();
"""


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@cache
def page_scripts() -> dict:
    """The two inline scripts of every page and the Content-Security-Policy allowing only them.

    The policy also forbids every network request (default-src 'none'): the page must work
    offline, and an injected <script> would not run even if escaping ever failed.
    'unsafe-eval' is needed by Vega's expression compiler.
    """
    bundle = vega_bundle()
    csp = (
        "default-src 'none'; "
        f"script-src {_csp_hash(bundle)} {_csp_hash(INIT_JS)} 'unsafe-eval'; "
        "style-src 'unsafe-inline'; img-src data: blob:; base-uri 'none'; form-action 'none'"
    )
    return {"vega_js": bundle, "init_js": INIT_JS, "csp": csp}


def spec_json(spec: dict) -> str:
    """A chart spec as JSON safe to place inside <script type="application/json">."""
    text = json.dumps(spec, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                      default=str)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _frame(con, sql: str, params: list | None = None) -> pl.DataFrame:
    return query_frame(con, sql, params)


def _clean(frame: pl.DataFrame) -> pl.DataFrame:
    """NaN -> null in float columns (JSON has no NaN)."""
    return frame.with_columns(
        pl.col(c).fill_nan(None) for c, t in frame.schema.items() if t.is_float()
    )


# --- data ------------------------------------------------------------------------------------
def run_info(con, catalog: Catalog) -> dict:
    """The run the serving copy was published from, and its data quality."""
    info: dict = {"run_id": None, "quality": None}
    if catalog.has("audit.serving_manifest", "run_id", "published_at"):
        row = con.execute(
            "SELECT run_id, run_status, max(published_at), any_value(storage_version) "
            "FROM audit.serving_manifest GROUP BY ALL"
        ).fetchall()
        if row:
            row = row[0]
            info.update(run_id=row[0], run_status=row[1], published_at=row[2],
                        storage_version=row[3])
    if catalog.has("audit.etl_run", "run_id", "status", "source"):
        row = con.execute(
            "SELECT run_id, status, source, started_at, finished_at FROM audit.etl_run "
            "ORDER BY run_id DESC LIMIT 1"
        ).fetchall()
        if row:
            row = row[0]
            info.update(run_id=info["run_id"] or row[0], status=row[1], source=row[2],
                        started_at=row[3], finished_at=row[4])
    info["quality"] = quality(con, catalog)
    return info


def quality(con, catalog: Catalog) -> dict | None:
    """Quarantined rows and validation pass rates of the published run."""
    if not catalog.has("audit.validation_result", "success", "element_count",
                       "unexpected_count"):
        return None
    suites = _frame(
        con,
        "SELECT suite, count(*) AS expectations, count(*) FILTER (WHERE success) AS passed, "
        "max(element_count) AS rows_validated FROM audit.validation_result GROUP BY suite "
        "ORDER BY suite",
    ).to_dicts()
    failed = _frame(
        con,
        "SELECT suite, expectation, severity, unexpected_count, element_count "
        "FROM audit.validation_result WHERE NOT success "
        "ORDER BY severity, unexpected_count DESC",
    ).to_dicts()
    quarantined: dict[str, int] = {}
    reasons: list[dict] = []
    if catalog.has("audit.quarantine", "dataset", "reasons"):
        quarantined = dict(
            con.execute(
                "SELECT dataset, count(*) FROM audit.quarantine GROUP BY dataset"
            ).fetchall()
        )
        reasons = _frame(
            con,
            "SELECT reason, count(*) AS rows FROM "
            "(SELECT unnest(reasons) AS reason FROM audit.quarantine) "
            "GROUP BY reason ORDER BY rows DESC, reason LIMIT 10",
        ).to_dicts()
    for suite in suites:
        dataset = suite["suite"].removeprefix("core_")
        suite["quarantined"] = quarantined.get(dataset, quarantined.get(suite["suite"], 0))
        validated = suite["rows_validated"] or 0
        suite["row_pass_rate"] = (
            (validated - suite["quarantined"]) / validated if validated else None
        )
        suite["expectation_pass_rate"] = (
            suite["passed"] / suite["expectations"] if suite["expectations"] else None
        )
    return {
        "suites": suites,
        "failed": failed,
        "reasons": reasons,
        "quarantined_total": sum(quarantined.values()),
    }


def events(con, catalog: Catalog) -> pl.DataFrame:
    """One row per event that has reactions, newest first."""
    if not catalog.has("marts.event_reaction", "event_id", "car_0_p5", "segment"):
        raise ReportError(
            "the serving copy has no marts.event_reaction: run `aftershock run` first"
        )
    extra = (
        "e.announced_precision, e.open_weights, e.source_url"
        if catalog.has("core.dim_event", "announced_precision", "open_weights", "source_url")
        else "NULL AS announced_precision, NULL AS open_weights, NULL AS source_url"
    )
    join = (
        "LEFT JOIN core.dim_event e USING (event_id)"
        if catalog.has("core.dim_event", "event_id")
        else "LEFT JOIN (SELECT NULL AS event_id) e USING (event_id)"
    )
    frame = _frame(
        con,
        f"""
        WITH r AS (
            SELECT event_id, any_value(event_name) AS event_name, any_value(lab) AS lab,
                   any_value(event_kind) AS event_kind, min(announced_at) AS announced_at,
                   min(day0) AS day0, any_value(source) AS source,
                   count(*) FILTER (WHERE segment NOT IN ('benchmark')) AS n_securities,
                   avg(car_0_p5) FILTER (WHERE segment NOT IN ('benchmark')) AS mean_car_0_p5,
                   avg(ar_day0) FILTER (WHERE segment NOT IN ('benchmark')) AS mean_ar_day0
            FROM marts.event_reaction WHERE true{_reported(catalog, "marts.event_reaction")}
            GROUP BY event_id
        )
        SELECT r.*, {extra} FROM r {join}
        ORDER BY r.announced_at DESC, r.event_id
        """,
    )
    return _clean(frame).with_columns(
        page=pl.col("event_id").map_elements(page_name, return_dtype=pl.String)
    )


def heatmap_cells(con, catalog: Catalog, listing: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """CAR[0,+5] per (event, segment) and where it comes from."""
    if catalog.has("marts.event_segment_summary", "caar", "car_window", "kp_bmp"):
        frame = _frame(
            con,
            "SELECT event_id, segment, caar, n, kp_bmp AS t FROM marts.event_segment_summary "
            "WHERE car_window = 'car_0_p5' AND segment NOT IN ('all', 'benchmark') "
            "AND caar IS NOT NULL" + _reported(catalog, "marts.event_segment_summary"),
        )
        source = ("CAAR[0,+5] from marts.event_segment_summary; t is the Kolari-Pynnönen "
                  "adjusted BMP statistic")
        t_name = "KP-adjusted BMP"
    else:
        frame = _frame(
            con,
            "SELECT event_id, segment, avg(car_0_p5) AS caar, count(car_0_p5) AS n, "
            "NULL::DOUBLE AS t FROM marts.event_reaction "
            "WHERE segment <> 'benchmark' AND car_0_p5 IS NOT NULL"
            + _reported(catalog, "marts.event_reaction") + " GROUP BY ALL",
        )
        source = "mean CAR[0,+5] over the segment's securities (marts.event_reaction)"
        t_name = "–"
    labels = listing.select(
        "event_id",
        event_label=pl.col("event_name") + " (" + pl.col("day0").cast(pl.String) + ")",
        sort_key=pl.col("announced_at").cast(pl.String) + pl.col("event_id"),
        href="events/" + pl.col("page"),
    )
    cells = _clean(frame).join(labels, on="event_id", how="inner").with_columns(
        t_name=pl.lit(t_name)
    )
    return cells, source


def car_paths(con, catalog: Catalog, event_id: str) -> pl.DataFrame:
    """Mean CAR per (segment, rel_day) with a 95% t interval over the segment's securities."""
    frame = _frame(
        con,
        "SELECT segment, rel_day, avg(car) AS mean_car, stddev_samp(car) AS sd, "
        "count(car) AS n FROM marts.event_window WHERE event_id = ? "
        "AND segment <> 'benchmark' AND car IS NOT NULL"
        + _reported(catalog, "marts.event_window") + " GROUP BY ALL ORDER BY ALL",
        [event_id],
    )
    if frame.height == 0:
        return frame
    dof = (frame["n"] - 1).cast(pl.Float64).to_numpy()
    # one vectorised call; a single security (0 degrees of freedom: NaN) has no interval
    tcrit = pl.Series(stats.t.ppf(0.975, dof), dtype=pl.Float64, nan_to_null=True)
    half = tcrit * frame["sd"] / frame["n"].cast(pl.Float64).sqrt()
    return _clean(
        frame.with_columns(lo=pl.col("mean_car") - half, hi=pl.col("mean_car") + half)
        .with_columns(
            lo=pl.coalesce("lo", "mean_car"), hi=pl.coalesce("hi", "mean_car")
        )
    )


def movers(con, catalog: Catalog, event_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Top gainers and losers by CAR[0,+5] (non-benchmark securities with a CAR)."""
    frame = _clean(
        _frame(
            con,
            "SELECT ticker, security_name, segment, exchange_mic, ret_day0, ar_day0, "
            "car_0_0_t, car_0_p5, car_0_p5_t, car_0_p5_p, confounded, thin_estimation "
            "FROM marts.event_reaction WHERE event_id = ? AND segment <> 'benchmark' "
            "AND car_0_p5 IS NOT NULL" + _reported(catalog, "marts.event_reaction"),
            [event_id],
        )
    )
    gainers = frame.sort("car_0_p5", descending=True).head(TOP_N)
    losers = frame.sort("car_0_p5").head(TOP_N)
    return gainers, losers


def value_moved(con, catalog: Catalog, event_id: str) -> pl.DataFrame:
    """USD value moved by segment, long format (segment, window, usd_bn); empty if unknown."""
    if not catalog.has("marts.event_segment_summary", "value_moved_usd_0_0",
                       "value_moved_usd_0_p5"):
        return pl.DataFrame()
    wide = _frame(
        con,
        "SELECT segment, any_value(value_moved_usd_0_0) AS \"[0,0]\", "
        "any_value(value_moved_usd_0_p5) AS \"[0,+5]\" FROM marts.event_segment_summary "
        "WHERE event_id = ? AND segment NOT IN ('all', 'benchmark')"
        + _reported(catalog, "marts.event_segment_summary") + " GROUP BY segment",
        [event_id],
    )
    if wide.height == 0:
        return wide
    long = wide.unpivot(index="segment", variable_name="window", value_name="usd")
    return _clean(long).drop_nulls("usd").with_columns(usd_bn=pl.col("usd") / 1e9)


def propagation(con, catalog: Catalog, event_id: str) -> pl.DataFrame:
    """The event's venues in the order they could react (``reaction_order``: the first moment
    each could trade after the announcement; close order where the mart predates it); empty
    when marts.event_propagation is absent."""
    needed = ("venue_name", "day0_open_utc", "day0_close_utc", "close_order",
              "median_ar_day0", "hours_after_announcement")
    if not catalog.has("marts.event_propagation", *needed):
        return pl.DataFrame()
    reacts = catalog.has("marts.event_propagation", "reaction_order", "first_trade_utc")
    order = "reaction_order, close_order" if reacts else "close_order"
    frame = _frame(
        con,
        "SELECT exchange_mic, venue_name, venue_group, day0, "
        "coalesce(day0_open_utc, day0_close_utc) AS day0_open_utc, day0_close_utc, "
        + ("first_trade_utc, reaction_order, " if reacts
           else "NULL::TIMESTAMPTZ AS first_trade_utc, close_order AS reaction_order, ")
        # a venue of futures or ETFs only (CME) has no AR: its bar shows their return
        + ("coalesce(median_ar_day0, etf_futures_median_ret_day0) AS day0_move, "
           if catalog.has("marts.event_propagation", "etf_futures_median_ret_day0")
           else "median_ar_day0 AS day0_move, ")
        + "closed_market, close_order, hours_after_announcement, n_securities, n_with_ar, "
        "median_ar_day0, benchmark_ticker, benchmark_ret_day0 "
        "FROM marts.event_propagation WHERE event_id = ?"
        + _reported(catalog, "marts.event_propagation") + f" ORDER BY {order}, exchange_mic",
        [event_id],
    )
    return _clean(frame)


#: The marts and columns `aftershock event ID`'s venue and security tables read.
VENUE_NEEDS = {
    "marts.event_propagation": ("reaction_order", "first_trade_utc", "median_ret_day0"),
    "marts.event_reaction": ("censored_day0", "value_moved_usd_0_0"),
    "marts.event_intraday_mark": ("mark", "ret_from_prev_close"),
}
SECURITY_NEEDS = {
    "marts.event_reaction": ("limit_day0", "value_moved_usd_0_0", "benchmark_fallback"),
    "marts.event_intraday_mark": ("mark", "ret_from_prev_close"),
}


def _has(catalog: Catalog, needs: dict[str, tuple[str, ...]]) -> bool:
    return all(catalog.has(t, *cols) for t, cols in needs.items())


def venue_table(con, catalog: Catalog, event_id: str) -> pl.DataFrame:
    """Per venue in reaction order, the same rows as `aftershock event ID` prints (day 0, first
    trade, median move at the US open and close to close, AR, benchmark, limit hits, USD moved
    and N of M valued); empty when the serving copy predates those marts."""
    if not _has(catalog, VENUE_NEEDS):
        return pl.DataFrame()
    return _clean(event_page.event_venues(con, event_id, ANCHOR))


def day0_securities(con, catalog: Catalog, event_id: str) -> pl.DataFrame:
    """The securities that moved most on day 0, as `aftershock event ID` lists them."""
    if not _has(catalog, SECURITY_NEEDS):
        return pl.DataFrame()
    return _clean(event_page.event_securities(con, event_id, ANCHOR, TOP_DAY0))


def anchor_row(con, catalog: Catalog, event_id: str) -> dict | None:
    """The event's attention anchor with its evidence (or the reason it has none)."""
    if not catalog.has("marts.news_attention", "attention_reason", "attention_publishers"):
        return None
    header = event_page.event_header(con, event_id)
    return header.row(0, named=True) if header.height else None


def intraday_paths(con, catalog: Catalog, event_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Day 0 hour by hour: (paths, marks).

    ``paths``: the hourly return from the previous official close (marts.event_intraday) of
    at most ``MAX_PATHS`` securities with hourly bars, index futures and indices first, then
    by the depth of their move, from 24 hours before the US cash open to 8 hours after it.
    ``marks``: per security with hourly bars (at most ``MAX_MARKS``, same order) its return
    at the announcement, the US cash open, its venue's open and close and its intraday low
    and high, plus the US open instant. Both are empty when no security has hourly bars (or
    the marts are absent).
    """
    if not (catalog.has("marts.event_intraday", "bar_end_utc", "ret_from_prev_close")
            and catalog.has("marts.event_intraday_mark", "mark", "hourly_bars")):
        return pl.DataFrame(), pl.DataFrame()
    kind = ("coalesce(s.kind, '')" if catalog.has("core.dim_security", "ticker", "kind")
            else "''")
    join = ("LEFT JOIN core.dim_security s USING (ticker)"
            if catalog.has("core.dim_security", "ticker", "kind") else "")
    marks = _clean(_frame(con, f"""
        WITH m AS (
            SELECT * FROM marts.event_intraday_mark
            WHERE event_id = ? AND anchor = ? AND hourly_bars),
        depth AS (
            SELECT ticker, max(abs(low_from_prev_close)) AS depth FROM marts.event_intraday
            WHERE event_id = ? AND anchor = ? GROUP BY ticker)
        SELECT m.ticker, any_value(m.exchange_mic) AS exchange_mic,
               any_value(m.segment) AS segment, any_value({kind}) AS kind,
               any_value(m.day0) AS day0, any_value(m.prev_close) AS prev_close,
               {", ".join(f"any_value(m.ret_from_prev_close) FILTER (WHERE m.mark = '{k}') AS {k}"
                          for k in MARK_COLUMNS)},
               any_value(m.mark_utc) FILTER (WHERE m.mark = 'us_cash_open') AS us_open_utc,
               any_value(d.depth) AS depth
        FROM m LEFT JOIN depth d USING (ticker) {join}
        GROUP BY m.ticker
        ORDER BY any_value({kind}) IN ('future', 'index') DESC, depth DESC NULLS LAST, m.ticker
        LIMIT {MAX_MARKS}""", [event_id, ANCHOR, event_id, ANCHOR]))
    if marks.height == 0:
        return pl.DataFrame(), marks
    # one time axis: the day before the US cash open to the US close (venues whose day 0 is
    # days later, after a holiday, are in the table but not drawn)
    us_open = marks["us_open_utc"].drop_nulls().first()
    window = "" if us_open is None else (
        " AND bar_end_utc BETWEEN ?::TIMESTAMPTZ - INTERVAL 24 HOUR "
        "AND ?::TIMESTAMPTZ + INTERVAL 8 HOUR")
    paths = _clean(_frame(con, f"""
        SELECT ticker, exchange_mic, bar_start_utc, bar_end_utc, ret_from_prev_close,
               low_from_prev_close, high_from_prev_close
        FROM marts.event_intraday
        WHERE event_id = ? AND anchor = ? AND list_contains(?, ticker)
          AND ret_from_prev_close IS NOT NULL{window}
        ORDER BY ticker, bar_start_utc""",
        [event_id, ANCHOR, marks["ticker"].to_list(), *([us_open] * 2 if window else [])]))
    drawn = [t for t in marks["ticker"] if t in set(paths["ticker"])][:MAX_PATHS]
    return paths.filter(pl.col("ticker").is_in(drawn)), marks


def attention(con, catalog: Catalog, event_id: str) -> tuple[pl.DataFrame, list[dict]]:
    """News per relative day and the top headlines; empty when marts.news_attention is absent."""
    if not catalog.has("marts.news_attention", "event_id", "rel_day"):
        return pl.DataFrame(), []
    cols = catalog.columns["marts.news_attention"]
    stories = next(
        (c for c in ("stories_event", "stories_total", "stories", "article_count") if c in cols),
        None,
    )
    if stories is None:
        return pl.DataFrame(), []
    optional = {
        "session_date": "CAST(session_date AS VARCHAR)",
        "mean_sentiment": "mean_sentiment",
        "is_attention_day": "coalesce(is_attention_day, false)",
        "top_headlines": "top_headlines",
    }
    select = ", ".join(
        f"{expr} AS {name}" if name in cols else
        f"{'false' if name == 'is_attention_day' else 'NULL'} AS {name}"
        for name, expr in optional.items()
    )
    frame = _clean(
        _frame(
            con,
            f"SELECT rel_day, sum({stories}) AS stories, {select} FROM marts.news_attention "
            f"WHERE event_id = ? GROUP BY ALL ORDER BY rel_day",
            [event_id],
        )
    )
    if frame.height == 0:
        return frame, []
    headlines: list[dict] = []
    if "top_headlines" in cols:
        ranked = frame.sort(["is_attention_day", "stories"], descending=[True, True])
        for row in ranked.iter_rows(named=True):
            for text in row["top_headlines"] or []:
                if len(headlines) < MAX_HEADLINES and text:
                    headlines.append({"rel_day": row["rel_day"], "date": row["session_date"],
                                      "text": str(text),
                                      "attention_day": bool(row["is_attention_day"])})
    return frame.drop("top_headlines"), headlines


# --- pages -----------------------------------------------------------------------------------
def _write(path: Path, text: str) -> None:
    """Write a page atomically (a reader never sees half a page)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _chart(charts_: list[dict], key: str, spec: dict | None) -> str | None:
    if spec is None:
        return None
    charts_.append({"id": key, "json": spec_json(spec)})
    return key


def _event_page(con, catalog: Catalog, event: dict, run: dict, generated: str,
                scripts: dict) -> str:
    event_id = event["event_id"]
    specs: list[dict] = []
    paths = car_paths(con, catalog, event_id)
    gainers, losers = movers(con, catalog, event_id)
    moved = value_moved(con, catalog, event_id)
    venues = propagation(con, catalog, event_id)
    news, headlines = attention(con, catalog, event_id)
    hourly, marks = intraday_paths(con, catalog, event_id)
    us_open = marks["us_open_utc"].drop_nulls().first() if marks.height else None
    instants = [{"t": fmt_iso(us_open), "label": "US cash open"}] if us_open else []
    if us_open is None or event["announced_at"] >= us_open - timedelta(hours=24):
        instants.insert(0, {"t": fmt_iso(event["announced_at"]), "label": "announced"})
    mover_frame = pl.concat([gainers, losers]).unique("ticker", keep="first")
    return _environment().get_template("event.html").render(
        title=f"{event['event_name']} — Aftershock",
        event=event,
        run=run,
        generated=generated,
        charts=specs,
        car_chart=_chart(specs, "car", charts.car_paths(paths) if paths.height else None),
        movers_chart=_chart(specs, "movers",
                            charts.movers(mover_frame) if mover_frame.height else None),
        gainers=gainers.to_dicts(),
        losers=losers.to_dicts(),
        value_chart=_chart(specs, "value", charts.value_moved(moved) if moved.height else None),
        value_rows=moved.to_dicts(),
        value_reason=(
            "marts.event_segment_summary has no USD value columns"
            if not catalog.has("marts.event_segment_summary", "value_moved_usd_0_0")
            else "shares outstanding and FX rates are not loaded yet, so no USD value is known"
        ),
        propagation_chart=_chart(
            specs, "propagation",
            charts.propagation(venues, fmt_iso(event["announced_at"]))
            if venues.height else None,
        ),
        venues=venues.to_dicts(),
        venue_rows=venue_table(con, catalog, event_id).to_dicts(),
        day0_rows=day0_securities(con, catalog, event_id).to_dicts(),
        intraday_chart=_chart(specs, "intraday",
                              charts.intraday(hourly, instants) if hourly.height else None),
        mark_rows=marks.to_dicts(),
        mark_columns=MARK_COLUMNS,
        intraday_reason=(
            "marts.event_intraday is not in the serving copy yet"
            if not catalog.has("marts.event_intraday", "bar_end_utc")
            else "no security has hourly bars for this event's day 0 (Yahoo keeps 730 days of "
                 "1h bars; the snapshot records a few venues around DeepSeek Monday)"
        ),
        propagation_reason=(
            "marts.event_propagation is not in the serving copy yet"
            if not catalog.has("marts.event_propagation", "venue_name")
            else "no venue has a day 0 for this event"
        ),
        attention_chart=_chart(specs, "attention",
                               charts.attention(news) if news.height else None),
        headlines=headlines,
        attention_reason=(
            "marts.news_attention is not in the serving copy yet (news is not loaded)"
            if not catalog.has("marts.news_attention", "event_id")
            else "no news was found around this event"
        ),
        paths_n=paths["n"].max() if paths.height else 0,
        anchor=anchor_row(con, catalog, event_id),
        max_paths=MAX_PATHS,
        **scripts,
    )


def build_report(serving_path: str | os.PathLike, out_dir: str | os.PathLike,
                 event_id: str | None = None) -> dict:
    """Write the report from the serving copy at ``serving_path`` into ``out_dir``.

    All pages (index and one per event), or only ``event_id``'s page. Returns the paths
    written, the run the serving copy came from and the number of pages.
    """
    con = connect_read_only(serving_path)
    try:
        catalog = _catalog(con)
        listing = events(con, catalog)
        if event_id is not None and event_id not in listing["event_id"].to_list():
            raise ReportError(
                f"unknown event {event_id!r}: not in marts.event_reaction of {serving_path}"
            )
        run = run_info(con, catalog)
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        out = Path(out_dir)
        (out / "events").mkdir(parents=True, exist_ok=True)
        env = _environment()
        scripts = page_scripts()
        written: list[str] = []
        if event_id is None:
            cells, heat_source = heatmap_cells(con, catalog, listing)
            specs: list[dict] = []
            html = env.get_template("index.html").render(
                title="Aftershock — AI events and the supply chain",
                run=run,
                generated=generated,
                events=listing.to_dicts(),
                charts=specs,
                heatmap_chart=_chart(specs, "heatmap",
                                     charts.heatmap(cells) if cells.height else None),
                heatmap_source=heat_source,
                **scripts,
            )
            _write(out / "index.html", html)
            written.append(str(out / "index.html"))
            selected = listing
        else:
            selected = listing.filter(pl.col("event_id") == event_id)
        for event in selected.to_dicts():
            html = _event_page(con, catalog, event, run, generated, scripts)
            path = out / "events" / event["page"]
            _write(path, html)
            written.append(str(path))
        if event_id is None:  # pages of events no longer in the marts
            keep = set(listing["page"].to_list())
            for stale in (out / "events").glob("*.html"):
                if stale.name not in keep:
                    stale.unlink()
    finally:
        con.close()
    return {
        "out_dir": str(out),
        "index": str(out / "index.html"),
        "pages": written,
        "run_id": run.get("run_id"),
    }
