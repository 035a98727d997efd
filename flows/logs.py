"""Keep expected failures to one log line: no library traceback for errors we already explain."""

from __future__ import annotations

import logging

import duckdb

from contracts import ContractError
from sources.base import SourceError
from warehouse.connection import WarehouseError

#: ... and the warehouse file's own faults (damaged file, full disk), which the command
#: reports in one line naming the file (flows.cli.main)
EXPECTED: tuple[type[BaseException], ...] = (SourceError, ContractError, WarehouseError,
                                             duckdb.IOException, duckdb.TransactionException)


class _DropExpectedTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], EXPECTED):
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_expected_tracebacks() -> None:
    """Install the filter on Prefect's run loggers (idempotent)."""
    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropExpectedTraceback) for f in logger.filters):
            logger.addFilter(_DropExpectedTraceback())
