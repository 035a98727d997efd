"""Shared fixtures: where ../shared lives, and small frames."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # before Prefect configures logging

from flows.cli import prefect_defaults  # noqa: E402

# The settings the `aftershock` command gives itself (tests call the app, not its entry point):
# a flow run outside prefect_test_harness starts Prefect's temporary server, whose SQLite
# database lives in PREFECT_HOME, so the folder must exist whatever test runs first.
prefect_defaults()

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFTERSHOCK_SHARED", REPO.parent / "shared"))
SNAPSHOT = SHARED / "market-snapshot"

needs_snapshot = pytest.mark.skipif(
    not SNAPSHOT.is_dir(),
    reason=f"real market snapshot not found at {SNAPSHOT} (set AFTERSHOCK_SHARED)",
)


@pytest.fixture(scope="session")
def snapshot_dir() -> Path:
    if not SNAPSHOT.is_dir():
        pytest.skip(f"real market snapshot not found at {SNAPSHOT}")
    return SNAPSHOT


def _install_yahoo_wire(monkeypatch: pytest.MonkeyPatch, fake):
    """Route every curl_cffi request yfinance makes to ``fake(method, url, **kw)``. yfinance
    keeps process-wide state, so the caller gets a clean slate kept off disk: the sqlite
    time-zone and cookie caches (~/.cache/py-yfinance), the YfData singleton (session,
    cookie, crumb) and its in-memory cache of responses."""
    from curl_cffi import requests as curl_requests
    from yfinance import cache as yf_cache
    from yfinance.data import SingletonMeta, YfData

    monkeypatch.setattr(curl_requests.Session, "request",
                        lambda self, method, url, **kw: fake(method, url, **kw))
    monkeypatch.setattr(yf_cache._TzCacheManager, "_tz_cache", yf_cache._TzCacheDummy())
    monkeypatch.setattr(yf_cache._CookieCacheManager, "_Cookie_cache",
                        yf_cache._CookieCacheDummy())
    monkeypatch.delitem(SingletonMeta._instances, YfData, raising=False)
    YfData.cache_get.cache_clear()
    return fake


@pytest.fixture(scope="session")
def install_yahoo_wire():
    """``install(monkeypatch, fake)``: yfinance's HTTP boundary, faked (any fixture scope)."""
    return _install_yahoo_wire
