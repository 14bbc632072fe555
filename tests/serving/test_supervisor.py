"""The supervisor's health checks against a real HTTP server standing in for vLLM."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from verticals.serving.backends.vllm.supervisor import Supervisor


class Health(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the connection open: a client that is reused sends every check on one of them.
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.checks.append(self.client_address)  # type: ignore[attr-defined]
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    """A /health server that records the client address (host, port) of every check it answers."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    server.checks = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


class Running:
    """A server that is up from the start: the supervisor only watches it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def start(self) -> None:
        pass

    def wait_ready(self, timeout: float) -> None:
        pass

    def stop(self) -> None:
        pass

    def is_alive(self) -> bool:
        return True


def test_health_checks_share_one_client_built_before_the_first_check(
    health_server: ThreadingHTTPServer,
) -> None:
    """Every request of the gateway shares the event loop. Building an HTTP client loads the TLS
    trust store (about 30 ms of CPU) on it: one was built per check, then lazily at the first check,
    with requests in flight. How long the loop stalls is measured in tests/bench/bench_timing.py."""
    checks: list[tuple[str, int]] = health_server.checks  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{health_server.server_address[1]}/v1"

    async def main() -> Supervisor:
        supervisor = Supervisor("nlp/chat", lambda: Running(url), check_interval_s=0.005)
        await supervisor.start()
        client = supervisor._http
        assert client is not None, "no client before the first check: that check would build it"
        assert checks == []
        deadline = time.monotonic() + 60  # a bounded wait for 20 checks, not a speed requirement
        while len(checks) < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        assert supervisor._http is client
        assert supervisor.ready, "the health checks failed against a healthy server"
        await supervisor.stop()
        return supervisor

    supervisor = asyncio.run(main())
    assert len(checks) >= 20
    assert len(set(checks)) == 1, f"{len(set(checks))} connections for {len(checks)} checks: not one client"
    assert supervisor.restarts == 0


def test_a_stop_the_gateway_asks_for_is_no_warning(
    health_server: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """At Ctrl-C, `make up` ended with "WARNING vLLM server for nlp/chat is down: stopped": the gateway's
    own shutdown, reported as a fault on the terminal. It is an INFO line (in gateway.log) now."""
    url = f"http://127.0.0.1:{health_server.server_address[1]}/v1"

    async def main() -> None:
        supervisor = Supervisor("nlp/chat", lambda: Running(url), check_interval_s=0.05)
        await supervisor.start()
        assert supervisor.ready
        await supervisor.stop()

    with caplog.at_level("INFO", logger="verticals.serving"):
        asyncio.run(main())
    down = [r for r in caplog.records if "is down" in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in down] == [
        ("INFO", "vLLM server for nlp/chat is down: stopped")
    ]
