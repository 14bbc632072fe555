"""The vLLM backend's connection pool: idle connections go before the server drops them (vLLM: after
5 s), and a request on a connection the server closed under it is sent again on a fresh one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from verticals.serving.backends import Unavailable
from verticals.serving.backends.vllm.proxy import VLLMBackend
from verticals.serving.backends.vllm.upstream import UPSTREAM_KEEPALIVE_S

from .conftest import VLLM_SPEC

VLLM_KEEPALIVE_S = 5.0  # vLLM's VLLM_HTTP_TIMEOUT_KEEP_ALIVE default


@contextlib.asynccontextmanager
async def _backend_before_a_server(drop: str = "none") -> AsyncIterator[tuple[VLLMBackend, list[int]]]:
    """A url VLLMBackend in front of a stand-in server with vLLM's keep-alive, and the client port of
    every request the server saw. The server closes the connection without answering ``drop``:
    "none", a connection's second request ("reused": a keep-alive race), or every request ("all")."""
    ports: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        assert request.transport is not None
        port = request.transport.get_extra_info("peername")[1]
        if drop == "all" or (drop == "reused" and port in ports):
            request.transport.close()
        ports.append(port)
        usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        return web.json_response({"object": "chat.completion", "choices": [], "usage": usage})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, keepalive_timeout=VLLM_KEEPALIVE_S)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    backend = VLLMBackend(VLLM_SPEC, base_url=f"http://127.0.0.1:{runner.addresses[0][1]}/v1")
    await backend.start()
    try:
        yield backend, ports
    finally:
        await backend.stop()
        await runner.cleanup()


async def _client_ports(pauses: list[float]) -> list[int]:
    """One completion per pause (after it); returns the client port each request came from."""
    async with _backend_before_a_server() as (backend, ports):
        for index, pause in enumerate(pauses):
            await asyncio.sleep(pause)
            await backend.post("/chat/completions", {"messages": []}, f"req_{index}")
    return ports


def test_a_busy_connection_is_reused() -> None:
    ports = asyncio.run(_client_ports([0.0, 0.1, 0.1]))
    assert len(set(ports)) == 1, ports


def test_a_connection_is_not_reused_when_the_server_may_be_closing_it() -> None:
    # A request sent on a connection as the server closes it fails with a reset (a 503 from a
    # gateway whose vLLM is an external url): the pool must let it go before the server does.
    assert UPSTREAM_KEEPALIVE_S < VLLM_KEEPALIVE_S
    ports = asyncio.run(_client_ports([0.0, UPSTREAM_KEEPALIVE_S + 0.5]))
    assert ports[0] != ports[1], "the idle connection was reused after the pool's keep-alive"


async def _through_a_server_that_drops(drop: str, requests: int) -> tuple[list[int], list[str]]:
    """``requests`` completions one after another; the ports the server saw and each one's outcome."""
    outcomes: list[str] = []
    async with _backend_before_a_server(drop) as (backend, ports):
        for index in range(requests):
            try:
                _, usage, _ = await backend.post("/chat/completions", {"messages": []}, f"r{index}")
                outcomes.append(f"ok {usage.prompt_tokens:g}+{usage.completion_tokens:g}")
            except Unavailable as error:
                outcomes.append(str(error))
    return ports, outcomes


def test_a_request_on_a_connection_the_server_closed_is_sent_again_on_a_fresh_one() -> None:
    ports, outcomes = asyncio.run(_through_a_server_that_drops("reused", 3))
    assert outcomes == ["ok 3+1"] * 3
    # each reused connection was dropped and the request went again on a new one
    assert len(ports) == 5 and len(set(ports)) == 3, ports


def test_a_server_that_drops_every_request_gets_it_twice_then_a_503() -> None:
    ports, outcomes = asyncio.run(_through_a_server_that_drops("all", 1))
    assert len(ports) == 2, ports
    assert len(outcomes) == 1 and "is unreachable" in outcomes[0], outcomes
