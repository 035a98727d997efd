"""The reaction marts, assembled from the event-study engine (pure polars).

grain: marts.event_reaction — one row per (event_id, ticker) with any return in the event
window; marts.event_window — one row per (event_id, ticker, rel_day) of the event window.
"""

from __future__ import annotations

import polars as pl

from transforms.event_panel import build_panel
from transforms.event_study import (
    EventStudyConfig,
    abnormal_returns,
    abnormal_volume,
    car_table,
    fit_normal_model,
    window_name,
)
from transforms.prices import daily_returns

KEYS = ["event_id"]


def build_reaction_marts(
    prices: pl.DataFrame,
    securities: pl.DataFrame,
    sessions: pl.DataFrame,
    day0: pl.DataFrame,
    events: pl.DataFrame,
    cfg: EventStudyConfig,
) -> dict[str, pl.DataFrame]:
    """{'marts.event_reaction': ..., 'marts.event_window': ...} from conformed prices."""
    returns = daily_returns(prices, securities, sessions)
    panel = build_panel(day0, securities, returns, sessions, (cfg.estimation[0], cfg.window[1]))
    params = fit_normal_model(panel, KEYS, cfg)
    abnormal = abnormal_returns(panel, params, KEYS, cfg)
    event_rows = abnormal.filter(pl.col("phase") == "event")
    observed = (
        event_rows.group_by("event_id", "ticker")
        .agg(pl.col("ret").is_not_null().any().alias("_seen"))
        .filter("_seen")
        .drop("_seen")
    )
    cars = car_table(abnormal, params, KEYS, cfg)
    renames = {}
    for a, b in cfg.car_windows:
        name = window_name(a, b)
        renames |= {f"t_{name}": f"{name}_t", f"p_{name}": f"{name}_p"}
    day0_rows = event_rows.filter(pl.col("rel_day") == 0).select(
        "event_id", "ticker", ret_day0="ret", ar_day0="ar"
    )
    source = prices.sort("session_date").group_by("ticker").agg(pl.col("source").last())
    reaction = (
        observed.join(params, on=["event_id", "ticker"], how="left")
        .join(cars.rename(renames), on=["event_id", "ticker"], how="left")
        .join(
            abnormal_volume(panel, KEYS, cfg).select("event_id", "ticker", "abnormal_volume"),
            on=["event_id", "ticker"],
            how="left",
        )
        .join(day0_rows, on=["event_id", "ticker"], how="left")
        .join(
            securities.select(
                "ticker", "segment", "exchange_mic", "benchmark", security_name="name"
            ),
            on="ticker",
        )
        .join(day0.select("event_id", "exchange_mic", "day0", "closed_market"),
              on=["event_id", "exchange_mic"])
        .join(
            events.select("event_id", "announced_at", "lab", event_name="name",
                          event_kind="kind"),
            on="event_id",
        )
        .join(source, on="ticker", how="left")
        .with_columns(pl.col("est_n").fill_null(0), pl.col("thin_estimation").fill_null(True))
        .sort("event_id", "ticker")
    )
    window = (
        event_rows.join(observed, on=["event_id", "ticker"])
        .join(securities.select("ticker", "segment"), on="ticker")
        .select("event_id", "ticker", "segment", "rel_day", "session_date", "ret", "ar", "car")
        .sort("event_id", "ticker", "rel_day")
    )
    return {"marts.event_reaction": reaction, "marts.event_window": window}
