"""Fixtures shared by the Yahoo source tests: yfinance's HTTP boundary, faked."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from curl_cffi import requests as curl_requests
from yfinance import cache as yf_cache
from yfinance.data import SingletonMeta, YfData


@pytest.fixture
def yahoo_wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable]:
    """``install(fake)`` routes every curl_cffi request yfinance makes to ``fake(method, url,
    **kw)`` and returns it. yfinance keeps process-wide state, so each test gets a clean
    slate kept off disk: the sqlite time-zone and cookie caches (~/.cache/py-yfinance), the
    YfData singleton (session, cookie, crumb) and its in-memory cache of responses. On exit,
    a fake's ``unexpected`` list (endpoints it does not serve) must be empty."""
    installed = []

    def install(fake):
        monkeypatch.setattr(curl_requests.Session, "request",
                            lambda self, method, url, **kw: fake(method, url, **kw))
        monkeypatch.setattr(yf_cache._TzCacheManager, "_tz_cache", yf_cache._TzCacheDummy())
        monkeypatch.setattr(yf_cache._CookieCacheManager, "_Cookie_cache",
                            yf_cache._CookieCacheDummy())
        monkeypatch.delitem(SingletonMeta._instances, YfData, raising=False)
        YfData.cache_get.cache_clear()
        installed.append(fake)
        return fake

    yield install
    YfData.cache_get.cache_clear()
    for fake in installed:
        assert fake.unexpected == [], "yfinance called endpoints the fake does not serve"
