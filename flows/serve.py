"""Serving the deployments: `daily-refresh` on a schedule and `backfill` on demand.

``aftershock serve`` registers both deployments with the Prefect server in ``PREFECT_API_URL``
and runs their flow runs in this process tree (Prefect's ``serve``: no work pool, no worker).
With no server configured it starts one as a child process, with its database under
``data/prefect/`` (``$PREFECT_HOME``), says so, and stops it on exit. Prefect's *temporary*
API (what a plain ``aftershock run`` uses) never fires schedules, which is why a real server is
needed here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts import ContractError
from flows.prefect_api import api_healthy, die_with_parent, free_port
from flows.status import DEFAULT_CRON, DEFAULT_TIMEZONE

DAILY = "daily-refresh"
BACKFILL = "backfill"
DEFAULT_SERVER_PORT = 4200
TAGS = ["aftershock"]


class ServerError(RuntimeError):
    """The Prefect server cannot be reached or started; the message says what to do."""


# --------------------------------------------------------------------------- deployments


def _absolute(path: str | None) -> str | None:
    """A file path made absolute (flow runs may start elsewhere); connection strings as is."""
    if not path:
        return path
    from warehouse.connection import _is_file

    return str(Path(path).resolve()) if _is_file(path) else path


def run_parameters(options: Any) -> dict:
    """``RunOptions`` as JSON-ready deployment parameters (paths absolute, dates as text)."""
    params = asdict(options)
    params["warehouse"] = _absolute(params.get("warehouse"))
    params["snapshot_dir"] = _absolute(params.get("snapshot_dir"))
    for name in ("start", "end"):
        if params.get(name) is not None:
            params[name] = params[name].isoformat()
    return params


def check_schedule(cron: str, timezone: str) -> None:
    """A one-line ContractError for a bad cron string or time zone."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ContractError(f"unknown time zone {timezone!r} (use an IANA name such as "
                            "UTC or America/New_York)") from None
    from prefect.schedules import Cron

    try:
        Cron(cron, timezone=timezone)
    except ValueError as exc:
        raise ContractError(f"invalid cron {cron!r}: {str(exc).splitlines()[-1].strip()}") from None


def build_deployments(options: Any, *, cron: str = DEFAULT_CRON,
                      timezone: str = DEFAULT_TIMEZONE, interval: float | None = None,
                      backfill_defaults: dict | None = None) -> list:
    """The two runner deployments.

    ``daily-refresh``: ``options`` (a ``RunOptions``) become its ``options`` parameter; it runs
    on ``cron`` in ``timezone`` (or every ``interval`` seconds, for demos and tests); one run at
    a time. ``backfill``: no schedule; ``backfill_defaults`` are its default parameters (start
    and end are given per run).
    """
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron, Interval

    from flows.backfill import backfill
    from flows.daily_refresh import daily_refresh

    check_schedule(cron, timezone)
    schedule = (Interval(timedelta(seconds=interval)) if interval
                else Cron(cron, timezone=timezone))
    daily = daily_refresh.to_deployment(
        name=DAILY,
        schedules=[schedule],
        parameters={"options": run_parameters(options)},
        concurrency_limit=1,
        tags=TAGS,
        description="Aftershock daily refresh: extract, validate, load, rebuild the marts.",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    defaults = {k: v for k, v in (backfill_defaults or {}).items() if v is not None}
    for key in ("warehouse", "snapshot_dir"):
        if key in defaults:
            defaults[key] = _absolute(defaults[key])
    back = backfill.to_deployment(
        name=BACKFILL,
        parameters=defaults,
        concurrency_limit=1,
        tags=TAGS,
        description="Aftershock backfill: [start, end] in chunks, resumable.",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    return [daily, back]


def backfill_defaults_from(options: Any, **extra: Any) -> dict:
    """Backfill parameters that mirror the daily deployment's options."""
    names = {f.name for f in fields(options)}
    keep = ("source", "warehouse", "snapshot_dir", "tickers", "model", "seed")
    return {k: getattr(options, k) for k in keep if k in names} | extra


# --------------------------------------------------------------------------- a local server


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``port`` (as uvicorn binds: TIME_WAIT is no obstacle)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class LocalServer:
    """``prefect server start`` as a child process on a loopback port, stopped on exit.

    Its database and log live in ``home`` (``data/prefect`` by default). The child gets its own
    session, so a Ctrl-C in the terminal reaches only ``aftershock serve``, which then pauses
    its schedules through the still-running server before stopping it.
    """

    def __init__(self, home: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.home = Path(home).resolve()
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen | None = None
        self.log_path = self.home / "server.log"
        self.pid_path = self.home / "server.pid"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def database(self) -> Path:
        return self.home / "prefect.db"

    def start(self, timeout: float = 90.0) -> str:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env |= {
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_DATABASE_CONNECTION_URL":
                os.environ.get("PREFECT_SERVER_DATABASE_CONNECTION_URL")
                or f"sqlite+aiosqlite:///{self.database}",
        }
        prefect_cli = Path(sys.executable).with_name("prefect")
        command = ([str(prefect_cli)] if prefect_cli.exists()
                   else [sys.executable, "-m", "prefect"])
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [*command, "server", "start", "--host", self.host, "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, preexec_fn=die_with_parent(os.getpid()),
        )
        log.close()
        self.pid_path.write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise ServerError(
                    f"the local Prefect server exited with code {self.process.returncode}: "
                    + " | ".join(tail)
                )
            if api_healthy(self.api_url, timeout=1.0):
                return self.api_url
            time.sleep(0.5)
        self.stop()
        raise ServerError(f"the local Prefect server did not answer on {self.api_url} within "
                          f"{timeout:g} s (log: {self.log_path})")

    def stop(self, timeout: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.pid_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile, if any."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def serve_deployments(
    deployments: list,
    *,
    server_home: Path,
    server_port: int = DEFAULT_SERVER_PORT,
    say: Callable[[str], None] = print,
    limit: int | None = None,
) -> None:
    """Serve ``deployments`` until interrupted (Ctrl-C or SIGTERM), against the configured
    server, or a local one started (and stopped) here."""
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    api_url = configured_api_url()
    if api_url:
        if "prefect.cloud" not in api_url and not api_healthy(api_url):
            raise ServerError(
                f"no Prefect server answers at {api_url} (PREFECT_API_URL): start it, or unset "
                "PREFECT_API_URL to let `aftershock serve` start a local one"
            )
        say(f"Serving against the Prefect server at {api_url}.")
        serve(*deployments, limit=limit)
        return

    port = server_port if port_is_free(server_port) else free_port()
    server = LocalServer(server_home, port=port)
    # until Prefect's runner installs its own handler, SIGTERM must still stop the server
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    say(f"No Prefect server configured (PREFECT_API_URL): starting a local one on "
        f"{server.ui_url} (database {server.database}, log {server.log_path}) …")
    try:
        server.start()
        say(f"Local Prefect server up: UI {server.ui_url}, API {server.api_url}. "
            "It stops when `aftershock serve` exits.")
        with temporary_settings(updates={PREFECT_API_URL: server.api_url,
                                         PREFECT_UI_URL: server.ui_url}):
            serve(*deployments, limit=limit)
    finally:
        signal.signal(signal.SIGTERM, previous)
        _flush_to_api()
        say("Stopping the local Prefect server …")
        server.stop()


def _flush_to_api(timeout: float = 5.0) -> None:
    """Send the logs and events still queued in this process while the server is up."""
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for worker in (APILogWorker, EventsWorker):
            worker.drain_all(timeout=timeout)
    except Exception:  # best effort: never block shutdown
        pass


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
