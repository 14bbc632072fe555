"""The vLLM stream relay on its own, against a real server that splits events at awkward bytes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import web

from verticals.serving.backends.vllm.proxy import VLLMBackend
from verticals.serving.backends.vllm.upstream import Usage

from .conftest import VLLM_SPEC


def _event(choices: list[Any], completion: int, model: str) -> bytes:
    usage = {"prompt_tokens": 7, "total_tokens": 7 + completion, "completion_tokens": completion}
    data = {"id": "c", "object": "chat.completion.chunk", "model": model, "choices": choices, "usage": usage}
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _stream(model: str, tokens: int) -> bytes:
    body = b"".join(
        _event([{"index": 0, "delta": {"content": f"t{i}"}}], i + 1, model) for i in range(tokens)
    )
    return body + _event([], tokens, model) + b"data: [DONE]\n\n"


async def _serve(body: bytes, piece: int, pause: float = 0.0) -> tuple[web.AppRunner, str]:
    """A server that sends ``body`` in ``piece``-byte writes, flushed one by one, ``pause`` s apart."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(body), piece):
            await response.write(body[start : start + piece])
            await asyncio.sleep(pause)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/v1"


async def _relay(
    piece: int, *, served_name: str, wants_usage: bool, pause: float = 0.0
) -> tuple[list[bytes], Usage, float]:
    runner, url = await _serve(_stream(served_name, 5), piece, pause)
    backend = VLLMBackend(VLLM_SPEC, base_url=url, served_name=served_name)
    await backend.start()
    try:
        usage = Usage()
        response = await backend.open_stream("/chat/completions", {"messages": []}, "req-1")
        writes: list[bytes] = []

        async def write(data: bytes) -> None:
            writes.append(data)

        await backend.relay(response, "req-1", usage, write, client_wants_usage=wants_usage)
        await backend.release(response)
        return writes, usage, backend.end("req-1")
    finally:
        await backend.stop()
        await runner.cleanup()


@pytest.mark.parametrize("piece", [1, 7, 64, 100_000])
def test_events_split_anywhere_are_relayed_whole(piece: int) -> None:
    writes, usage, _ = asyncio.run(_relay(piece, served_name="served", wants_usage=True))
    events = b"".join(writes).split(b"\n\n")
    assert events[-1] == b""
    decoded = [json.loads(event.removeprefix(b"data: ")) for event in events[:-1]]
    assert [d["choices"][0]["delta"]["content"] for d in decoded] == [f"t{i}" for i in range(5)]
    assert all(d["usage"] is None for d in decoded)  # continuous usage is the gateway's, not the client's
    assert {d["model"] for d in decoded} == {"nlp/chat"}  # the served name is replaced by ours
    final = json.loads(usage.final_chunk.removeprefix(b"data: "))
    assert final["choices"] == [] and final["usage"]["completion_tokens"] == 5
    assert final["model"] == "nlp/chat"
    assert (usage.prompt_tokens, usage.completion_tokens) == (7, 5)
    if piece == 100_000:  # everything arrived in one read: one write to the client
        assert len(writes) == 1


def test_usage_chunk_is_dropped_when_the_client_did_not_ask() -> None:
    writes, usage, _ = asyncio.run(_relay(64, served_name="nlp/chat", wants_usage=False))
    assert usage.final_chunk == b""
    assert b'"choices": []' not in b"".join(writes)
    assert usage.completion_tokens == 5


def test_time_waiting_on_the_server_is_counted_as_the_servers() -> None:
    # The gateway's overhead metric is latency minus this wait: a slow server must not look like a
    # slow gateway. The server pauses 20 ms between 200-byte writes. How much of that the relay
    # counts depends on the machine's load: tests/bench/bench_timing.py measures it.
    started = time.perf_counter()
    _, usage, _ = asyncio.run(_relay(200, served_name="nlp/chat", wants_usage=True, pause=0.02))
    elapsed = time.perf_counter() - started
    assert 0 < usage.waited_s <= elapsed
