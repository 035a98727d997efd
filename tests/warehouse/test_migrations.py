"""An older warehouse is upgraded in place, keeping its data."""

from datetime import date
from importlib import resources

import duckdb
import pytest

from warehouse.connection import WarehouseError, _migrations, connect, migrate


def _v1_warehouse(path):
    """A warehouse exactly as the first release (schema version 1) left it, with data."""
    con = duckdb.connect(str(path))
    con.execute(resources.files("warehouse").joinpath("schema.sql").read_text())
    con.execute("INSERT INTO audit.schema_version VALUES (1, now())")
    con.execute(
        "INSERT INTO core.fact_price_daily VALUES ('NVDA', DATE '2025-01-27', 1, 2, 0.5, 1.5,"
        " 1.5, 100, 'USD', 'snapshot', [], 'r1')"
    )
    con.close()


def test_upgrade_keeps_data_and_records_each_version(tmp_path):
    path = tmp_path / "old.duckdb"
    _v1_warehouse(path)
    con = connect(path)
    versions = [r[0] for r in con.execute(
        "SELECT version FROM audit.schema_version ORDER BY version").fetchall()]
    assert versions == [v for v, _, _ in _migrations()]
    assert versions[-1] >= 2
    assert con.execute("SELECT session_date, close FROM core.fact_price_daily").fetchall() == [
        (date(2025, 1, 27), 1.5)
    ]
    # tables that arrived in later migrations exist and work
    con.execute("SELECT count(*) FROM core.fact_shares_outstanding").fetchall()
    con.close()
    # a second open migrates nothing more
    con = connect(path)
    assert con.execute("SELECT count(*) FROM audit.schema_version").fetchall()[0][0] == len(
        versions)
    con.close()


def test_a_failing_migration_changes_nothing(tmp_path):
    path = tmp_path / "old.duckdb"
    _v1_warehouse(path)
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0002_ok.sql").write_text("CREATE TABLE core.extra (x INT);")
    (folder / "0003_broken.sql").write_text("ALTER TABLE core.nope ADD COLUMN y INT;")
    con = duckdb.connect(str(path))
    with pytest.raises(WarehouseError, match="cannot migrate warehouse"):
        migrate(con, folder)
    assert con.execute("SELECT max(version) FROM audit.schema_version").fetchall()[0][0] == 1
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'extra'"
                       ).fetchall()[0][0] == 0
    con.close()


def test_gaps_in_migration_numbers_are_refused(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0003_skip.sql").write_text("SELECT 1;")
    with pytest.raises(WarehouseError, match="not numbered"):
        _migrations(folder)


def test_marts_are_recreated_when_their_ddl_changes(tmp_path):
    path = tmp_path / "w.duckdb"
    con = connect(path)
    con.execute("UPDATE audit.ddl_state SET sha256 = 'old' WHERE name = 'marts.sql'")
    con.execute("ALTER TABLE marts.event_window ADD COLUMN stale INTEGER")
    con.close()
    con = connect(path)
    cols = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
        "AND table_name = 'event_window'").fetchall()]
    con.close()
    assert "stale" not in cols


def test_recreated_marts_forget_the_study_fingerprints(tmp_path):
    """Empty marts with fingerprints left would make the next run rebuild nothing."""
    path = tmp_path / "w.duckdb"
    con = connect(path)
    con.execute("INSERT INTO audit.study_fingerprint VALUES ('e1', 'announcement', 7, 'r1')")
    con.close()
    con = connect(path)  # the DDL is unchanged: the fingerprint stays
    assert con.execute("SELECT count(*) FROM audit.study_fingerprint").fetchall()[0][0] == 1
    con.execute("UPDATE audit.ddl_state SET sha256 = 'old' WHERE name = 'marts.sql'")
    con.close()
    con = connect(path)
    left = con.execute("SELECT count(*) FROM audit.study_fingerprint").fetchall()[0][0]
    con.close()
    assert left == 0
