"""Data-quality gates: Great Expectations suites that split a frame into good and rejected rows.

``expectations.runner`` holds the generic machinery (``Rule``, ``Suite``, ``validate``);
one module per dataset holds its suite (``expectations.prices``). Importing this package is
cheap; importing GX (a few seconds) happens on first use of a re-exported name.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ExpectationRunError": "expectations.runner",
    "Rule": "expectations.runner",
    "Suite": "expectations.runner",
    "ValidationOutcome": "expectations.runner",
    "validate": "expectations.runner",
    "unique_key_rule": "expectations.runner",
    "PRICES_SUITE": "expectations.prices",
    "validate_prices": "expectations.prices",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'expectations' has no attribute {name!r}")
