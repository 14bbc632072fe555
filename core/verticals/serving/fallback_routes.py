"""Answering chat and completions with the transformers fallback (vllm models without vLLM)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from verticals.serving.backends.transformers_backend import TransformersBackend
from verticals.serving.errors import APIError
from verticals.serving.gateway import Gateway
from verticals.serving.schemas import ChatCompletion, Completion, CompletionChoice, Usage
from verticals.serving.streams import chat_stream_response, completion_stream_response

# Generation on the fallback is slow: without max_tokens, answers stop here.
FALLBACK_MAX_TOKENS = 256


def _temperature(extra: dict[str, Any] | None) -> float:
    value = (extra or {}).get("temperature", 0.0)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 2:
        raise APIError(400, "temperature must be a number from 0 to 2", param="temperature")
    return float(value)


async def fallback_answer(
    gw: Gateway,
    request: Request,
    backend: TransformersBackend,
    messages: list[dict[str, Any]],
    *,
    max_tokens: int | None,
    extra: dict[str, Any] | None,
    stream: bool,
    wants_usage: bool,
    completion: bool,
    prompt_bound: int,
) -> Response:
    """Answer a chat (or, with ``completion``, a text completion) request from the transformers fallback:
    admit ``prompt_bound + max_tokens`` tokens (default FALLBACK_MAX_TOKENS), generate, meter, and answer
    in OpenAI's shape, streamed (SSE, the whole text in one chunk) or not.

    ``extra`` holds the request's other fields (``temperature`` is read from it); ``wants_usage`` adds a usage
    chunk to a stream. The price goes out in ``x-verticals-cost-usd`` (USD). Raises APIError 400 for a
    ``temperature`` outside 0-2, 402 / 429 when admission fails.
    """
    ctx = gw.context(request)
    limit = max_tokens or FALLBACK_MAX_TOKENS
    temperature = _temperature(extra)
    gw.admit(request, prompt_bound + limit)
    text, prompt_tokens, completion_tokens, finish, seconds = await backend.generate(
        messages, limit, temperature
    )
    if stream:
        ctx.ttft_ms = (time.perf_counter() - ctx.started) * 1000
    cost = gw.meter.finish(
        ctx, 200, units_in=prompt_tokens, units_out=completion_tokens, compute_seconds=seconds
    )
    usage = Usage.of(prompt_tokens, completion_tokens, cost)
    headers = {"x-verticals-cost-usd": f"{cost:f}"}
    name, rid = backend.spec.name, ctx.request_id
    if completion:
        if stream:
            return completion_stream_response(rid, name, [text], usage if wants_usage else None, headers)
        choice = CompletionChoice(index=0, text=text, finish_reason=finish)
        answer = Completion(id="cmpl-" + rid[4:], model=name, choices=[choice], usage=usage)
        return JSONResponse(answer.model_dump(mode="json"), headers=headers)
    if stream:
        return chat_stream_response(rid, name, text, usage if wants_usage else None, headers)
    return JSONResponse(
        ChatCompletion.answer(rid, name, text, finish, usage).model_dump(mode="json"), headers=headers
    )
