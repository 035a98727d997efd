"""Fault injection for crash-safety tests: die at a named point of a run.

Set ``AFTERSHOCK_FAULT=<point>`` and the process SIGKILLs itself when the run reaches that point,
exactly as an out-of-memory kill or a pulled plug would: no cleanup, no rollback, no finally.
The tests then check that the warehouse is as it was before the run and that the next run
completes. Unset, a checkpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

#: Every point a run can be killed at, in the order a run reaches them.
POINTS = (
    "after_extract",  # data fetched, nothing written
    "after_raw",  # inside the transaction: raw landed
    "after_core",  # inside the transaction: core merged, quarantine written
    "during_marts",  # inside the transaction: marts half rebuilt
    "before_commit",  # every write done, COMMIT not yet issued
    "during_publish",  # after COMMIT, while the serving copy is written
)


def checkpoint(point: str) -> None:
    """Kill this process with SIGKILL if ``AFTERSHOCK_FAULT`` names ``point``."""
    if os.environ.get("AFTERSHOCK_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
