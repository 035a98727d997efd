"""The Prefect API a one-off command (`run`, `backfill`) runs its flow against, when no server
is configured (PREFECT_API_URL).

It is Prefect's own temporary server (the same uvicorn app, its SQLite database in
PREFECT_HOME), but started here rather than by Prefect, for three reasons measured on this
machine: Prefect's 20 s startup timeout is shorter than a first start takes (about 21 s on a
new PREFECT_HOME), a slow start is retried once instead of failing the schedule, and the server
dies with the process that started it (Linux PR_SET_PDEATHSIG), so a run killed with SIGKILL
leaves nothing running. Servers that a dead run left behind before this existed are stopped at
the next start.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

#: Startup budget per attempt: about 6x the slowest first start measured here (a new
#: PREFECT_HOME on a cold install, 2 cores), so a busy machine still starts it.
STARTUP_TIMEOUT_S = 120.0
#: Prefect's own setting, honoured when set (1 makes the failure path deterministic).
TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
ATTEMPTS = 2
#: What identifies the temporary server's process on its command line.
APP = "prefect.server.api.server:create_app"


class PrefectStartupError(RuntimeError):
    """Prefect's temporary API did not start; the message says what to do."""


def startup_timeout() -> float:
    """Seconds one attempt may take: $PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS or ours."""
    raw = os.environ.get(TIMEOUT_ENV)
    try:
        return float(raw) if raw else STARTUP_TIMEOUT_S
    except ValueError:
        raise PrefectStartupError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free on ``host`` now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def api_healthy(api_url: str, timeout: float = 3.0) -> bool:
    """Whether a Prefect API answers its health check at ``api_url``."""
    import httpx

    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: on Linux the child gets SIGTERM when ``parent`` dies, however it
    dies (kill -9 included); if the parent is already gone, the child exits at once."""

    def arm() -> None:  # pragma: no cover - runs in the child before exec
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
            except OSError:
                return
            if os.getppid() != parent:
                os._exit(1)

    return arm


def stray_servers(home: str | Path) -> list[int]:
    """Temporary servers on ``home`` whose starting process is dead (reparented to init)."""
    home = str(Path(home).resolve())
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if APP.encode() not in cmdline:
                continue
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = dict(item.split(b"=", 1) for item in (proc / "environ").read_bytes()
                       .split(b"\0") if b"=" in item)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if ppid == 1 and env.get(b"PREFECT_HOME", b"").decode(errors="replace") == home:
            found.append(int(proc.name))
    return found


class TemporaryServer:
    """Prefect's temporary API as a child process of this one (see the module docstring)."""

    def __init__(self, timeout: float | None = None, host: str = "127.0.0.1") -> None:
        self.timeout = startup_timeout() if timeout is None else timeout
        self.host = host
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    def start(self) -> str:
        """Start the server and wait for its health check; raises PrefectStartupError."""
        import prefect
        from prefect.settings import get_current_settings

        self.port = free_port(self.host)
        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        env.pop("PREFECT_API_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
             "--factory", APP, "--host", self.host, "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env=env, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(os.getpid()),
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise PrefectStartupError(f"the server process exited with code {code}")
            if api_healthy(self.api_url, timeout=1.0):
                return self.api_url
            time.sleep(0.2)
        self.stop()
        raise PrefectStartupError(f"no answer on {self.api_url} within {self.timeout:g} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_shared: TemporaryServer | None = None


def shared_server(say: Callable[[str], None] | None = None) -> TemporaryServer:
    """The process's one temporary server, started on first use (ATTEMPTS tries) and stopped
    at exit. Raises PrefectStartupError with what to do when it cannot start."""
    global _shared
    if _shared is not None and _shared.process is not None and _shared.process.poll() is None:
        return _shared
    home = os.environ.get("PREFECT_HOME")
    if home and sys.platform.startswith("linux"):
        for pid in stray_servers(home):  # left by a run killed before servers died with it
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
    causes = []
    for attempt in range(1, ATTEMPTS + 1):
        server = TemporaryServer()
        try:
            server.start()
        except PrefectStartupError as exc:
            causes.append(f"attempt {attempt}: {exc}")
            if say and attempt < ATTEMPTS:
                say(f"Prefect's temporary API did not start ({exc}); retrying once")
            continue
        atexit.register(server.stop)
        _shared = server
        return server
    raise PrefectStartupError(
        "Prefect's temporary API did not start (" + "; ".join(causes) + "). The machine may "
        f"be busy: raise {TIMEOUT_ENV} (now {startup_timeout():g} s), or run `prefect server "
        "start` and set PREFECT_API_URL to its API"
    )


@contextmanager
def flow_api(say: Callable[[str], None] | None = None) -> Iterator[str | None]:
    """Run the body's flows against the configured Prefect API, or against this process's
    temporary server when none is configured. Yields the API URL used (None: configured)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield None
        return
    server = shared_server(say)
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield server.api_url


__all__ = ["PrefectStartupError", "TemporaryServer", "flow_api", "shared_server",
           "stray_servers"]
