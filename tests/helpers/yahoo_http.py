"""yfinance's HTTP boundary, the parts every Yahoo fake shares: a curl_cffi ``Response`` built
from a status and a body, and the handshake yfinance makes before any data request (cookie,
crumb, consent page). Each fake (prices, reference data, news) serves its own data endpoints
and keeps its own request log; ``tests/conftest.py`` installs a fake on the wire.
Importable from any test as ``yahoo_http`` (pytest's ``pythonpath`` has tests/helpers)."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import SplitResult

from curl_cffi.requests.models import Response


def response(url: str, status: int, body: bytes) -> Response:
    """What curl_cffi hands yfinance: status, reason, body."""
    answer = Response()
    answer.url = url
    answer.status_code = status
    answer.reason = HTTPStatus(status).phrase
    answer.ok = status < 400
    answer.content = body
    return answer


def handshake(parts: SplitResult) -> tuple[str, int, bytes] | None:
    """``(step, status, body)`` when ``parts`` is one of yfinance's handshake requests: the
    cookie bootstrap (fc.yahoo.com, whose 404 yfinance ignores), the crumb, and the consent
    page of its other cookie strategy (tried after a 4xx). None for any other request."""
    if parts.hostname == "fc.yahoo.com":
        return "cookie", 404, b""
    if parts.path == "/v1/test/getcrumb":
        return "crumb", 200, b"Fake.Crumb"
    if parts.hostname == "guce.yahoo.com":
        return "consent", 200, b"<html><body>no consent form here</body></html>"
    return None
