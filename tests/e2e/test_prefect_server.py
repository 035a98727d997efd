"""`aftershock serve` against a real Prefect server on a loopback port.

One `aftershock serve` process (demo source, temporary warehouse, a 10-second interval instead of
the cron) starts its own local Prefect server, as it does when PREFECT_API_URL is unset. The tests
then watch a scheduled run fire and complete, trigger `backfill` through the API with
parameters, deploy prefect.yaml to a process work pool on the same server, and finally stop
`serve` and check that the server went with it. The processes are stopped even when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from flows.serve import api_healthy, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

REPO = Path(__file__).resolve().parents[2]

#: `aftershock` with the ops commands registered (a no-op once flows/cli.py registers them).
LAUNCHER = """
from flows import ops_cmds
from flows.cli import app, main
have = {c.name or c.callback.__name__ for c in app.registered_commands}
for command in (ops_cmds.serve, ops_cmds.status, ops_cmds.backfill):
    if command.__name__ not in have:
        app.command()(command)
main()
"""

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Served:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.home = root / "prefect"
        self.warehouse = str(root / "daily.duckdb")
        self.log = root / "serve.log"
        self.process: subprocess.Popen | None = None

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL",
                                                                "PREFECT_PROFILE")}
        return env | {
            "PREFECT_HOME": str(self.home),
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "GX_ANALYTICS_ENABLED": "false",
            "PYTHONFAULTHANDLER": "1",
        }

    def start(self) -> None:
        command = [sys.executable, "-c", LAUNCHER, "serve", "--source", "demo",
                   "--tickers", "NVDA,^GSPC", "--option", "news=false",
                   "--option", "publish=false", "--interval", "10",
                   "--server-port", str(self.port), "--warehouse", self.warehouse]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=self.env(), stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"aftershock serve exited early:\n{self.tail()}")
            if api_healthy(self.api, timeout=1):
                return
            time.sleep(0.5)
        pytest.fail(f"no Prefect server on {self.api} after 90 s:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> int | None:
        """SIGTERM `serve` (it pauses its schedules and stops its server); force if needed."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:  # dump where it hangs into the log, then kill
                self.process.send_signal(signal.SIGABRT)
                time.sleep(1)
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode

    def kill_leftovers(self) -> None:
        pid_file = self.home / "server.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = Served(tmp_path_factory.mktemp("served"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.kill_leftovers()


@pytest.fixture
def client(served):
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: served.api}):
        with get_client(sync_client=True) as c:
            yield c


def wait_for(what: str, probe, served: Served, timeout: float = 90, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what}; serve log:\n{served.tail()}")


def deployment(client, name: str, served: Served):
    from prefect.exceptions import ObjectNotFound

    def probe():
        try:
            return client.read_deployment_by_name(name)
        except ObjectNotFound:
            return None

    return wait_for(f"deployment {name}", probe, served, timeout=60)


def runs_of(client, deployment_id):
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))


def read_only(path: str, served: Served):
    """The warehouse, read-only, once no scheduled run holds its write lock."""
    from warehouse.connection import WarehouseError, connect_read_only

    def probe():
        try:
            return connect_read_only(path)
        except WarehouseError:
            return None

    return wait_for(f"a read-only connection to {path}", probe, served, timeout=60, every=0.2)


