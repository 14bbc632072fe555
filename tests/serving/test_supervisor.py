"""The supervisor's health checks against a real HTTP server standing in for vLLM."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from verticals.serving.supervisor import Supervisor


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def healthy_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
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


def test_health_checks_do_not_stall_the_event_loop(healthy_url: str) -> None:
    """Every request of the gateway shares this loop. Building an HTTP client per check loaded the
    TLS trust store each time (about 30 ms of CPU here): checks 5 ms apart left the loop no time."""

    async def main() -> tuple[int, float, Supervisor]:
        supervisor = Supervisor("nlp/chat", lambda: Running(healthy_url), check_interval_s=0.005)
        await supervisor.start()
        ticks = 0
        longest = 0.0
        last = time.monotonic()
        deadline = last + 1.0
        while last < deadline:
            await asyncio.sleep(0.001)
            now = time.monotonic()
            ticks, longest, last = ticks + 1, max(longest, now - last), now
        ready = supervisor.ready
        await supervisor.stop()
        assert ready, "the health checks failed against a healthy server"
        return ticks, longest, supervisor

    gc.disable()  # a full collection of the test process's heap would be blamed on the supervisor
    try:
        ticks, longest, supervisor = asyncio.run(main())
    finally:
        gc.enable()
    assert supervisor.restarts == 0
    assert ticks > 450, f"the loop ran {ticks} 1 ms ticks in a second: the health checks block it"
    # Not even the first check may build the client: that alone stopped the loop for 44-48 ms here.
    assert longest < 0.02, f"the loop stood still for {longest * 1000:.1f} ms"
