"""Fixtures shared by the Yahoo source tests: yfinance's HTTP boundary, faked."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from yfinance.data import YfData


@pytest.fixture
def yahoo_wire(monkeypatch: pytest.MonkeyPatch, install_yahoo_wire) -> Iterator[Callable]:
    """``install(fake)`` routes yfinance's requests to ``fake`` for one test (tests/conftest.py
    ``install_yahoo_wire``) and returns it. On exit, a fake's ``unexpected`` list (endpoints
    it does not serve) must be empty."""
    installed = []

    def install(fake):
        installed.append(install_yahoo_wire(monkeypatch, fake))
        return fake

    yield install
    YfData.cache_get.cache_clear()
    for fake in installed:
        assert fake.unexpected == [], "yfinance called endpoints the fake does not serve"
