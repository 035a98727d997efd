"""Shared fixtures: where ../shared lives, and small frames."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

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
