"""Data contracts: the column names and dtypes every arrow in the pipeline carries.

Every layer imports these and nothing else of ours, so a frame that crosses a layer is
checked against one definition (`conform`), not re-described in each module.
"""

from __future__ import annotations

import polars as pl

#: Raw daily prices as a source delivers them (one row per ticker and local session date).
#: Prices are in the listing currency; ``adj_close`` is split+dividend adjusted where the
#: source knows it (else equal to ``close``); ``fetched_at`` is UTC. ``unparsed`` keeps the
#: source's own text of the cells that did not parse (a JSON object, column -> text, e.g.
#: ``{"close":"N/A"}``; the parsed value is then null) and is null on a row that parsed: the
#: row is quarantined as ``value_unparseable`` with the text, never refused with its file.
RAW_PRICES: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "session_date": pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "adj_close": pl.Float64(),
    "volume": pl.Float64(),
    "source": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
    "unparsed": pl.String(),
}

#: Conformed prices (core.fact_price_daily): RAW_PRICES plus the listing currency (a row
#: with ``unparsed`` text never reaches core, so core has no such column).
CORE_PRICES: dict[str, pl.DataType] = {
    **{k: v for k, v in RAW_PRICES.items() if k not in ("fetched_at", "unparsed")},
    "currency": pl.String(),
}

#: Share counts as a source delivers them: one row per ticker and as-of date (duplicates
#: possible: Yahoo sometimes sends two different counts for one date).
RAW_SHARES: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "as_of_date": pl.Date(),
    "shares_outstanding": pl.Float64(),
    "source": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
}

#: Daily FX as a source delivers it: USD value of one unit of ``currency`` per FX session date.
RAW_FX: dict[str, pl.DataType] = {
    "currency": pl.String(),
    "session_date": pl.Date(),
    "usd_per_unit": pl.Float64(),
    "source": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
}

#: core.fact_shares_outstanding (one row per ticker and as-of date) and core.fact_fx_daily
#: (one row per currency and FX session date): the raw rows, validated, without fetched_at.
CORE_SHARES: dict[str, pl.DataType] = {k: v for k, v in RAW_SHARES.items() if k != "fetched_at"}
CORE_FX: dict[str, pl.DataType] = {k: v for k, v in RAW_FX.items() if k != "fetched_at"}

#: Corporate actions as a source delivers them: a cash dividend per share (in the listing
#: currency) or a split (shares after / shares before: 10.0 for NVDA's 10-for-1 of June 2024),
#: by ex-date (the listing's local session date).
RAW_ACTIONS: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "ex_date": pl.Date(),
    "action": pl.String(),  # dividend | split
    "value": pl.Float64(),
    "source": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
}
#: core.fact_corporate_action: one row per (ticker, ex_date, action).
CORE_ACTIONS: dict[str, pl.DataType] = {k: v for k, v in RAW_ACTIONS.items() if k != "fetched_at"}
ACTION_KINDS = ("dividend", "split")

#: Hourly bars as a source delivers them: one row per ticker and bar start (UTC). ``interval``
#: is the bar's length as the source names it ('1h'); prices are as traded, in the listing
#: currency. Regular-session bars only (no pre/post market), as Yahoo's ``prepost=False``.
RAW_INTRADAY: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "bar_start_utc": pl.Datetime("us", "UTC"),
    "interval": pl.String(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "source": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
}
#: core.fact_price_intraday: one row per (ticker, bar_start_utc), validated.
CORE_INTRADAY: dict[str, pl.DataType] = {
    k: v for k, v in RAW_INTRADAY.items() if k != "fetched_at"}
#: The only bar length loaded today (the marts' hourly paths assume it).
INTRADAY_INTERVAL = "1h"

#: Daily simple returns of the adjusted close, per ticker and exchange session.
RETURNS: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "session_date": pl.Date(),
    "session_idx": pl.Int64(),  # position of the session in its exchange's calendar
    "ret": pl.Float64(),  # adj_close / previous session's adj_close - 1; null across a gap
    "volume": pl.Float64(),
}

#: The security master (warehouse/seeds/universe.csv, core.dim_security).
SECURITIES: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "name": pl.String(),
    "segment": pl.String(),
    "exchange_mic": pl.String(),
    "currency": pl.String(),
    "country": pl.String(),
    "kind": pl.String(),
    "benchmark": pl.String(),
}

#: The AI event catalog (warehouse/seeds/events.csv, core.dim_event).
#: ``announced_at`` is UTC; ``announced_precision`` is 'minute' or 'date'; a date-only event
#: carries the lab's local midnight converted to UTC.
EVENTS: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "name": pl.String(),
    "lab": pl.String(),
    "kind": pl.String(),
    "announced_date": pl.Date(),
    "announced_at": pl.Datetime("us", "UTC"),
    "announced_precision": pl.String(),
    "open_weights": pl.Boolean(),
    "lab_country": pl.String(),
    "source_url": pl.String(),
}


class ContractError(ValueError):
    """A frame does not match its contract; the message names the columns."""


def conform(frame: pl.DataFrame, contract: dict[str, pl.DataType], name: str) -> pl.DataFrame:
    """Select and cast ``frame`` to ``contract``, or raise naming what is missing."""
    missing = [c for c in contract if c not in frame.columns]
    if missing:
        raise ContractError(f"{name}: missing column(s) {', '.join(missing)}")
    try:
        return frame.select(pl.col(c).cast(t, strict=True) for c, t in contract.items())
    except pl.exceptions.InvalidOperationError as exc:  # a value that cannot be cast
        raise ContractError(f"{name}: {exc}".splitlines()[0]) from None


def empty(contract: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame with the contract's schema."""
    return pl.DataFrame(schema=contract)


#: Venue (ISO 10383 MIC) -> exchange-calendars calendar that governs its sessions.
#: Nasdaq and NYSE Arca follow the NYSE calendar; Shenzhen trades on the Shanghai calendar
#: (exchange-calendars has no XSHE); CME equity futures use the CME Globex calendar.
EXCHANGE_CALENDAR: dict[str, str] = {
    "XNYS": "XNYS",
    "XNAS": "XNYS",
    "ARCX": "XNYS",
    "BATS": "XNYS",
    "XCBO": "XNYS",
    "XTKS": "XTKS",
    "XKRX": "XKRX",
    "XTAI": "XTAI",
    "XHKG": "XHKG",
    "XSHG": "XSHG",
    "XSHE": "XSHG",
    "XAMS": "XAMS",
    "XETR": "XETR",
    "XFRA": "XFRA",
    "XLON": "XLON",
    "XPAR": "XPAR",
    "XCME": "CMES",
}
