"""Webhook notifications, against a real HTTP server on a loopback port."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flows.backfill import BackfillSummary
from flows.daily_refresh import RunSummary
from flows.notify import notify, payload


class Hook:
    """A local webhook that records what it receives and answers with ``status``."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                hook.headers.append(dict(self.headers))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secret-token"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def partial_run() -> RunSummary:
    return RunSummary(run_id="20250128T223000-abcd1234", status="partial",
                      warehouse="data/aftershock.duckdb",
                      counts={"prices.extracted": 1200, "prices.inserted": 1180,
                              "prices.quarantined": 3, "marts.event_reaction": 5000},
                      failed_tickers=["8035.T", "NVDA"])


def test_partial_run_posts_a_slack_compatible_summary(hook):
    assert notify(hook.url, partial_run()) is True
    (body,) = hook.received
    assert hook.headers[0]["Content-Type"] == "application/json"
    assert body["text"].startswith(
        ":warning: Aftershock daily-refresh run 20250128T223000-abcd1234")
    assert "2 ticker(s) not fetched: 8035.T, NVDA" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"
    fields = {f["text"] for f in body["blocks"][1]["fields"]}
    assert "*prices.inserted*\n1,180" in fields
    machine = body["aftershock"]
    assert machine["status"] == "partial" and machine["flow"] == "daily-refresh"
    assert machine["failed_tickers"] == ["8035.T", "NVDA"]
    assert machine["counts"]["marts.event_reaction"] == 5000


def test_failed_run_carries_the_error(hook):
    summary = RunSummary(run_id="r9", status="failed", warehouse="w.duckdb")
    assert notify(hook.url, summary, error="WarehouseError: warehouse w.duckdb is in use")
    body = hook.received[0]
    assert body["text"].startswith(":x: Aftershock daily-refresh run r9: failed")
    assert "error: WarehouseError: warehouse w.duckdb is in use" in body["text"]
    assert body["aftershock"]["error"] == "WarehouseError: warehouse w.duckdb is in use"


def test_backfill_summary_names_its_flow(hook):
    summary = BackfillSummary(run_id="b1", status="failed", warehouse="w", error="boom")
    assert notify(hook.url, summary)
    assert hook.received[0]["aftershock"]["flow"] == "backfill"
    assert hook.received[0]["aftershock"]["error"] == "boom"


def test_success_is_quiet(hook):
    summary = RunSummary(run_id="r1", status="success", warehouse="w")
    assert notify(hook.url, summary) is False
    assert hook.received == []


def test_url_from_environment(hook, monkeypatch):
    monkeypatch.setenv("AFTERSHOCK_NOTIFY_URL", hook.url)
    assert notify(None, partial_run()) is True
    assert len(hook.received) == 1


def test_no_url_no_request(monkeypatch):
    monkeypatch.delenv("AFTERSHOCK_NOTIFY_URL", raising=False)
    assert notify(None, partial_run()) is False


def test_webhook_errors_never_fail_the_run_nor_leak_the_url(hook, caplog):
    hook.status = 500
    with caplog.at_level(logging.WARNING, logger="aftershock.notify"):
        assert notify(hook.url, partial_run()) is False
    assert "HTTP 500" in caplog.text
    assert "secret-token" not in caplog.text
    dead = hook.url.replace(str(hook.server.server_port), "9")  # discard port: refused
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aftershock.notify"):
        assert notify(dead, partial_run(), timeout=2) is False
    assert "ConnectionError" in caplog.text and "secret-token" not in caplog.text


def test_payload_is_json_serialisable():
    json.dumps(payload(partial_run()))


def test_failure_hook_notifies_with_the_flow_run(hook, monkeypatch):
    """The on_failure/on_crashed hook (also for failures before a run opened the warehouse)."""
    from types import SimpleNamespace
    from uuid import uuid4

    from flows.backfill import backfill
    from flows.daily_refresh import RunOptions
    from flows.notify import on_flow_failure

    assert on_flow_failure in backfill.on_failure_hooks
    assert on_flow_failure in backfill.on_crashed_hooks
    flow = SimpleNamespace(name="backfill")
    run = SimpleNamespace(name="black-loon", id=uuid4(),
                          parameters={"warehouse": "w.duckdb", "notify": hook.url})
    state = SimpleNamespace(message="WarehouseError: warehouse w.duckdb is in use by another "
                                    "process (held by PID 42)\nmore detail", name="Failed")
    on_flow_failure(flow, run, state)
    machine = hook.received[0]["aftershock"]
    assert (machine["flow"], machine["run_id"], machine["status"]) == ("backfill", "black-loon",
                                                                       "failed")
    assert machine["error"] == "WarehouseError: warehouse w.duckdb is in use by another " \
                               "process (held by PID 42)"
    assert machine["warehouse"] == "w.duckdb"
    # the daily flow's parameters: one `options` (a dataclass in-process, a dict from the API)
    monkeypatch.setenv("AFTERSHOCK_NOTIFY_URL", hook.url)
    daily = SimpleNamespace(name="daily-refresh")
    for options in (RunOptions(warehouse="d.duckdb"), {"warehouse": "d.duckdb"}):
        on_flow_failure(daily, SimpleNamespace(name="r", id=uuid4(),
                                               parameters={"options": options}), state)
    assert [b["aftershock"]["warehouse"] for b in hook.received[1:]] == ["d.duckdb"] * 2


def test_daily_run_failing_before_the_warehouse_opens_notifies_once(hook, tmp_path):
    """The daily flow carries the hooks: a run that cannot even start (here: a snapshot
    folder that does not exist) is reported, with the error, exactly once."""
    from flows.daily_refresh import RunOptions, daily_refresh
    from flows.notify import on_flow_failure
    from sources.base import SourceError

    assert on_flow_failure in daily_refresh.on_failure_hooks
    assert on_flow_failure in daily_refresh.on_crashed_hooks
    warehouse = tmp_path / "w.duckdb"
    options = RunOptions(source="snapshot", snapshot_dir=str(tmp_path / "missing"),
                         warehouse=str(warehouse), notify=hook.url, news=False, publish=False)
    with pytest.raises(SourceError, match="missing"):
        daily_refresh(options)
    assert len(hook.received) == 1
    machine = hook.received[0]["aftershock"]
    assert (machine["flow"], machine["status"]) == ("daily-refresh", "failed")
    assert "missing" in machine["error"] and machine["warehouse"] == str(warehouse)
    assert not warehouse.exists()  # it failed before opening the warehouse


def test_daily_run_with_an_unknown_model_fails_before_it_fetches(hook, tmp_path):
    """A deployment's or an API caller's parameters skip the CLI's checks: the flow itself
    refuses the model, with the CLI's wording, before any source or the warehouse is touched."""
    from contracts import ContractError
    from flows.daily_refresh import RunOptions, daily_refresh

    warehouse = tmp_path / "w.duckdb"
    options = RunOptions(source="snapshot", snapshot_dir=str(tmp_path / "missing"),
                         model="capm", warehouse=str(warehouse), notify=hook.url,
                         news=False, publish=False)
    with pytest.raises(ContractError, match=r"unknown model 'capm': market, market_adjusted "
                                            r"or mean_adjusted"):
        daily_refresh(options)
    # the model is refused before the (missing) snapshot folder would have been noticed
    assert "capm" in hook.received[0]["aftershock"]["error"]
    assert not warehouse.exists()
