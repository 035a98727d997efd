"""A person's query never makes the schedule wait: `aftershock query` reads the published
serving copy, so while a long query runs in another process the daily run can still open the
ETL's warehouse for writing. With ``--etl`` the query holds the ETL's file, and the writer is
refused -- the contrast that shows what the default buys."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warehouse import load
from warehouse.connection import WarehouseError, connect
from warehouse.publish import publish, serving_dir_for

AFTERSHOCK = str(Path(sys.executable).parent / "aftershock")
SLOW_SQL = "SELECT count(*) FROM range(100000000000) a"


def _holds(pid: int, path: Path) -> bool:
    """True when process ``pid`` has ``path`` open (Linux /proc)."""
    target = path.resolve()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if Path(os.readlink(fd)) == target:
                return True
        except OSError:
            continue
    return False


@pytest.fixture
def published(tmp_path) -> Path:
    path = tmp_path / "w.duckdb"
    con = connect(path)
    load.start_run(con, "r1", "daily-refresh", "test", {})
    load.finish_run(con, "r1", "success")
    publish(con, serving_dir_for(path), parquet=False)
    con.close()
    return path


def _query(warehouse: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [AFTERSHOCK, "query", SLOW_SQL, "--timeout", "20", "--warehouse", str(warehouse),
         *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_open(child: subprocess.Popen, path: Path) -> None:
    deadline = time.monotonic() + 60
    while not _holds(child.pid, path):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the query never opened its file"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_a_long_query_never_blocks_the_writer(published):
    child = _query(published)
    try:
        _wait_until_open(child, serving_dir_for(published) / "aftershock.duckdb")
        assert not _holds(child.pid, published)
        connect(published, lock_timeout=0).close()  # the daily run's writer gets its file
        assert child.poll() is None  # while the query is still running
    finally:
        child.kill()
        child.communicate()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_with_etl_the_query_holds_the_warehouse(published):
    child = _query(published, "--etl")
    try:
        _wait_until_open(child, published)
        with pytest.raises(WarehouseError, match="in use by another process"):
            connect(published, lock_timeout=0)
    finally:
        child.kill()
        child.communicate()
