"""A bug that raises after the response started: logged once, under the request id, and the
client's connection is closed rather than left with a body that looks whole."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from verticals.serving.gateway import ServingOptions
from verticals.serving.middleware import GatewayMiddleware

from .conftest import ServerThread

PORT = 18233


async def fails_midway(scope: Scope, receive: Receive, send: Send) -> None:
    """Starts a chunked response, sends part of it, then hits a bug."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"part of it", "more_body": True})
    if scope["path"] == "/after-start":
        raise RuntimeError("a bug after the response started")
    await send({"type": "http.response.body", "body": b", the rest", "more_body": False})
    raise RuntimeError("a bug after the response was complete")


@pytest.fixture(scope="module")
def served() -> Any:
    gateway: Any = SimpleNamespace(options=ServingOptions(log_requests=False))
    server = ServerThread(GatewayMiddleware(fails_midway, gateway), PORT).start()
    yield server.url
    server.stop()


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.exc_info is not None]


def test_a_response_left_unfinished_is_cut_off_and_logged_once(
    served: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(httpx.RemoteProtocolError):
        httpx.get(served + "/after-start")
    [record] = _tracebacks(caplog)
    assert record.name == "verticals.serving" and "a bug after the response started" in str(record.exc_info)
    assert getattr(record, "request_id", "").startswith("req_")


def test_an_error_after_a_complete_response_is_logged_once(
    served: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = httpx.get(served + "/after-end")
        time.sleep(0.3)  # the client has the whole body before the server logs anything
    assert response.status_code == 200 and response.text == "part of it, the rest"
    [record] = _tracebacks(caplog)
    assert "a bug after the response was complete" in str(record.exc_info)
