"""Reference data for valuing reactions: shares outstanding and daily FX, and the protocol.

Two raw contracts, one per dataset, and one protocol every reference source implements (live
``yahoo_reference``, offline ``snapshot_reference`` and ``demo_reference``). Like prices, a
reference extract returns ``sources.base.ExtractResult``: the rows, and one status row per
requested ticker or currency. Sources only fetch and reshape; whether a share count or a rate is
usable is decided downstream (``transforms.value_moved``).

Conventions:

* ``shares_outstanding`` is a plain count of shares (not millions), as of ``as_of_date`` (the
  date the source stamps the count with; counts are stepwise -- one row per change or report).
* ``usd_per_unit`` is the value of ONE unit of ``currency`` in US dollars (JPY ~0.0067,
  EUR ~1.08), on the FX market's ``session_date``. Multiply a local amount by it to get USD.
  USD itself is never fetched (it is 1 by definition) and sources drop it from a request.
* Status rows carry ``source`` = ``"<source>.shares"`` or ``"<source>.fx"`` (e.g.
  ``yahoo.shares``) so that they can share ``audit.extract_status`` with the price extract's
  rows without being mistaken for them; FX status rows name the currency in ``ticker``
  (Yahoo's adapter names the symbol it fetched, e.g. ``JPY=X``).

These contracts belong in ``contracts/`` next to ``RAW_PRICES``; they live here until the
lead moves them (``transforms.value_moved`` re-declares the columns it reads, so that it does
not import ``sources``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from contracts import RAW_FX, RAW_SHARES  # noqa: F401 - the contracts these sources fill
from sources.base import ExtractResult

#: Kinds of security a share count applies to (core.dim_security.kind). Indices, futures,
#: ETFs and FX have no market capitalisation in this sense and are never asked for.
SHARE_KINDS = ("equity", "adr")

#: The currency every value is expressed in; never fetched.
BASE_CURRENCY = "USD"


class ReferenceSource(Protocol):
    """Fetches share counts and daily FX for the value-moved measures."""

    name: str

    def shares(self, tickers: Sequence[str], start: date, end: date) -> ExtractResult:
        """Share counts with ``as_of_date`` in [start, end] (RAW_SHARES)."""
        ...

    def fx(self, currencies: Sequence[str], start: date, end: date) -> ExtractResult:
        """USD per unit of each currency for FX sessions in [start, end] (RAW_FX)."""
        ...


def status_source(source: str, dataset: str) -> str:
    """The ``source`` value of a reference status row, e.g. ``yahoo.shares``."""
    return f"{source}.{dataset}"


def check_request(names: Sequence[str], start: date, end: date, what: str) -> list[str]:
    """Validate a request and return its names de-duplicated in order (shared by all sources)."""
    if isinstance(names, str):
        raise TypeError(f"{what} must be a sequence, not one string")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    return list(dict.fromkeys(names))


def wanted_currencies(currencies: Sequence[str], start: date, end: date) -> list[str]:
    """The currencies to fetch: de-duplicated, upper-cased, without USD."""
    wanted = check_request(currencies, start, end, "currencies")
    return [c for c in dict.fromkeys(c.upper() for c in wanted) if c != BASE_CURRENCY]
