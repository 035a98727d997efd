"""A run killed (SIGKILL) at any point leaves the warehouse as it was; the next run completes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from prefect.settings import PREFECT_API_URL

from flows.faults import POINTS
from warehouse.connection import table_checksums

pytestmark = pytest.mark.slow
AFTERSHOCK = str(Path(sys.executable).parent / "aftershock")
TICKERS = "NVDA,AMD,MU,000660.KS,^GSPC,^KS11"
DATA = ("raw", "core", "marts")
VOLATILE = ("run_id", "fetched_at", "quarantined_at", "first_seen_at", "last_seen_at",
            "first_run_id", "last_run_id")


def _run(warehouse: Path, end: str, fault: str | None = None, extra_env=None):
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), **(extra_env or {})}
    env.pop("AFTERSHOCK_FAULT", None)
    if fault:
        env["AFTERSHOCK_FAULT"] = fault
    return subprocess.run(
        [AFTERSHOCK, "run", "--source", "demo", "--seed", "5", "--tickers", TICKERS,
         "--end", end, "--warehouse", str(warehouse), "--top", "0"],
        env=env, capture_output=True, text=True, timeout=300,
    )


def _sums(path: Path, schemas=DATA, ignore=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return table_checksums(con, schemas, ignore)
    finally:
        con.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory, prefect_api):
    """A warehouse loaded through 2025-06-30, and the one a clean run through 2025-12-31 makes."""
    folder = tmp_path_factory.mktemp("crash")
    base = folder / "base.duckdb"
    done = _run(base, "2025-06-30")
    assert done.returncode == 0, done.stderr
    clean = folder / "clean.duckdb"
    shutil.copy(base, clean)
    done = _run(clean, "2025-12-31")
    assert done.returncode == 0, done.stderr
    return base, _sums(clean, ignore=VOLATILE)


def test_killed_run_leaves_the_warehouse_as_it_was(base, tmp_path):
    """Killed at every fault point in turn, on one warehouse: after each kill the data schemas
    are byte-for-byte as before and audit gained only that run's 'running' row (marked
    abandoned); then the next run completes and gives what an uninterrupted run gives. (One
    recovery run after all the kills, not one per point: each kill rolls back to the same
    state, so the recovery starts from that state plus the abandoned rows either way.)"""
    source, clean_sums = base
    path = tmp_path / "w.duckdb"
    shutil.copy(source, path)
    points = [p for p in POINTS if p != "during_publish"]
    for point in points:
        before = _sums(path, DATA + ("audit",), ignore=())
        killed = _run(path, "2025-12-31", fault=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        after = _sums(path, DATA + ("audit",))
        changed = {k for k in after if k != "audit.etl_run" and after[k] != before.get(k)}
        assert not changed, f"killed {point}: {sorted(changed)} changed"
        assert after["audit.etl_run"][0] == before["audit.etl_run"][0] + 1, point
    again = _run(path, "2025-12-31")
    assert again.returncode == 0, again.stderr[-2000:]
    assert _sums(path, ignore=VOLATILE) == clean_sums
    con = duckdb.connect(str(path), read_only=True)
    statuses = [r[0] for r in con.execute(
        "SELECT status FROM audit.etl_run ORDER BY started_at").fetchall()]
    con.close()
    assert statuses == ["success", *(["abandoned"] * len(points)), "success"]


def test_second_writer_waits_then_names_the_holder(base, tmp_path):
    source, _ = base
    path = tmp_path / "w.duckdb"
    shutil.copy(source, path)
    before = _sums(path)  # no reader can open the file while the holder has it
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True);"
         " time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        blocked = _run(path, "2025-12-31", extra_env={"AFTERSHOCK_LOCK_TIMEOUT": "3"})
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert blocked.returncode == 2
    line = [ln for ln in blocked.stderr.splitlines() if ln.startswith("error:")]
    assert line and f"is in use by another process (held by PID {holder.pid})" in line[0]
    assert "gave up after waiting 3 s" in line[0]
    assert waited >= 3
    assert _sums(path) == before


def test_second_writer_proceeds_when_the_holder_finishes(base, tmp_path):
    source, _ = base
    path = tmp_path / "w.duckdb"
    shutil.copy(source, path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True);"
         " time.sleep(2); c.close()", str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    done = _run(path, "2025-12-31", extra_env={"AFTERSHOCK_LOCK_TIMEOUT": "60"})
    holder.wait()
    assert done.returncode == 0, done.stderr[-2000:]
