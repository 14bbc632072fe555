"""A proxied vLLM stream as an ``Answer``: relayed event by event, metered once when it ends.

Its price is not known when the headers go out, so a stream carries no ``x-verticals-cost-usd``;
its usage (and with ``stream_options.include_usage`` its final usage chunk) is metered when the
client has the whole body, or, if the client leaves, for the tokens it received.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import ClientResponse
from starlette.responses import Response

from verticals.serving.backends.vllm.relay import RelayResponse, Write
from verticals.serving.backends.vllm.upstream import Usage, VLLMClient
from verticals.serving.calls import Answer, Call
from verticals.serving.errors import error_body

CLIENT_CLOSED = 499  # nginx's code for "the client went away": billed for the tokens it received


class Relayed(Answer):
    """One proxied vLLM stream: ``upstream`` is the open response of ``client``, whose headers came after
    ``headers_s`` seconds; ``body`` is the request sent (its ``n`` and prompts split the usage by choice).
    """

    def __init__(
        self,
        client: VLLMClient,
        upstream: ClientResponse,
        headers_s: float,
        body: dict[str, Any],
        *,
        include_usage: bool,
    ) -> None:
        self.client, self.upstream = client, upstream
        self.headers_s = headers_s
        self.include_usage = include_usage
        self.usage = Usage(n=int(body.get("n") or 1), prompts=_prompts(body))
        self.status = 200
        self.call: Call | None = None

    async def respond(self, call: Call) -> Response:
        """A ``RelayResponse`` driving this stream; metered when it ends, or when the client goes away."""
        self.call = call
        call.ctx.abandon = self.gone  # the middleware's backstop, should the response never run
        return RelayResponse(self)

    async def relay(self, write: Write) -> bytes:
        """Relay the upstream events to ``write``; the last bytes: the usage chunk and ``[DONE]``, or an
        error event when the server failed mid-stream (the status line is gone by then)."""
        try:
            rid, wants = self._ctx().request_id, self.include_usage
            await self.client.relay(self.upstream, rid, self.usage, write, client_wants_usage=wants)
        except Exception as error:
            self.status = 502
            message = f"the vLLM server failed mid-stream ({type(error).__name__}); retry the request"
            tail = b"data: " + json.dumps(error_body(502, message, code="upstream_error")).encode() + b"\n\n"
        else:
            tail = self.usage.final_chunk + b"data: [DONE]\n\n"
        self._ctx().finished = time.perf_counter()  # the tail goes out now, without waiting
        return tail

    async def ended(self) -> None:
        """The client has the whole body: meter (its latency ended at the last byte), then return the
        connection to the pool."""
        await self._meter(self.status)
        if self.status == 200:
            await self.client.release(self.upstream)

    async def gone(self) -> None:
        """The client went away: abort the request in vLLM and bill the tokens it received."""
        self.upstream.close()  # aborts the request in vLLM, if the relay has not already
        await self._meter(CLIENT_CLOSED)

    def _ctx(self) -> Any:
        assert self.call is not None, "respond() was not called"
        return self.call.ctx

    async def _meter(self, status: int) -> None:
        call, usage = self.call, self.usage
        assert call is not None
        ctx = call.ctx
        if ctx.recorded:
            return
        if usage.first_event_at is not None:
            ctx.ttft_ms = (usage.first_event_at - ctx.started) * 1000
        ctx.upstream_s = self.headers_s + usage.waited_s
        await call.meter.finish(
            ctx,
            status,
            units_in=usage.prompt_tokens,
            units_out=usage.completion_tokens,
            compute_seconds=self.client.end(ctx.request_id),
            bill=status in (200, CLIENT_CLOSED),
        )


def _prompts(body: dict[str, Any]) -> int:
    """How many prompts a request has: a list of them in /v1/completions, else one."""
    prompt = body.get("prompt")
    return len(prompt) if isinstance(prompt, list) else 1
