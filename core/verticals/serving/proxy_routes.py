"""Answering an OpenAI request through a vLLM backend: plain or streamed, metered either way."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import ClientResponse
from fastapi.responses import JSONResponse, Response

from verticals.serving.backends import Unavailable
from verticals.serving.backends.vllm_proxy import UpstreamError, Usage, VLLMBackend
from verticals.serving.errors import APIError, error_body
from verticals.serving.gateway import Gateway, unavailable
from verticals.serving.metering import RequestContext
from verticals.serving.relay import RelayResponse, Write

CLIENT_CLOSED = 499  # nginx's code for "the client went away": billed for the tokens it received


async def proxy(
    gw: Gateway,
    ctx: RequestContext,
    backend: VLLMBackend,
    path: str,
    body: dict[str, Any],
    *,
    stream: bool,
    wants_usage: bool,
) -> Response:
    """Send ``body`` to ``path`` (e.g. ``/chat/completions``) on the vLLM ``backend`` and answer with its
    response, metered by the usage it reports; a stream is relayed event by event (``RelayResponse``) and
    metered when it ends or the client leaves.

    A non-streamed answer carries its price in ``x-verticals-cost-usd`` (USD). Raises APIError 503 while the
    backend is unavailable, and for an upstream error its 4xx status, else 502 (``upstream_error``).
    """
    rid = ctx.request_id
    sent = time.perf_counter()
    if not stream:
        try:
            data, usage, seconds = await backend.complete(path, body, rid)
            ctx.upstream_s = time.perf_counter() - sent
        except Unavailable as error:
            raise unavailable(error) from None
        except UpstreamError as error:
            raise APIError(
                error.status if 400 <= error.status < 500 else 502, error.message, code="upstream_error"
            ) from None
        cost = gw.meter.finish(
            ctx, 200, units_in=usage.prompt_tokens, units_out=usage.completion_tokens, compute_seconds=seconds
        )
        return JSONResponse(data, headers={"x-verticals-cost-usd": f"{cost:f}"})
    try:
        upstream = await backend.open_stream(path, body, rid)
        headers_s = time.perf_counter() - sent
    except Unavailable as error:
        raise unavailable(error) from None
    except UpstreamError as error:
        raise APIError(
            error.status if 400 <= error.status < 500 else 502, error.message, code="upstream_error"
        ) from None
    relay = _Stream(gw, ctx, backend, upstream, headers_s, wants_usage, body)
    ctx.abandon = relay.gone  # the middleware's backstop, should the response never run
    return RelayResponse(relay)


class _Stream:
    """One proxied vLLM stream: relayed as it comes, metered once the client has all of it."""

    def __init__(
        self,
        gw: Gateway,
        ctx: RequestContext,
        backend: VLLMBackend,
        upstream: ClientResponse,
        headers_s: float,
        wants_usage: bool,
        body: dict[str, Any],
    ) -> None:
        self.gw, self.ctx, self.backend, self.upstream = gw, ctx, backend, upstream
        self.headers_s = headers_s
        self.wants_usage = wants_usage
        self.usage = Usage(n=int(body.get("n") or 1), prompts=_prompts(body))
        self.status = 200

    async def relay(self, write: Write) -> bytes:
        usage = self.usage
        try:
            await self.backend.relay(
                self.upstream, self.ctx.request_id, usage, write, client_wants_usage=self.wants_usage
            )
        except Exception as error:
            # Mid-stream the status line is gone: the failure travels as an error event.
            self.status = 502
            message = f"the vLLM server failed mid-stream ({type(error).__name__}); retry the request"
            tail = b"data: " + json.dumps(error_body(502, message, code="upstream_error")).encode() + b"\n\n"
        else:
            tail = usage.final_chunk + b"data: [DONE]\n\n"
        self.ctx.finished = time.perf_counter()  # the tail goes out now, without waiting
        return tail

    async def ended(self) -> None:
        # The client already has the whole body; its latency ends there, not after this bookkeeping.
        self._meter(self.status)
        if self.status == 200:
            await self.backend.release(self.upstream)

    async def gone(self) -> None:
        self.upstream.close()  # aborts the request in vLLM, if the relay has not already
        self._meter(CLIENT_CLOSED)

    def _meter(self, status: int) -> None:
        ctx, usage = self.ctx, self.usage
        if ctx.recorded:
            return
        if usage.first_event_at is not None:
            ctx.ttft_ms = (usage.first_event_at - ctx.started) * 1000
        ctx.upstream_s = self.headers_s + usage.waited_s
        self.gw.meter.finish(
            ctx,
            status,
            units_in=usage.prompt_tokens,
            units_out=usage.completion_tokens,
            compute_seconds=self.backend.end(ctx.request_id),
            bill=status in (200, CLIENT_CLOSED),
        )


def _prompts(body: dict[str, Any]) -> int:
    """How many prompts a request has: a list of them in /v1/completions, else one."""
    prompt = body.get("prompt")
    return len(prompt) if isinstance(prompt, list) else 1
