"""Expectation suites for the seeds: the event catalog and the security master.

Input frames are the seed files as read, every column a string (``warehouse.seeds.read_events``
/ ``read_universe`` read with ``infer_schema=False``; the checks that used to be ad hoc there --
duplicate ids, dangling benchmarks, unparseable dates, unknown countries -- are rules here).
All rules reject: a seed row is curated by hand, so a bad one is a mistake to fix, not data to
load with a flag.

========================= ===========================================================
rule                      unexpected rows
========================= ===========================================================
**events** (``seed_events``, key event_id)
event_id_null             event_id is empty
duplicate_event_id        every copy of a duplicated event_id
event_id_form             event_id is not a lowercase slug (``gpt-4``, ``qwen2.5-max``)
name_null / lab_null      name / lab is empty
event_kind_null           kind is empty
event_kind_unknown        kind not in ``EVENT_KINDS``
announced_date_null       announced_date is empty
announced_date_format     announced_date is not written ``YYYY-MM-DD``
announced_date_invalid    announced_date is not a real date (``2025-02-30``)
announced_time_format     announced_time_utc is set but not ``HH:MM`` (24 h)
open_weights_null         open_weights is empty
open_weights_unknown      open_weights is not ``true`` / ``false`` (any case)
lab_country_null          lab_country is empty
lab_country_unknown       lab_country has no time zone in ``transforms.calendar.LAB_TIMEZONE``
source_url_form           source_url is set but not an ``http(s)://host.tld/...`` URL
**universe** (``seed_universe``, key ticker)
ticker_null               ticker is empty
ticker_form               not a Yahoo-style symbol (letters, digits, . = - and a leading ^)
duplicate_ticker          every copy of a duplicated ticker
name_null                 name is empty
segment_null / _unknown   segment is empty / not in ``SEGMENTS``
exchange_mic_null         exchange_mic is empty
exchange_mic_unknown      exchange_mic has no calendar in ``contracts.EXCHANGE_CALENDAR``
currency_null / _form     currency is empty / not three upper-case letters
country_null / _form      country is empty / not two upper-case letters
security_kind_null        kind is empty
security_kind_unknown     kind not in ``SECURITY_KINDS``
benchmark_null            benchmark is empty
benchmark_unknown         benchmark is not a ticker of the same file
========================= ===========================================================

``benchmark_unknown`` needs the other rows, so ``prepare`` adds ``benchmark_known`` (the
benchmark is one of the file's tickers) and the rule is ``ExpectColumnValuesToBeInSet``.
A date is checked with GX's own ``ExpectColumnValuesToMatchStrftimeFormat``
(``2025-02-30`` fails, as it should).
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import polars as pl

from contracts import EXCHANGE_CALENDAR
from expectations.runner import (
    Rule,
    Suite,
    ValidationOutcome,
    not_null_rule,
    unique_key_rule,
    validate,
)
from transforms.calendar import LAB_TIMEZONE

__all__ = [
    "EVENT_KINDS",
    "EVENTS_KEY",
    "EVENTS_SUITE",
    "SECURITY_KINDS",
    "SEGMENTS",
    "UNIVERSE_KEY",
    "UNIVERSE_SUITE",
    "seed_refusal",
    "validate_events",
    "validate_universe",
]

EVENTS_KEY: list[str] = ["event_id"]
UNIVERSE_KEY: list[str] = ["ticker"]
EVENT_KINDS = ("model_release", "app_launch", "product_launch", "policy", "other")
SEGMENTS = (
    "accelerators",
    "foundry",
    "memory",
    "networking_silicon",
    "semicap_equipment",
    "servers_networking",
    "power_cooling",
    "hyperscalers_cloud",
    "ai_software",
    "china_ai",
    "benchmark",
)
SECURITY_KINDS = ("equity", "adr", "etf", "index", "future")
SLUG = r"^[a-z0-9]+(?:[-.][a-z0-9]+)*$"
URL_FORM = r"^https?://[^\s/?#@]+\.[^\s/?#@]+(?:[/?#]\S*)?$"
HH_MM = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$"


def _blank_to_null(frame: pl.DataFrame) -> pl.DataFrame:
    """Seed CSVs hold text: an empty or all-blank cell means missing."""
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c)).alias(c) for c in text
    )


def _in_set(column: str, values, name: str) -> Rule:
    return Rule(name, gxe.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(values)))


def _regex(column: str, regex: str, name: str) -> Rule:
    return Rule(name, gxe.ExpectColumnValuesToMatchRegex(column=column, regex=regex))


EVENTS_SUITE = Suite(
    name="seed_events",
    dataset="core.dim_event",
    rules=[
        not_null_rule("event_id", "event_id_null"),
        unique_key_rule(EVENTS_KEY, "duplicate_event_id"),
        _regex("event_id", SLUG, "event_id_form"),
        not_null_rule("name", "name_null"),
        not_null_rule("lab", "lab_null"),
        not_null_rule("kind", "event_kind_null"),
        _in_set("kind", EVENT_KINDS, "event_kind_unknown"),
        not_null_rule("announced_date", "announced_date_null"),
        _regex("announced_date", r"^\d{4}-\d{2}-\d{2}$", "announced_date_format"),
        Rule(
            "announced_date_invalid",
            gxe.ExpectColumnValuesToMatchStrftimeFormat(
                column="announced_date", strftime_format="%Y-%m-%d"
            ),
        ),
        _regex("announced_time_utc", HH_MM, "announced_time_format"),
        not_null_rule("open_weights", "open_weights_null"),
        _in_set("open_weights", ("true", "false"), "open_weights_unknown"),
        not_null_rule("lab_country", "lab_country_null"),
        _in_set("lab_country", LAB_TIMEZONE, "lab_country_unknown"),
        _regex("source_url", URL_FORM, "source_url_form"),
    ],
    prepare=lambda f: _blank_to_null(f).with_columns(
        pl.col("open_weights").str.strip_chars().str.to_lowercase()
    ),
)


def _with_benchmark_known(frame: pl.DataFrame) -> pl.DataFrame:
    frame = _blank_to_null(frame)
    tickers = frame["ticker"].drop_nulls().implode()
    return frame.with_columns(
        benchmark_known=pl.when(pl.col("benchmark").is_not_null()).then(
            pl.col("benchmark").is_in(tickers)
        )
    )


#: Yahoo-style symbols: NVDA, 000660.KS, ^GSPC, NQ=F, BRK-B, HSTECH.HK.
TICKER_FORM = r"^\^?[A-Z0-9][A-Z0-9.=\-]{0,19}$"

UNIVERSE_SUITE = Suite(
    name="seed_universe",
    dataset="core.dim_security",
    rules=[
        not_null_rule("ticker", "ticker_null"),
        # a ticker reaches Yahoo URLs, file names and SQL parameters: only symbol characters
        _regex("ticker", TICKER_FORM, "ticker_form"),
        unique_key_rule(UNIVERSE_KEY, "duplicate_ticker"),
        not_null_rule("name", "name_null"),
        not_null_rule("segment", "segment_null"),
        _in_set("segment", SEGMENTS, "segment_unknown"),
        not_null_rule("exchange_mic", "exchange_mic_null"),
        _in_set("exchange_mic", EXCHANGE_CALENDAR, "exchange_mic_unknown"),
        not_null_rule("currency", "currency_null"),
        _regex("currency", r"^[A-Z]{3}$", "currency_form"),
        not_null_rule("country", "country_null"),
        _regex("country", r"^[A-Z]{2}$", "country_form"),
        not_null_rule("kind", "security_kind_null"),
        _in_set("kind", SECURITY_KINDS, "security_kind_unknown"),
        not_null_rule("benchmark", "benchmark_null"),
        _in_set("benchmark_known", (True,), "benchmark_unknown"),
    ],
    prepare=_with_benchmark_known,
)


def validate_events(seed: pl.DataFrame) -> ValidationOutcome:
    """Validate the event catalog seed (``warehouse.seeds.EVENT_SEED``, strings)."""
    return validate(seed, EVENTS_SUITE, key=EVENTS_KEY)


def validate_universe(seed: pl.DataFrame) -> ValidationOutcome:
    """Validate the security master seed (``contracts.SECURITIES``, strings)."""
    return validate(seed, UNIVERSE_SUITE, key=UNIVERSE_KEY)


def seed_refusal(outcome: ValidationOutcome, path: str) -> str | None:
    """One line naming the first rejected seed row and all its reasons, or None if none.

    e.g. ``warehouse/seeds/universe.csv: ticker NVDA: duplicate_ticker (and 1 more row)``.
    A run refuses to start on a bad seed (a curated file is fixed, not quarantined).
    """
    if outcome.rejected.height == 0:
        return None
    key = EVENTS_KEY[0] if outcome.suite == EVENTS_SUITE.name else UNIVERSE_KEY[0]
    first = outcome.rejected.row(0, named=True)
    more = outcome.rejected.height - 1
    tail = f" (and {more} more row{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {key} {first[key]}: {', '.join(first['reasons'])}{tail}"
