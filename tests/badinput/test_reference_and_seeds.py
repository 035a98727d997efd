"""Bad reference data (share counts, FX) and bad seed rows (security master, event catalog).

Reference rows go through the suites in ``expectations.reference`` and, when good, into core
through the same loaders as a run. Seed rows go through ``expectations.events``: each case
asserts the exact reasons of the bad row, that every other seed row passes, and -- where the
current seed readers already guard it -- the named error with which they refuse the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest

from contracts import ContractError
from expectations.events import validate_events, validate_universe
from expectations.reference import fx_to_core, shares_to_core, validate_fx, validate_shares
from flows.stages import prepare_reference
from sources.reference import RAW_FX, RAW_SHARES
from warehouse import load, seeds
from warehouse.connection import connect

NAN, INF = float("nan"), float("inf")
T = datetime(2025, 2, 1, tzinfo=UTC)

# -- reference data -------------------------------------------------------------------------


def fx(currency: str, day: int, rate: float | None) -> dict:
    return {"currency": currency, "session_date": date(2025, 1, day), "usd_per_unit": rate,
            "source": "test", "fetched_at": T}


def shares(ticker: str, day: int, count: float | None) -> dict:
    return {"ticker": ticker, "as_of_date": date(2025, 1, day), "shares_outstanding": count,
            "source": "test", "fetched_at": T}


GOOD_FX = [fx("JPY", d, 0.0064 + d * 1e-6) for d in (20, 21, 22)] + [fx("EUR", 21, 1.04)]
GOOD_SHARES = [shares("NVDA", 2, 24.49e9), shares("TSM", 2, 5.18e9)]


@dataclass(frozen=True)
class RefCase:
    id: str
    dataset: str  # fx | shares
    bad: tuple[dict, ...]
    reasons: tuple[str, ...]  # of every bad row; () = the bad rows load


REF_CASES = [
    RefCase("fx_nan_rate", "fx", (fx("KRW", 21, NAN),), ("rate_missing",)),
    RefCase("fx_null_rate", "fx", (fx("KRW", 21, None),), ("rate_missing",)),
    RefCase("fx_zero_rate", "fx", (fx("KRW", 21, 0.0),), ("rate_not_positive",)),
    RefCase("fx_negative_rate", "fx", (fx("KRW", 21, -0.0007),), ("rate_not_positive",)),
    RefCase("fx_infinite_rate", "fx", (fx("KRW", 21, INF),), ("rate_not_finite",)),
    RefCase("fx_usd_row", "fx", (fx("USD", 21, 1.0),), ("base_currency",)),
    RefCase("fx_lowercase_code", "fx", (fx("krw", 21, 0.0007),), ("currency_form",)),
    RefCase("fx_conflicting_rates", "fx", (fx("KRW", 21, 0.00069), fx("KRW", 21, 0.069)),
            ("conflicting_rates",)),
    RefCase("fx_repeated_rate_loads_once", "fx", (fx("KRW", 21, 0.00069),) * 2, ()),
    RefCase("shares_negative", "shares", (shares("AMD", 2, -1.0),), ("shares_not_positive",)),
    RefCase("shares_nan", "shares", (shares("AMD", 2, NAN),), ("shares_missing",)),
    RefCase("shares_conflicting", "shares", (shares("AMD", 2, 1.62e9), shares("AMD", 2, 1.62e6)),
            ("conflicting_shares",)),
]


@pytest.mark.parametrize("case", REF_CASES, ids=[c.id for c in REF_CASES])
def test_bad_reference_rows(case: RefCase, tmp_path):
    is_fx = case.dataset == "fx"
    good = GOOD_FX if is_fx else GOOD_SHARES
    raw = pl.DataFrame([*good, *case.bad], schema=RAW_FX if is_fx else RAW_SHARES)
    outcome = (validate_fx if is_fx else validate_shares)(raw)
    core = (fx_to_core if is_fx else shares_to_core)(outcome.good)

    if case.reasons:
        assert outcome.rejected["reasons"].to_list() == [list(case.reasons)] * len(case.bad)
        assert core.height == len(good)
    else:
        assert outcome.rejected.height == 0
        assert core.height == len(good) + 1  # repeats of one value collapse to one row

    con = connect(str(tmp_path / "w.duckdb"))
    try:
        with load.transaction(con):
            merged = (load.upsert_fx if is_fx else load.upsert_shares)(con, core, "r1")
        table = "core.fact_fx_daily" if is_fx else "core.fact_shares_outstanding"
        stored = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        con.close()
    assert merged["inserted"] == stored == core.height
    # every good row is in core with its value
    key, value = (("currency", "session_date"), "usd_per_unit") if is_fx else (
        ("ticker", "as_of_date"), "shares_outstanding")
    for row in good:
        hit = core.filter((pl.col(key[0]) == row[key[0]]) & (pl.col(key[1]) == row[key[1]]))
        assert hit[value].to_list() == [row[value]]


# -- seeds ----------------------------------------------------------------------------------

UNIVERSE = seeds.seed_path("universe.csv")
EVENTS = seeds.seed_path("events.csv")


def _seed(path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


@dataclass(frozen=True)
class SeedCase:
    id: str
    file: str  # universe | events
    #: the seed frame -> the seed frame with one bad row (appended or changed)
    spoil: object
    key: str  # the bad row's ticker / event_id
    reasons: tuple[str, ...]
    copies: int = 1


def _append(frame: pl.DataFrame, **values) -> pl.DataFrame:
    row = frame.row(frame.height - 1, named=True) | values
    return pl.concat([frame, pl.DataFrame([row], schema=frame.schema)])


def _change(frame: pl.DataFrame, key_col: str, key: str, **values) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.col(key_col) == key).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    )


SEED_CASES = [
    SeedCase("duplicate_ticker", "universe", lambda f: _append(f, ticker="NVDA"), "NVDA",
             ("duplicate_ticker",), copies=2),
    SeedCase("dangling_benchmark", "universe",
             lambda f: _change(f, "ticker", "NVDA", benchmark="^NOPE"), "NVDA",
             ("benchmark_unknown",)),
    SeedCase("unknown_mic", "universe", lambda f: _change(f, "ticker", "NVDA", exchange_mic="XXXX"),
             "NVDA", ("exchange_mic_unknown",)),
    SeedCase("unknown_segment", "universe", lambda f: _change(f, "ticker", "NVDA", segment="gpus"),
             "NVDA", ("segment_unknown",)),
    SeedCase("lowercase_currency", "universe",
             lambda f: _change(f, "ticker", "NVDA", currency="usd"), "NVDA", ("currency_form",)),
    SeedCase("unknown_kind", "universe", lambda f: _change(f, "ticker", "NVDA", kind="warrant"),
             "NVDA", ("security_kind_unknown",)),
    SeedCase("blank_name", "universe", lambda f: _change(f, "ticker", "NVDA", name="  "),
             "NVDA", ("name_null",)),
    SeedCase("duplicate_event_id", "events", lambda f: _append(f, event_id="gpt-4"), "gpt-4",
             ("duplicate_event_id",), copies=2),
    SeedCase("impossible_date", "events",
             lambda f: _change(f, "event_id", "gpt-4", announced_date="2023-02-30"), "gpt-4",
             ("announced_date_invalid",)),
    SeedCase("slashed_date", "events",
             lambda f: _change(f, "event_id", "gpt-4", announced_date="14/03/2023"), "gpt-4",
             ("announced_date_format", "announced_date_invalid")),
    SeedCase("unknown_country", "events",
             lambda f: _change(f, "event_id", "gpt-4", lab_country="XX"), "gpt-4",
             ("lab_country_unknown",)),
    SeedCase("bad_time", "events",
             lambda f: _change(f, "event_id", "gpt-4", announced_time_utc="25:61"), "gpt-4",
             ("announced_time_format",)),
    SeedCase("unknown_event_kind", "events",
             lambda f: _change(f, "event_id", "gpt-4", kind="rumour"), "gpt-4",
             ("event_kind_unknown",)),
    SeedCase("not_a_url", "events",
             lambda f: _change(f, "event_id", "gpt-4", source_url="openai.com/gpt-4"), "gpt-4",
             ("source_url_form",)),
    SeedCase("uppercase_slug", "events",
             lambda f: _append(f, event_id="GPT-9"), "GPT-9", ("event_id_form",)),
    SeedCase("open_weights_yes", "events",
             lambda f: _change(f, "event_id", "gpt-4", open_weights="yes"), "gpt-4",
             ("open_weights_unknown",)),
]


@pytest.mark.parametrize("case", SEED_CASES, ids=[c.id for c in SEED_CASES])
def test_bad_seed_row(case: SeedCase, tmp_path):
    is_universe = case.file == "universe"
    original = _seed(UNIVERSE if is_universe else EVENTS)
    spoiled = case.spoil(original)
    key = "ticker" if is_universe else "event_id"
    outcome = (validate_universe if is_universe else validate_events)(spoiled)

    assert outcome.rejected[key].to_list() == [case.key] * case.copies
    assert outcome.rejected["reasons"].to_list() == [list(case.reasons)] * case.copies
    # no good row lost: every other row passes, untouched
    others = spoiled.filter(pl.col(key) != case.key)
    assert outcome.good.drop("quality_flags").filter(pl.col(key) != case.key).equals(others)

    # a run refuses the file before it touches anything, naming file, row and rules
    path = tmp_path / f"{case.file}.csv"
    spoiled.write_csv(path)
    with pytest.raises(ContractError) as refused:
        prepare_reference(date(2025, 1, 31), **{f"{case.file}_path": path})
    more = f" (and {case.copies - 1} more row)" if case.copies > 1 else ""
    assert str(refused.value) == f"{path}: {key} {case.key}: {', '.join(case.reasons)}{more}"


def test_shipped_seeds_pass_their_suites():
    assert validate_universe(_seed(UNIVERSE)).rejected.height == 0
    assert validate_events(_seed(EVENTS)).rejected.height == 0


def test_seed_warehouse_round_trip_is_untouched(tmp_path):
    """Validating seeds writes nothing (they are judged before any load)."""
    path = tmp_path / "w.duckdb"
    connect(str(path)).close()
    validate_universe(_seed(UNIVERSE))
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM core.dim_security").fetchall() == [(0,)]
    finally:
        con.close()


def test_seed_refusal_names_file_key_and_reasons():
    from expectations.events import seed_refusal

    spoiled = _append(_append(_seed(UNIVERSE), ticker="NVDA"), ticker="ZZZ", segment="gpus")
    message = seed_refusal(validate_universe(spoiled), "universe.csv")
    assert message == "universe.csv: ticker NVDA: duplicate_ticker (and 2 more rows)"
    assert seed_refusal(validate_events(_seed(EVENTS)), "events.csv") is None
