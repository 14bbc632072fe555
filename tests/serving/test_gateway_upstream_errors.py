"""A gateway whose vLLM `url` points at something that is not an OpenAI-compatible server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from verticals.serving.backends.vllm.proxy import VLLMBackend

from .conftest import start_gateway

GATEWAY_PORT = 18231


class NotOpenAI(BaseHTTPRequestHandler):
    """Answers every POST 200 with a web page, as a wrong `url` (a dashboard, a proxy login) does."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        page = b"<html><body>Sign in</body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: Any) -> None:
        pass


class Broken(VLLMBackend):
    """A backend with a bug: the gateway must answer 500 and log it under the request id."""

    async def post(self, path: str, body: dict[str, Any], request_id: str) -> Any:
        raise RuntimeError("a bug in a backend")


@pytest.fixture(scope="module")
def not_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture(scope="module")
def gateway(not_openai: str, tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Any]:
    from verticals.registry import Registry

    registry = Registry.load()
    if "nlp/chat" not in registry.models or "echo/chat" not in registry.models:
        pytest.skip("needs the verticals-nlp plugin")
    backends = {
        "nlp/chat": VLLMBackend(registry.model("nlp/chat"), base_url=not_openai),
        # any model name will do for the broken one: the route calls whichever backend it has
        "echo/chat": Broken(registry.model("echo/chat"), base_url=not_openai),
    }
    server, running = start_gateway(
        tmp_path_factory.mktemp("upstream-errors"),
        GATEWAY_PORT,
        models=("nlp/chat", "echo/chat"),
        settings_overrides={"model_cache": model_cache},
        backends=backends,
    )
    yield running
    server.stop()


def chat(gateway: Any, model: str) -> httpx.Response:
    key = gateway.customer(f"upstream-{model.replace('/', '-')}")
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
    )


def test_an_answer_that_is_not_json_is_a_502_that_names_the_url(gateway: Any, not_openai: str) -> None:
    response = chat(gateway, "nlp/chat")
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_error"
    assert "not JSON" in error["message"] and not_openai in error["message"]
    [event] = gateway.events(request_id=response.headers["x-request-id"])
    assert event["status"] == 502 and event["revenue_usd"] == 0


def test_an_unhandled_error_is_logged_under_the_request_id(
    gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="verticals.serving"):
        response = chat(gateway, "echo/chat")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    request_id = response.headers["x-request-id"]
    [record] = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert record.exc_info is not None and "a bug in a backend" in str(record.exc_info[1])
