"""Answering an OpenAI request through a vLLM backend: plain or streamed, metered either way."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

from verticals.serving.backends import Unavailable
from verticals.serving.backends.vllm_proxy import UpstreamError, Usage, VLLMBackend
from verticals.serving.errors import APIError, error_body
from verticals.serving.gateway import Gateway, unavailable
from verticals.serving.metering import RequestContext

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
    usage = Usage()

    def meter(status: int) -> None:
        seconds = backend.end(rid)
        ctx.upstream_s = headers_s + usage.waited_s
        gw.meter.finish(
            ctx,
            status,
            units_in=usage.prompt_tokens,
            units_out=usage.completion_tokens,
            compute_seconds=seconds,
            bill=status in (200, CLIENT_CLOSED),
        )

    async def abandon() -> None:
        if not ctx.recorded:
            meter(CLIENT_CLOSED)
        upstream.close()

    ctx.abandon = abandon

    async def events() -> AsyncIterator[bytes]:
        try:
            async with aclosing(
                backend.chunks(upstream, rid, usage, client_wants_usage=wants_usage)
            ) as chunks:
                async for chunk in chunks:
                    if ctx.ttft_ms is None:
                        ctx.ttft_ms = (time.perf_counter() - ctx.started) * 1000
                    yield chunk
        except (asyncio.CancelledError, GeneratorExit):
            meter(CLIENT_CLOSED)
            raise
        except Exception as error:
            # Mid-stream the status line is gone: the failure travels as an error event.
            meter(502)
            message = f"the vLLM server failed mid-stream ({type(error).__name__}); retry the request"
            yield b"data: " + json.dumps(error_body(502, message, code="upstream_error")).encode() + b"\n\n"
            return
        # Metered before the usage chunk and [DONE], so the event exists by the time the client has
        # the whole answer.
        meter(200)
        yield usage.final_chunk + b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
