"""Vega-Lite chart specs (built with Altair) for the report. Pure: frames in, spec dicts out.

Every function takes a polars frame already shaped by `report.build` and returns a Vega-Lite
spec as a dict, with its data inline; the page embeds it and renders it with the inlined
vega-embed bundle. The charts drawn on every event page are built by Altair once per process
(a template whose data is a named dataset and whose data-dependent scalars are Vega-Lite
params) and filled per page: building them per page spent most of a report's time in Altair's
object model (~0.1 s a chart, 64 pages). Text from the data (names, headlines) only ever
reaches the page as Vega text marks or tooltips, which render as text, never as HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import altair as alt
import polars as pl
from altair.vegalite.v6.schema.core import Root

#: Diverging scale for returns: red falls, blue rises, white at zero.
DIVERGING = "redblue"
PCT = ".1%"


def _values(frame: pl.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: dates and instants as ISO strings."""
    out = frame.with_columns(
        pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime)
    ).with_columns(
        pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Date
    )
    return out.to_dicts()


#: Validate specs against the Vega-Lite schema when building them (slow: the tests do it).
VALIDATE = False


def _spec(chart: alt.TopLevelMixin) -> dict:
    return chart.to_dict(validate=VALIDATE)


#: The name of a template's rows in its ``datasets``.
ROWS = "rows"


def _template(build: Callable[[], alt.TopLevelMixin]) -> Callable[[], dict]:
    """A chart spec built once (``build`` uses named data and params, never the data itself)."""
    return cache(lambda: build().to_dict(validate=False))


def _fill(template: dict, datasets: dict[str, list[dict]], **params: object) -> dict:
    """A template with this page's data: ``datasets`` by name, and the values of ``params``
    (declared in the template; an unknown one is a programming error)."""
    declared = {p["name"] for p in template.get("params", [])}
    if unknown := set(params) - declared:
        raise KeyError(f"params not declared in the chart: {sorted(unknown)}")
    spec = {**template, "datasets": datasets}
    if params:
        spec["params"] = [
            {**p, "value": params[p["name"]]} if p["name"] in params else p
            for p in template["params"]
        ]
    if VALIDATE:
        Root.validate(spec)
    return spec


def _symmetric(values: pl.Series, cap: float = 0.3) -> float:
    """A symmetric color domain around 0 that the largest |value| fits (at most ``cap``)."""
    top = values.drop_nulls().abs().quantile(0.98) if values.drop_nulls().len() else None
    return float(min(max(top or 0.01, 0.01), cap))


def heatmap(cells: pl.DataFrame) -> dict:
    """Event × segment heatmap of CAR[0,+5] (``cells``: event_id, event_label, segment,
    caar, n, t, t_name, sort_key, href)."""
    limit = _symmetric(cells["caar"])
    order = (
        cells.select("event_label", "sort_key").unique().sort("sort_key", descending=True)
    )["event_label"].to_list()
    base = alt.Chart(alt.Data(values=_values(cells)))
    rect = base.mark_rect(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("segment:N", title=None, axis=alt.Axis(orient="top", labelAngle=-40)),
        y=alt.Y("event_label:N", title=None, sort=order, axis=alt.Axis(labelLimit=320)),
        color=alt.Color(
            "caar:Q",
            title="CAR[0,+5]",
            scale=alt.Scale(scheme=DIVERGING, domain=[-limit, limit], clamp=True),
            legend=alt.Legend(format=".0%", orient="right"),
        ),
        href=alt.Href("href:N"),
        tooltip=[
            alt.Tooltip("event_label:N", title="event"),
            alt.Tooltip("segment:N"),
            alt.Tooltip("caar:Q", title="CAR[0,+5]", format=".2%"),
            alt.Tooltip("n:Q", title="securities"),
            alt.Tooltip("t:Q", title="t", format=".2f"),
            alt.Tooltip("t_name:N", title="statistic"),
        ],
    )
    text = base.mark_text(fontSize=9).encode(
        x="segment:N",
        y=alt.Y("event_label:N", sort=order),
        text=alt.Text("caar:Q", format=".0%"),
        color=alt.condition(
            f"abs(datum.caar) > {limit * 0.6}", alt.value("white"), alt.value("#222")
        ),
    )
    return _spec(
        alt.layer(rect, text)
        .properties(width=alt.Step(62), height=alt.Step(17))
        .configure_view(strokeWidth=0)
    )


def car_paths(paths: pl.DataFrame) -> dict:
    """Mean CAR path per segment with a 95% confidence band (``paths``: segment, rel_day,
    mean_car, lo, hi, n), one small panel per segment."""
    return _fill(_car_paths(), {ROWS: _values(paths)})


