"""`aftershock query` can read and nothing else."""

import pytest

from warehouse.connection import QueryRefused, connect, connect_read_only, run_user_query

ATTEMPTS = [
    ("INSERT INTO core.dim_security VALUES ('X','x','s','XNYS','USD','US','equity','X')",
     "INSERT statements are refused"),
    ("DELETE FROM core.fact_price_daily", "DELETE statements are refused"),
    ("UPDATE core.fact_price_daily SET close = 0", "UPDATE statements are refused"),
    ("DROP TABLE core.fact_price_daily", "DROP statements are refused"),
    ("CREATE TABLE x AS SELECT 1", "CREATE statements are refused"),
    ("ALTER TABLE core.dim_security ADD COLUMN x INT", "ALTER statements are refused"),
    ("COPY core.dim_security TO '/tmp/aftershock-leak.csv'", "COPY statements are refused"),
    ("ATTACH '/tmp/other.duckdb' AS o", "ATTACH statements are refused"),
    ("DETACH w", "DETACH statements are refused"),
    ("INSTALL httpfs", "LOAD statements are refused"),
    ("LOAD httpfs", "LOAD statements are refused"),
    ("PRAGMA enable_profiling", "PRAGMA statements are refused"),
    ("SET enable_external_access = true", "SET statements are refused"),
    ("CALL pragma_version()", "CALL statements are refused"),
    ("EXPORT DATABASE '/tmp/aftershock-export'", "EXPORT statements are refused"),
    ("SELECT 1; DELETE FROM core.fact_price_daily", "one statement at a time, got 2"),
    ("SELECT * FROM read_csv('/etc/passwd')", "reading files, extensions or URLs is refused"),
    ("SELECT * FROM read_text('/etc/hostname')", "reading files, extensions or URLs is refused"),
    # with external access off, a file path is not even looked up as a file
    ("SELECT * FROM '/etc/passwd'", "query failed: .*/etc/passwd does not exist"),
    ("SELECT * FROM read_parquet('https://example.com/x.parquet')",
     "reading files, extensions or URLs is refused"),
    ("SELEC 1", "query failed"),
]


@pytest.fixture(scope="module")
def ro(tmp_path_factory):
    path = tmp_path_factory.mktemp("q") / "w.duckdb"
    connect(path).close()
    con = connect_read_only(path)
    yield con
    con.close()


@pytest.mark.parametrize(("sql", "message"), ATTEMPTS)
def test_refused(ro, sql, message):
    with pytest.raises(QueryRefused, match=message):
        run_user_query(ro, sql)


def test_reads_work(ro):
    assert run_user_query(ro, "SELECT count(*) AS n FROM core.dim_security")["n"][0] == 0
    assert run_user_query(ro, "EXPLAIN SELECT 1").height >= 1
    assert run_user_query(ro, "SELECT version() AS v").height == 1
