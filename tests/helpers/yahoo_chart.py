"""FakeYahoo: Yahoo's chart endpoint as yfinance sees it through curl_cffi (shared by the
daily and the hourly Yahoo source tests)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
from yahoo_http import handshake, response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "yahoo"
FETCHED_AT = datetime(2025, 1, 28, 22, 0, tzinfo=UTC)
TOO_MANY = (FIXTURES / "too_many_requests.txt").read_bytes()


def chart(name: str) -> dict:
    return json.loads((FIXTURES / f"chart_{name}.json").read_text())


def epoch(local: str, tz: str = "America/New_York") -> int:
    return int(pd.Timestamp(local, tz=tz).timestamp())


def _cut(result: dict, keep: list[int]) -> None:
    """Keep only bars ``keep`` of a chart result, as the server does for a time window."""
    if not keep:  # Yahoo's answer for a window without bars: meta only, empty indicators
        result.pop("timestamp", None)
        result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        return
    result["timestamp"] = [result["timestamp"][i] for i in keep]
    series = [result["indicators"]["quote"][0]]
    series += [a for a in result["indicators"].get("adjclose", [])]
    for block in series:
        for key, values in block.items():
            block[key] = [values[i] for i in keep]


class FakeYahoo:
    """Yahoo's servers as yfinance sees them through curl_cffi."""

    def __init__(self) -> None:
        self.charts: dict[str, dict] = {}  # symbol -> whole chart document
        #: symbol -> responses served first, one per chart request; None = serve normally
        self.script: dict[str, list[tuple[int, bytes] | None]] = {}
        self.log: list[tuple[str, dict, int]] = []  # (url, params, status) of every request
        self.unexpected: list[str] = []

    def chart_log(self, symbol: str) -> list[tuple[dict, int]]:
        return [(p, s) for url, p, s in self.log if url.endswith(f"/v8/finance/chart/{symbol}")]

    def __call__(self, method: str, url: str, params: dict | None = None, **_: object):
        params = dict(params or {})
        parts = urlsplit(url)
        if parts.path.startswith("/v8/finance/chart/"):
            status, body = self._chart(unquote(parts.path.rsplit("/", 1)[-1]), params)
        elif step := handshake(parts):
            _, status, body = step
        else:
            self.unexpected.append(f"{method} {url}")
            status, body = 404, b"not faked"
        self.log.append((url, params, status))
        return response(url, status, body)

    def _chart(self, symbol: str, params: dict) -> tuple[int, bytes]:
        queue = self.script.get(symbol)
        if queue:
            scripted = queue.pop(0)
            if scripted is not None:
                return scripted
        if symbol not in self.charts:
            return 404, (FIXTURES / "chart_not_found.json").read_bytes()
        doc = copy.deepcopy(self.charts[symbol])
        result = doc["chart"]["result"][0]
        stamps = result["timestamp"]
        if "period1" in params:
            keep = [i for i, t in enumerate(stamps) if params["period1"] <= t < params["period2"]]
            lo, hi = params["period1"], params["period2"]
        else:  # range=1d: yfinance's time-zone lookup; the server sends the latest bar
            keep = [len(stamps) - 1]
            lo = hi = 0
        _cut(result, keep)
        for kind, events in result.get("events", {}).items():  # events of the window only
            result["events"][kind] = {k: e for k, e in events.items() if lo <= e["date"] < hi}
        return 200, json.dumps(doc).encode()
