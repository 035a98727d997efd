"""Tell someone when a run fails or ends partial: POST a JSON summary to a webhook.

The body is what a Slack incoming webhook accepts (``text`` plus ``blocks``), and it carries the
whole summary under ``aftershock`` for machines (Teams/Mattermost/Discord-style relays or your
own endpoint). The URL comes from the run's ``notify`` option or ``$AFTERSHOCK_NOTIFY_URL``;
without one nothing is sent. A webhook that is down never fails the run: the attempt is logged.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import requests

#: Run statuses that notify (a successful run stays quiet).
NOTIFY_ON = ("failed", "partial")
ENV_URL = "AFTERSHOCK_NOTIFY_URL"
TIMEOUT_S = 10.0

_ICON = {"failed": ":x:", "partial": ":warning:", "success": ":white_check_mark:"}


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # outside a flow or task run
        return logging.getLogger("aftershock.notify")


def _flow_run_url(flow_run_id: Any = None) -> str | None:
    """The Prefect UI page of a flow run (default: the current one), when there is a UI."""
    try:
        from prefect.context import FlowRunContext
        from prefect.settings import PREFECT_UI_URL

        ui = PREFECT_UI_URL.value()
        if flow_run_id is None:
            ctx = FlowRunContext.get()
            flow_run_id = ctx.flow_run.id if ctx and ctx.flow_run else None
        if flow_run_id and ui:
            return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}"
    except Exception:
        pass
    return None


def payload(summary: Any, error: str | None = None, flow: str | None = None) -> dict:
    """The webhook body for a run summary (``RunSummary``, ``BackfillSummary`` or any object
    with ``run_id``, ``status`` and ``warehouse``)."""
    status = summary.status
    flow = flow or getattr(summary, "flow", None) or "daily-refresh"
    error = error or getattr(summary, "error", None)
    failed = list(getattr(summary, "failed_tickers", []) or [])
    counts = dict(getattr(summary, "counts", {}) or {})
    url = getattr(summary, "flow_run_url", None) or _flow_run_url()
    headline = f"{_ICON.get(status, '')} Aftershock {flow} run {summary.run_id}: {status}".strip()
    details = []
    if error:
        details.append(f"error: {error}")
    if failed:
        more = f" and {len(failed) - 20} more" if len(failed) > 20 else ""
        shown = ", ".join(failed[:20]) + more
        details.append(f"{len(failed)} ticker(s) not fetched: {shown}")
    details.append(f"warehouse: {summary.warehouse}")
    text = headline + "\n" + "\n".join(details)
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    loaded = {k: v for k, v in counts.items() if not k.startswith(("marts.", "core."))}
    if loaded:
        fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v:,}"} for k, v in list(loaded.items())[:10]]
        blocks.append({"type": "section", "fields": fields})
    if url:
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": f"<{url}|Prefect flow run>"}]})
    return {
        "text": text,
        "blocks": blocks,
        "aftershock": {
            "flow": flow,
            "run_id": summary.run_id,
            "status": status,
            "warehouse": summary.warehouse,
            "counts": counts,
            "failed_tickers": failed,
            "error": error,
            "flow_run_url": url,
        },
    }


def notify(url: str | None, summary: Any, *, error: str | None = None, flow: str | None = None,
           on: tuple[str, ...] = NOTIFY_ON, timeout: float = TIMEOUT_S) -> bool:
    """POST the run's summary to ``url`` (or ``$AFTERSHOCK_NOTIFY_URL``) if its status is in
    ``on``. Returns whether a notification was delivered; never raises for network errors."""
    url = url or os.environ.get(ENV_URL)
    if not url or summary.status not in on:
        return False
    log = _logger()
    try:
        response = requests.post(url, json=payload(summary, error, flow), timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        # the URL is a secret (Slack puts the token in the path): name the failure, not the URL
        response = getattr(exc, "response", None)
        reason = f"HTTP {response.status_code}" if response is not None else type(exc).__name__
        log.warning("notify: could not POST the %s summary to the webhook (%s)",
                    summary.status, reason)
        return False
    log.info("notify: %s summary of run %s sent to the webhook", summary.status, summary.run_id)
    return True


def _option(params: dict, name: str) -> Any:
    """A flow parameter, or a field of its ``options`` parameter (dict or dataclass)."""
    if params.get(name) is not None:
        return params[name]
    options = params.get("options")
    if isinstance(options, dict):
        return options.get(name)
    return getattr(options, name, None)


def failed_summary(run_id: str, flow: str, warehouse: str | None, error: str,
                   flow_run_url: str | None = None) -> Any:
    """The summary ``notify`` sends for a run that failed before it could count anything."""
    from types import SimpleNamespace

    from warehouse.connection import resolve

    return SimpleNamespace(run_id=run_id, status="failed", flow=flow,
                           warehouse=resolve(warehouse), counts={}, failed_tickers=[],
                           error=error, flow_run_url=flow_run_url)


def on_flow_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_failure`` / ``on_crashed`` hook: notify about a run that failed anywhere,
    even before it opened the warehouse (a lock held by another run, a missing snapshot
    folder) or when its process was killed. ``@flow(on_failure=[on_flow_failure],
    on_crashed=[on_flow_failure])``; the URL is the run's ``notify`` option or the env var."""
    params = dict(getattr(flow_run, "parameters", None) or {})
    message = (getattr(state, "message", None) or getattr(state, "name", "") or "").strip()
    summary = failed_summary(flow_run.name, flow.name, _option(params, "warehouse"),
                             message.splitlines()[0] if message else "the flow run failed",
                             _flow_run_url(flow_run.id))
    notify(_option(params, "notify"), summary)