def test_scheduled_run_fires_completes_and_updates_the_warehouse(served, client):
    daily = deployment(client, "daily-refresh/daily-refresh", served)
    assert daily.parameters["options"]["source"] == "demo"
    assert daily.parameters["options"]["tickers"] == ["NVDA", "^GSPC"]
    assert daily.parameters["options"]["warehouse"] == served.warehouse
    assert daily.parameters["options"]["news"] is False  # --option passes any run option
    assert daily.schedules and daily.schedules[0].schedule.interval.total_seconds() == 10
    assert daily.global_concurrency_limit is None or daily.global_concurrency_limit.limit == 1

    def completed():
        return [r for r in runs_of(client, daily.id)
                if r.state_type and r.state_type.value == "COMPLETED"]

    done = wait_for("a completed scheduled daily-refresh run", completed, served, timeout=100)
    assert done[0].auto_scheduled, "the run was not created by the schedule"
    # enough: spare the next tests a run every 10 s
    client.pause_deployment(daily.id)
    waiting = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[daily.id])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))))
    for queued in waiting:
        client.delete_flow_run(queued.id)
    con = read_only(served.warehouse, served)
    try:
        rows = con.execute("SELECT ticker, count(*) FROM core.fact_price_daily "
                           "GROUP BY ticker ORDER BY ticker").fetchall()
        runs = con.execute("SELECT flow, status FROM audit.etl_run "
                           "WHERE status = 'success'").fetchall()
    finally:
        con.close()
    assert [t for t, _ in rows] == ["NVDA", "^GSPC"] and all(n > 1000 for _, n in rows)
    assert ("daily-refresh", "success") in runs

    artifacts = client.read_artifacts(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[done[0].id])))
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) >= {"daily-refresh-run-summary", "daily-refresh-new-reactions"}
    summary = by_key["daily-refresh-run-summary"].data
    assert "success" in summary and "| prices |" in summary  # rows per dataset
    assert "Expectations met" in summary and "Top " in summary and "| NVDA |" in summary


def test_backfill_through_the_api_with_parameters(served, client):
    back = deployment(client, "backfill/backfill", served)
    assert back.schedules == [] and back.parameters["source"] == "demo"
    target = str(served.root / "backfill.duckdb")
    run = client.create_flow_run_from_deployment(back.id, parameters={
        "start": "2024-01-01", "end": "2024-06-30", "tickers": ["AMD", "^IXIC"],
        "warehouse": target, "batch_size": 1, "chunk_days": 100, "publish": False,
    })

    def finished():
        current = client.read_flow_run(run.id)
        return current if current.state_type and current.state_type.value in TERMINAL else None

    final = wait_for("the backfill run to finish", finished, served, timeout=100)
    assert final.state_type.value == "COMPLETED", served.tail()
    con = read_only(target, served)
    try:
        span = con.execute("SELECT ticker, min(session_date), max(session_date) "
                           "FROM core.fact_price_daily GROUP BY ticker ORDER BY ticker").fetchall()
        flow, status, params = con.execute(
            "SELECT flow, status, params FROM audit.etl_run").fetchall()[0]
    finally:
        con.close()
    assert [t for t, *_ in span] == ["AMD", "^IXIC"]
    assert all(str(lo) >= "2024-01-01" and str(hi) <= "2024-06-30" for _, lo, hi in span)
    assert (flow, status) == ("backfill", "success")
    assert json.loads(params)["chunk_days"] == 100

    artifacts = client.read_artifacts(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    assert {a.key for a in artifacts} >= {"backfill-run-summary", "backfill-new-reactions"}


def test_prefect_yaml_deploys_to_a_process_work_pool(served, client):
    env = served.env() | {"PREFECT_API_URL": served.api}
    prefect = [sys.executable, "-m", "prefect"]
    subprocess.run([*prefect, "work-pool", "create", "aftershock", "--type", "process"],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
    deployed = subprocess.run([*prefect, "--no-prompt", "deploy", "--all"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=90)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    daily = client.read_deployment_by_name("daily-refresh/daily-refresh")
    back = client.read_deployment_by_name("backfill/backfill")
    assert daily.work_pool_name == back.work_pool_name == "aftershock"
    (schedule,) = daily.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 22 * * 1-5", "UTC")
    assert daily.entrypoint == "flows.daily_refresh.daily_refresh"
    assert back.parameters["max_concurrent"] == 2


def test_serve_stops_its_local_server_on_exit(served):
    assert "starting a local one" in served.log.read_text()
    pid = int((served.home / "server.pid").read_text())
    assert _alive(pid)
    served.stop()
    assert not api_healthy(served.api, timeout=1)
    assert not (served.home / "server.pid").exists()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid)
    assert "Stopping the local Prefect server" in served.log.read_text()
