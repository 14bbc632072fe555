"""The vLLM backend's connection pool against a server that, like vLLM, drops idle connections after 5 s."""

from __future__ import annotations

import asyncio

from aiohttp import web

from verticals.serving.backends.vllm_proxy import UPSTREAM_KEEPALIVE_S, VLLMBackend

from .conftest import VLLM_SPEC

VLLM_KEEPALIVE_S = 5.0  # vLLM's VLLM_HTTP_TIMEOUT_KEEP_ALIVE default


async def _client_ports(pauses: list[float]) -> list[int]:
    """One completion per pause (after it); returns the client port each request came from."""
    ports: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        assert request.transport is not None
        ports.append(request.transport.get_extra_info("peername")[1])
        usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        return web.json_response({"object": "chat.completion", "choices": [], "usage": usage})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, keepalive_timeout=VLLM_KEEPALIVE_S)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    backend = VLLMBackend(VLLM_SPEC, base_url=f"http://127.0.0.1:{runner.addresses[0][1]}/v1")
    await backend.start()
    try:
        for index, pause in enumerate(pauses):
            await asyncio.sleep(pause)
            await backend.complete("/chat/completions", {"messages": []}, f"req_{index}")
    finally:
        await backend.stop()
        await runner.cleanup()
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
