"""End-to-end runs share one temporary Prefect API for the session (it takes seconds to start)."""

from __future__ import annotations

import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_api():
    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="module")
def cli():
    """Invoke the `aftershock` CLI in-process; returns (exit_code, stdout+stderr)."""
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return invoke