@_template
def _car_paths() -> alt.TopLevelMixin:
    base = alt.Chart().encode(
        x=alt.X("rel_day:Q", title="sessions from day 0", scale=alt.Scale(domain=[-10, 20]))
    )
    band = base.mark_area(opacity=0.25, color="#4c78a8").encode(
        y=alt.Y("lo:Q", title="CAR (from day −10)", axis=alt.Axis(format=".0%")),
        y2="hi:Q",
    )
    line = base.mark_line(color="#1f3b73", strokeWidth=2).encode(
        y="mean_car:Q",
        tooltip=[
            alt.Tooltip("segment:N"),
            alt.Tooltip("rel_day:Q", title="day"),
            alt.Tooltip("mean_car:Q", title="mean CAR", format=".2%"),
            alt.Tooltip("lo:Q", title="95% low", format=".2%"),
            alt.Tooltip("hi:Q", title="95% high", format=".2%"),
            alt.Tooltip("n:Q", title="securities"),
        ],
    )
    zero = alt.Chart().mark_rule(color="#888", strokeDash=[3, 3]).encode(y=alt.datum(0))
    day0 = alt.Chart().mark_rule(color="#c0392b").encode(x=alt.datum(0))
    return (
        alt.layer(band, line, zero, day0, data=alt.Data(name=ROWS))
        .properties(width=210, height=130)
        .facet(facet=alt.Facet("segment:N", title=None), columns=4)
        .resolve_scale(y="shared")
    )


def movers(frame: pl.DataFrame) -> dict:
    """Top gainers and losers by CAR[0,+5] as a diverging bar chart (``frame``: ticker,
    security_name, segment, car_0_p5, car_0_p5_t, ar_day0, car_0_0_t)."""
    return _fill(_movers(), {ROWS: _values(frame)})


@_template
def _movers() -> alt.TopLevelMixin:
    return (
        alt.Chart(alt.Data(name=ROWS))
        .mark_bar()
        .encode(
            y=alt.Y("ticker:N", title=None,
                    sort=alt.EncodingSortField("car_0_p5", order="descending")),
            x=alt.X("car_0_p5:Q", title="CAR[0,+5]", axis=alt.Axis(format=".0%")),
            color=alt.condition("datum.car_0_p5 >= 0", alt.value("#2166ac"),
                                alt.value("#b2182b")),
            tooltip=[
                alt.Tooltip("ticker:N"),
                alt.Tooltip("security_name:N", title="name"),
                alt.Tooltip("segment:N"),
                alt.Tooltip("car_0_p5:Q", title="CAR[0,+5]", format=".2%"),
                alt.Tooltip("car_0_p5_t:Q", title="t", format=".2f"),
                alt.Tooltip("ar_day0:Q", title="AR day 0", format=".2%"),
                alt.Tooltip("car_0_0_t:Q", title="t day 0", format=".2f"),
            ],
        )
        .properties(width=520, height=alt.Step(16))
    )


def value_moved(frame: pl.DataFrame) -> dict:
    """USD value moved per segment over [0,0] and [0,+5] (``frame``: segment, window, usd)."""
    return _fill(_value_moved(), {ROWS: _values(frame)})


@_template
def _value_moved() -> alt.TopLevelMixin:
    return (
        alt.Chart(alt.Data(name=ROWS))
        .mark_bar()
        .encode(
            y=alt.Y("segment:N", title=None),
            yOffset=alt.YOffset("window:N"),
            x=alt.X("usd_bn:Q", title="USD value moved (billions)"),
            color=alt.Color("window:N", title="window",
                            scale=alt.Scale(range=["#9ecae1", "#08519c"])),
            tooltip=[
                alt.Tooltip("segment:N"),
                alt.Tooltip("window:N"),
                alt.Tooltip("usd_bn:Q", title="USD bn", format=",.1f"),
            ],
        )
        .properties(width=520, height=alt.Step(12))
    )


def propagation(frame: pl.DataFrame, announced_at: str) -> dict:
    """Each venue's day-0 session on a UTC time line, from the announcement to its close
    (``frame``: venue_name, exchange_mic, day0_open_utc, day0_close_utc, close_order,
    hours_after_announcement, median_ar_day0, day0_move (the colour: the median AR, or the
    futures' and ETFs' return on a venue that lists only those; a null would drop the bar),
    n_securities, n_with_ar, closed_market, and reaction_order where known: venues are
    listed in the order they could react)."""
    order = [c for c in ("reaction_order", "close_order", "exchange_mic") if c in frame.columns]
    ranked = frame.sort(order).with_row_index("venue_rank")
    return _fill(
        _propagation(),
        {ROWS: _values(ranked), "announced": [{"t": announced_at, "label": "announced"}]},
        limit=_symmetric(frame["day0_move"], cap=0.1),
    )


