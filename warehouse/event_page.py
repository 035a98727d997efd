"""The SQL behind `aftershock event ID`: one event as an analyst asks it, from the marts.

Each function returns one frame of the page; all read the serving copy (or any warehouse with
the marts). Venues come in the order markets could react (``reaction_order``).
"""

from __future__ import annotations

import duckdb
import polars as pl

from warehouse.connection import query_frame


def event_header(con: duckdb.DuckDBPyConnection, event_id: str) -> pl.DataFrame:
    """The event (core.dim_event) with its attention anchor and the evidence for it."""
    return query_frame(con, """
        SELECT e.event_id, e.name, e.lab, e.kind, e.announced_at, e.announced_precision,
               a.attention_date, a.attention_stories, a.attention_publishers,
               round(a.attention_burst, 2) AS attention_burst, a.attention_reason
        FROM core.dim_event e
        LEFT JOIN (SELECT DISTINCT event_id, attention_date, attention_stories,
                          attention_publishers, attention_burst, attention_reason
                   FROM marts.news_attention) a USING (event_id)
        WHERE e.event_id = ?""", [event_id])


def event_venues(con: duckdb.DuckDBPyConnection, event_id: str, anchor: str) -> pl.DataFrame:
    """Per venue, in reaction order: day 0, when it could first trade, the median move at the
    US open and close to close (of its stocks; of its futures and ETFs where it lists nothing
    else), limit hits and the USD value moved (N of M valued)."""
    return query_frame(con, """
        WITH r AS (
            SELECT exchange_mic, count(*) FILTER (WHERE censored_day0) AS limit_hits,
                   sum(value_moved_usd_0_0) AS usd_moved,
                   count(value_moved_usd_0_0) AS n_valued, count(*) AS n
            FROM marts.event_reaction WHERE event_id = ? AND anchor = ? AND default_model
              AND segment <> 'benchmark' GROUP BY exchange_mic),
        m AS (  -- a venue of futures or ETFs only (CME) is read from them
            SELECT exchange_mic,
                   coalesce(median(ret_from_prev_close) FILTER (WHERE segment <> 'benchmark'),
                            median(ret_from_prev_close)) AS at_us_open
            FROM marts.event_intraday_mark WHERE event_id = ? AND anchor = ?
              AND mark = 'us_cash_open' GROUP BY exchange_mic)
        SELECT p.reaction_order AS "order", p.exchange_mic AS venue, p.day0,
               strftime(p.first_trade_utc, '%m-%d %H:%M') AS first_trade_utc,
               m.at_us_open,
               coalesce(p.median_ret_day0, p.etf_futures_median_ret_day0) AS ret_day0,
               p.median_ar_day0 AS ar_day0, p.benchmark_ticker AS benchmark,
               p.benchmark_ret_day0 AS bench_ret, coalesce(r.limit_hits, 0) AS limits,
               r.usd_moved AS usd_moved, concat(coalesce(r.n_valued, 0), '/',
               coalesce(r.n, 0)) AS valued
        FROM marts.event_propagation p LEFT JOIN r USING (exchange_mic)
        LEFT JOIN m USING (exchange_mic)
        WHERE p.event_id = ? AND p.anchor = ?
          AND (p.n_securities > 0 OR p.n_etf_futures > 0 OR r.n > 0)
        ORDER BY p.reaction_order, p.close_order, p.exchange_mic""",
        [event_id, anchor, event_id, anchor, event_id, anchor])


def event_securities(con: duckdb.DuckDBPyConnection, event_id: str, anchor: str,
                     limit: int) -> pl.DataFrame:
    """The securities that moved most (by |AR| on day 0), with the move before the US open,
    the day's low, t, limit flags and USD value moved."""
    return query_frame(con, """
        SELECT r.ticker, r.exchange_mic AS venue, r.segment,
               m_open.ret_from_prev_close AS at_us_open, m_low.ret_from_prev_close AS low,
               r.ret_day0, r.ar_day0, r.car_0_0_t AS t, r.limit_day0 AS "limit",
               r.value_moved_usd_0_0 AS usd_moved, r.benchmark_fallback AS fallback
        FROM marts.event_reaction r
        LEFT JOIN marts.event_intraday_mark m_open ON m_open.event_id = r.event_id
             AND m_open.anchor = r.anchor AND m_open.ticker = r.ticker
             AND m_open.mark = 'us_cash_open'
        LEFT JOIN marts.event_intraday_mark m_low ON m_low.event_id = r.event_id
             AND m_low.anchor = r.anchor AND m_low.ticker = r.ticker
             AND m_low.mark = 'intraday_low'
        WHERE r.event_id = ? AND r.anchor = ? AND r.default_model
        ORDER BY abs(coalesce(r.ar_day0, r.ret_day0)) DESC NULLS LAST, r.ticker
        LIMIT ?""", [event_id, anchor, limit])


def event_headlines(con: duckdb.DuckDBPyConnection, event_id: str, limit: int) -> pl.DataFrame:
    """The top headlines of the event's busiest sessions around day 0."""
    return query_frame(con, """
        SELECT session_date, stories_event, unnest(top_headlines) AS headline
        FROM marts.news_attention WHERE event_id = ? AND stories_event > 0
        ORDER BY stories_event DESC, session_date LIMIT ?""", [event_id, limit])


def known_events(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT event_id FROM core.dim_event ORDER BY event_id").fetchall()]
