"""Prefect's temporary API as a newcomer and a scheduler meet it: a first run on a new
PREFECT_HOME with default settings completes; a startup that cannot finish is one `error:` line,
exit 2, a failed audit row and the webhook; a run killed with SIGKILL leaves no server behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest

from flows.prefect_api import APP, stray_servers

pytestmark = pytest.mark.slow
AFTERSHOCK = str(Path(sys.executable).parent / "aftershock")
TICKERS = "NVDA,AMD,^GSPC"


def _env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh machine's first run: no configured API, Prefect defaults."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PREFECT_") and k != "AFTERSHOCK_FAULT"}
    return {**env, "PREFECT_HOME": str(home), **extra}


def _servers_of(home: Path) -> list[int]:
    """Every temporary-server process (orphaned or not) whose PREFECT_HOME is ``home``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if APP.encode() not in (proc / "cmdline").read_bytes():
                continue
            if f"PREFECT_HOME={home}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _run(warehouse: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AFTERSHOCK, "run", "--source", "demo", "--seed", "3", "--tickers", TICKERS,
         "--no-news", "--no-publish", "--top", "0", "--warehouse", str(warehouse)],
        env=env, capture_output=True, text=True, timeout=600,
    )


def test_first_run_on_a_new_prefect_home_with_default_settings_completes(tmp_path: Path):
    home = tmp_path / "prefect-home"  # does not exist yet, as on a fresh clone
    done = _run(tmp_path / "w.duckdb", _env(home))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.sql("SELECT status FROM audit.etl_run").fetchall() == [("success",)]
        assert con.execute("SELECT count(*) FROM core.fact_price_daily").fetchone()[0] > 0
    time.sleep(1)
    assert _servers_of(home.resolve()) == []  # stopped with the run


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_startup_that_cannot_finish_is_one_line_a_failed_row_and_the_webhook(tmp_path: Path):
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    _Hook.received.clear()
    try:
        done = _run(tmp_path / "w.duckdb", _env(
            tmp_path / "home", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1",
            AFTERSHOCK_NOTIFY_URL=f"http://127.0.0.1:{hook.server_port}/hook"))
    finally:
        hook.shutdown()
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "Prefect's temporary API did not start" in errors[0]
    assert "attempt 2" in errors[0]  # retried once
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in errors[0]  # what to do
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = con.sql("SELECT run_id, flow, status, error FROM audit.etl_run").fetchall()
    assert len(rows) == 1
    run_id, flow, status, error = rows[0]
    assert (flow, status) == ("daily-refresh", "failed")
    assert "did not start" in error
    assert len(_Hook.received) == 1
    assert run_id in json.dumps(_Hook.received[0]) and "failed" in json.dumps(_Hook.received[0])
    assert _servers_of((tmp_path / "home").resolve()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_run_killed_mid_flow_leaves_no_server_running(tmp_path: Path):
    home = (tmp_path / "home").resolve()
    killed = _run(tmp_path / "w.duckdb", _env(home, AFTERSHOCK_FAULT="after_extract"))
    assert killed.returncode == -9, killed.stderr[-2000:]
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:  # the flow ran
        assert con.sql("SELECT status FROM audit.etl_run").fetchall() == [("running",)]
    deadline = time.monotonic() + 15
    while _servers_of(home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _servers_of(home) == []
    assert stray_servers(home) == []