@_template
def _propagation() -> alt.TopLevelMixin:
    data = alt.Data(name=ROWS)
    limit = alt.param(name="limit", value=0.1)  # filled with the page's colour domain
    by_close = alt.EncodingSortField("venue_rank", order="ascending")
    session = (
        alt.Chart(data)
        .mark_bar(height=10, cornerRadius=2)
        .encode(
            y=alt.Y("venue_name:N", sort=by_close, title=None),
            x=alt.X("day0_open_utc:T", title="UTC", scale=alt.Scale(nice="day"),
                    axis=alt.Axis(format="%b %d %H:%M")),
            x2="day0_close_utc:T",
            color=alt.condition(
                "isValid(datum.day0_move)",
                alt.Color(
                    "day0_move:Q",
                    title=["median AR day 0", "(futures, ETFs: return)"],
                    scale=alt.Scale(scheme=DIVERGING, domain=alt.ExprRef("[-limit, limit]"),
                                    clamp=True),
                    legend=alt.Legend(format=".1%"),
                ),
                alt.value("#bbbbbb"),
            ),
            tooltip=[
                alt.Tooltip("venue_name:N", title="venue"),
                alt.Tooltip("exchange_mic:N", title="MIC"),
                alt.Tooltip("day0_open_utc:T", title="opens (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("day0_close_utc:T", title="closes (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("hours_after_announcement:Q", title="hours after", format=".1f"),
                alt.Tooltip("median_ar_day0:Q", title="median AR day 0", format=".2%"),
                alt.Tooltip("day0_move:Q", title="colour: AR, or futures/ETF return",
                            format=".2%"),
                alt.Tooltip("n_with_ar:Q", title="securities with AR"),
                alt.Tooltip("closed_market:N", title="rolled past a closure"),
            ],
        )
    )
    close = alt.Chart(data).mark_tick(color="#222", thickness=2, size=14).encode(
        y=alt.Y("venue_name:N", sort=by_close), x="day0_close_utc:T"
    )
    announced = (
        alt.Chart(alt.Data(name="announced"))
        .mark_rule(color="#c0392b", strokeDash=[4, 3])
        .encode(x="t:T", tooltip=[alt.Tooltip("t:T", title="announced (UTC)",
                                              format="%Y-%m-%d %H:%M")])
    )
    return (
        alt.layer(announced, session, close)
        .properties(width=640, height=alt.Step(22))
        .add_params(limit)
    )


def intraday(paths: pl.DataFrame, instants: list[dict]) -> dict:
    """Day 0 hour by hour: each security's return from its previous official close at the end
    of every hourly bar (``paths``: ticker, exchange_mic, bar_start_utc, bar_end_utc,
    ret_from_prev_close, low_from_prev_close, high_from_prev_close), with vertical rules at
    ``instants`` (``{"t": ISO instant, "label": ...}``: the announcement, the US cash open)."""
    return _fill(_intraday(), {ROWS: _values(paths), "instants": instants})


@_template
def _intraday() -> alt.TopLevelMixin:
    line = (
        alt.Chart(alt.Data(name=ROWS))
        .mark_line(point=alt.OverlayMarkDef(size=18), strokeWidth=2, interpolate="step-before")
        .encode(
            x=alt.X("bar_end_utc:T", title="UTC (end of the hourly bar)",
                    axis=alt.Axis(format="%b %d %H:%M", labelAngle=0, tickCount=8)),
            y=alt.Y("ret_from_prev_close:Q", title="return from the previous close",
                    axis=alt.Axis(format=".1%")),
            color=alt.Color("ticker:N", title=None, legend=alt.Legend(orient="right")),
            tooltip=[
                alt.Tooltip("ticker:N"),
                alt.Tooltip("exchange_mic:N", title="venue"),
                alt.Tooltip("bar_start_utc:T", title="bar from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("ret_from_prev_close:Q", title="close vs prev. close", format=".2%"),
                alt.Tooltip("low_from_prev_close:Q", title="low vs prev. close", format=".2%"),
                alt.Tooltip("high_from_prev_close:Q", title="high vs prev. close",
                            format=".2%"),
            ],
        )
    )
    zero = alt.Chart().mark_rule(color="#888", strokeDash=[3, 3]).encode(y=alt.datum(0))
    rules = alt.Chart(alt.Data(name="instants"))
    rule = rules.mark_rule(color="#c0392b", strokeDash=[4, 3]).encode(
        x="t:T", tooltip=[alt.Tooltip("label:N"),
                          alt.Tooltip("t:T", title="UTC", format="%Y-%m-%d %H:%M")])
    label = rules.mark_text(align="left", dx=3, dy=-4, color="#c0392b", baseline="top").encode(
        x="t:T", y=alt.value(0), text="label:N")
    return alt.layer(zero, rule, label, line).properties(width=760, height=260)


def attention(frame: pl.DataFrame) -> dict:
    """News attention per relative day (``frame``: rel_day, stories, is_attention_day)."""
    return _fill(_attention(), {ROWS: _values(frame)})


@_template
def _attention() -> alt.TopLevelMixin:
    base = alt.Chart(alt.Data(name=ROWS))
    bars = base.mark_bar().encode(
        x=alt.X("rel_day:O", title="sessions from day 0"),
        y=alt.Y("stories:Q", title="stories"),
        color=alt.condition("datum.is_attention_day", alt.value("#c0392b"),
                            alt.value("#6baed6")),
        tooltip=[
            alt.Tooltip("rel_day:O", title="day"),
            alt.Tooltip("session_date:N", title="date"),
            alt.Tooltip("stories:Q"),
            alt.Tooltip("mean_sentiment:Q", title="mean sentiment", format=".2f"),
        ],
    )
    return bars.properties(width=640, height=180)
