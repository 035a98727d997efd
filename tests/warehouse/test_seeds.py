"""The shipped seeds parse, and broken seeds fail with the file and key named."""

from datetime import date

import polars as pl
import pytest

from contracts import ContractError
from flows.stages import prepare_reference
from warehouse.seeds import read_events, read_universe

SEGMENTS = {"accelerators", "foundry", "memory", "networking_silicon", "semicap_equipment",
            "servers_networking", "power_cooling", "hyperscalers_cloud", "ai_software",
            "china_ai", "benchmark"}


def test_universe_covers_the_supply_chain(snapshot_dir):
    sec = read_universe()
    assert sec.height >= 45
    assert set(sec["segment"]) >= SEGMENTS
    # the recording holds most of the universe (it may also hold files the universe does
    # not list: the run reports those, it does not guess what they are)
    have = {p.stem for p in snapshot_dir.glob("*.csv")}
    assert len(have & set(sec["ticker"])) >= 0.8 * len(have)
    for t in ("8035.T", "6857.T", "9984.T", "ASML.AS", "NVD.DE", "300766.SZ", "NQ=F", "ES=F",
              "HSTECH.HK"):
        assert t in set(sec["ticker"])


def test_event_catalog_has_the_deepseek_story():
    ev = read_events()
    assert ev.height >= 40
    rows = {r["event_id"]: r for r in ev.iter_rows(named=True)}
    assert rows["deepseek-v3"]["announced_date"] == "2024-12-26"
    assert rows["deepseek-r1"]["announced_date"] == "2025-01-20"
    app = rows["deepseek-app-1-us-app-store"]
    assert (app["announced_date"], app["kind"]) == ("2025-01-26", "app_launch")
    assert ev["announced_date"].min() == "2022-11-30"


def test_duplicate_ticker_is_refused_by_the_run(tmp_path):
    path = tmp_path / "u.csv"
    read_universe().head(3).vstack(read_universe().head(1)).write_csv(path)
    refusal = "ticker \\^GSPC: duplicate_ticker \\(and 1 more row\\)"
    with pytest.raises(ContractError, match=refusal):
        prepare_reference(date(2025, 1, 31), universe_path=path)


def test_dangling_benchmark_is_refused_by_the_run(tmp_path):
    path = tmp_path / "u.csv"
    read_universe().filter(pl.col("ticker") != "^GSPC").write_csv(path)
    with pytest.raises(ContractError, match=": benchmark_unknown"):
        prepare_reference(date(2025, 1, 31), universe_path=path)


def test_readers_refuse_only_what_no_suite_could_judge(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("ticker,name\nNVDA,Nvidia\n")
    with pytest.raises(ContractError, match="missing column\\(s\\) segment"):
        read_universe(path)
    twice = tmp_path / "twice.csv"  # a duplicate is the suite's business: read as is
    read_universe().head(1).vstack(read_universe().head(1)).write_csv(twice)
    assert read_universe(twice).height == 2


def test_evening_launches_count_from_the_next_session():
    """Livestreams after the US close carry their minute, so day 0 is the next session."""
    ref = prepare_reference(date(2025, 12, 31))
    nasdaq = dict(ref.day0.filter(pl.col("exchange_mic") == "XNAS")
                  .select("event_id", "day0").iter_rows())
    assert nasdaq["grok-4"] == date(2025, 7, 10)  # 8 pm PT on 9 July, after the close
    assert nasdaq["grok-3"] == date(2025, 2, 18)  # 8 pm PT on Presidents' Day
    assert nasdaq["gpt-5"] == date(2025, 8, 7)  # 10 am PT, during the session
