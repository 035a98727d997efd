"""Open a report page in headless Chromium and report what a person would see.

Speaks the Chrome DevTools Protocol over a websocket (the ``websockets`` package Prefect
already brings), so no browser-automation framework or browser download is needed: Debian's
``chromium`` is enough. Used by the report tests and by ``aftershock report --screenshot``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from websockets.sync.client import connect as ws_connect

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


class BrowserError(RuntimeError):
    """Chromium is missing or the page could not be loaded."""


def find_chromium() -> str | None:
    """Path of a Chromium binary ($AFTERSHOCK_CHROMIUM, else the first on PATH)."""
    explicit = os.environ.get("AFTERSHOCK_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@dataclass
class PageResult:
    """What loading a page showed."""

    url: str
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    charts: dict[str, str] = field(default_factory=dict)  # chart key -> ok / error / pending
    svg_marks: int = 0  # drawn Vega marks
    screenshot: bytes | None = None
    probe: object = None  # result of the caller's JS expression


class _Session:
    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        msg_id = next(self.ids)
        message = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=0.05)))
            except TimeoutError:
                pass


CHART_STATE_JS = """
JSON.stringify({
  charts: Object.fromEntries([...document.querySelectorAll('[data-chart]')]
      .map(el => [el.dataset.chart, el.dataset.rendered || 'pending'])),
  marks: document.querySelectorAll('[data-chart] svg .mark-rect path, [data-chart] svg path,'
      + ' [data-chart] svg text').length
})
"""


def load_page(url: str, *, width: int = 1280, height: int = 900, full_page: bool = True,
              clip_selector: str | None = None, probe_js: str | None = None,
              max_height: int = 12000, timeout: float = 60) -> PageResult:
    """Load ``url`` in headless Chromium, wait for every chart, and take a screenshot.

    The screenshot is the whole page (``full_page``), the viewport, or the first element
    matching ``clip_selector``.
    """
    binary = find_chromium()
    if binary is None:
        raise BrowserError("no Chromium found (apt-get install chromium, or $AFTERSHOCK_CHROMIUM)")
    profile = tempfile.mkdtemp(prefix="aftershock-chromium-")
    proc = subprocess.Popen(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--remote-debugging-port=0", f"--user-data-dir={profile}",
         f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        ws_url = _devtools_url(proc, timeout=30)
        with ws_connect(ws_url, max_size=None, open_timeout=30) as ws:
            return _drive(_Session(ws), url, width, height, full_page, clip_selector,
                          probe_js, max_height, timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_url(proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.strip())
        found = re.search(r"DevTools listening on (ws://\S+)", line)
        if found:
            return found.group(1)
    raise BrowserError("Chromium did not start: " + " | ".join(lines[-5:]))


def _drive(s: _Session, url: str, width: int, height: int, full_page: bool,
           clip_selector: str | None, probe_js: str | None, max_height: int,
           timeout: float) -> PageResult:
    target = s.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    sid = s.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        s.call(f"{domain}.enable", session=sid)
    s.call("Emulation.setDeviceMetricsOverride",
           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
           session=sid)
    s.events.clear()
    s.call("Page.navigate", {"url": url}, session=sid)
    result = PageResult(url=url)
    deadline = time.monotonic() + timeout
    loaded = False
    while time.monotonic() < deadline:
        s.pump(0.2)
        loaded = loaded or any(e.get("method") == "Page.loadEventFired" for e in s.events)
        if not loaded:
            continue
        state = json.loads(_eval(s, sid, CHART_STATE_JS))
        result.charts, result.svg_marks = state["charts"], state["marks"]
        if all(v != "pending" for v in result.charts.values()):
            break
    s.pump(0.3)  # late console messages
    if probe_js:
        result.probe = _eval(s, sid, probe_js)
    result.errors, result.requests = _problems(s.events)
    if not loaded:
        result.errors.append(f"page did not finish loading in {timeout:g} s")
    shot: dict = {"format": "png"}
    if clip_selector:
        rect = json.loads(_eval(s, sid, (
            "(() => { const r = document.querySelector(" + json.dumps(clip_selector) + ")"
            ".getBoundingClientRect(); return JSON.stringify({x: r.left + scrollX,"
            " y: r.top + scrollY, width: r.width, height: r.height}); })()")))
        shot["clip"] = {**rect, "scale": 1}
        shot["captureBeyondViewport"] = True
    elif full_page:
        metrics = s.call("Page.getLayoutMetrics", session=sid)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot["clip"] = {"x": 0, "y": 0, "width": max(width, size["width"]),
                        "height": min(size["height"], max_height), "scale": 1}
        shot["captureBeyondViewport"] = True
    result.screenshot = base64.b64decode(s.call("Page.captureScreenshot", shot,
                                                session=sid)["data"])
    return result


def _eval(s: _Session, sid: str, expression: str):
    reply = s.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                   session=sid)
    if "exceptionDetails" in reply:
        raise BrowserError(f"probe failed: {reply['exceptionDetails'].get('text')}")
    return reply["result"].get("value")


def _problems(events: list[dict]) -> tuple[list[str], list[str]]:
    errors, requests = [], []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console: " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append("exception: " + str(
                details.get("exception", {}).get("description") or details.get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append("log: " + params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            requests.append(params.get("request", {}).get("url", ""))
        elif method == "Network.loadingFailed":
            errors.append("load failed: " + params.get("errorText", ""))
    return errors, requests


# --- "is the screenshot blank?" without an imaging library ----------------------------------
def png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Decode an 8-bit, non-interlaced RGB/RGBA PNG (what Chromium writes) into rows."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError("only 8-bit non-interlaced RGB/RGBA PNGs are supported")
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def distinct_colors(data: bytes, step: int = 4) -> int:
    """How many distinct colors a PNG shows (sampling every ``step``-th pixel and row)."""
    width, height, bpp, rows = png_pixels(data)
    seen = set()
    for row in rows[::step]:
        for x in range(0, width, step):
            seen.add(row[x * bpp:x * bpp + 3])
    return len(seen)
