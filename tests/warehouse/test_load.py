"""Loads are idempotent and transactional."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from warehouse import load
from warehouse.connection import WarehouseError, connect, connect_read_only, table_checksums


def _prices(close: float, days=(2, 3)) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"ticker": "NVDA", "session_date": date(2025, 1, d), "open": close, "high": close,
             "low": close, "close": close, "adj_close": close, "volume": 10.0,
             "currency": "USD", "source": "test", "quality_flags": []}
            for d in days
        ],
        schema_overrides={"quality_flags": pl.List(pl.String)},
    )


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "w.duckdb")
    yield c
    c.close()


def test_merge_inserts_then_changes_nothing_then_updates(con):
    assert load.upsert_prices(con, _prices(1.0), "r1") == {"inserted": 2, "updated": 0}
    before = table_checksums(con, ("core",))
    assert load.upsert_prices(con, _prices(1.0), "r2") == {"inserted": 0, "updated": 0}
    assert table_checksums(con, ("core",)) == before  # run_id of unchanged rows kept too
    assert load.upsert_prices(con, _prices(2.0, days=(3,)), "r3") == {"inserted": 0,
                                                                      "updated": 1}
    rows = con.execute("SELECT session_date, close, run_id FROM core.fact_price_daily "
                       "ORDER BY 1").fetchall()
    assert rows == [(date(2025, 1, 2), 1.0, "r1"), (date(2025, 1, 3), 2.0, "r3")]


def test_raw_lands_each_version_once(con):
    raw = _prices(1.0).drop("currency", "quality_flags").with_columns(
        fetched_at=pl.lit(datetime(2025, 1, 4, tzinfo=UTC)), unparsed=pl.lit(None, pl.String)
    )
    assert load.land_raw_prices(con, raw, "r1") == 2
    assert load.land_raw_prices(con, raw, "r2") == 0
    changed = raw.with_columns(close=pl.lit(1.5))
    assert load.land_raw_prices(con, changed, "r3") == 2
    assert con.execute("SELECT count(*) FROM raw.price_daily").fetchone()[0] == 4
    # a row that parsed hashes as it did before raw kept unparsed text (migration 0007), so
    # the rows landed then are not landed again
    assert con.execute(
        "SELECT bool_and(row_hash = hash(ticker, session_date, open, high, low, close, "
        "adj_close, volume, source)) FROM raw.price_daily").fetchall()[0][0] is True
    # two different texts that both failed to parse are two versions; each lands once
    na, abc = (raw.head(1).with_columns(close=pl.lit(None, pl.Float64),
                                        unparsed=pl.lit(f'{{"close":"{t}"}}'))
               for t in ("N/A", "abc"))
    assert [load.land_raw_prices(con, f, "r4") for f in (na, abc, na)] == [1, 1, 0]
    assert con.execute("SELECT unparsed FROM raw.price_daily WHERE unparsed IS NOT NULL "
                       "ORDER BY unparsed").fetchall() == [('{"close":"N/A"}',),
                                                          ('{"close":"abc"}',)]


def test_failed_transaction_leaves_everything_as_it_was(con):
    load.upsert_prices(con, _prices(1.0), "r1")
    before = table_checksums(con, ("raw", "core", "marts", "audit"))
    with pytest.raises(RuntimeError, match="boom"), load.transaction(con):
        load.upsert_prices(con, _prices(9.0, days=(2, 3, 6)), "r2")
        load.quarantine(con, _prices(0.0).with_columns(reasons=pl.lit(["x"])), "prices",
                        ["ticker", "session_date"], "r2")
        raise RuntimeError("boom")
    assert table_checksums(con, ("raw", "core", "marts", "audit")) == before


def test_quarantine_keeps_the_row_and_every_reason(con):
    rejected = _prices(-1.0, days=(2,)).with_columns(
        reasons=pl.lit(["close_not_positive", "adj_close_not_positive"])
    )
    assert load.quarantine(con, rejected, "prices", ["ticker", "session_date"], "r1") == 1
    key, row_json, reasons = con.execute(
        "SELECT row_key, row_json->>'$.close', reasons FROM audit.quarantine"
    ).fetchone()
    assert key == "NVDA|2025-01-02" and float(row_json) == -1.0
    assert reasons == ["close_not_positive", "adj_close_not_positive"]


def test_replace_table_requires_every_column(con):
    with pytest.raises(ValueError, match="core.dim_session: frame lacks column\\(s\\) close_utc"):
        load.replace_table(con, "core.dim_session", pl.DataFrame(
            {"exchange_mic": ["XNYS"], "session_date": [date(2025, 1, 2)], "session_idx": [0],
             "open_utc": [datetime(2025, 1, 2, 14, 30, tzinfo=UTC)]}))


def test_unwritable_and_missing_warehouses_are_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(WarehouseError, match=f"cannot create warehouse folder {blocker}"):
        connect(blocker / "w.duckdb")
    with pytest.raises(WarehouseError, match="no warehouse at .*missing.duckdb"):
        connect_read_only(tmp_path / "missing.duckdb")


def test_corrupt_file_is_named(tmp_path):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(WarehouseError, match=str(bad)):
        connect(bad)


def test_newer_schema_version_is_refused(tmp_path):
    path = tmp_path / "w.duckdb"
    c = connect(path)
    c.execute("INSERT INTO audit.schema_version VALUES (999, now())")
    c.close()
    with pytest.raises(WarehouseError, match="schema version 999 is newer"):
        connect(path)
