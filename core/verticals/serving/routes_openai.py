"""The OpenAI API: chat, completions, embeddings, transcriptions and the model list.

Torch models answer in process (``echo/chat`` answers chat itself through its predictor); vllm
models are proxied to their vLLM server. Every route meters through ``Gateway.meter.finish``.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from verticals.models import Task
from verticals.serving.backends.torch_backend import TorchBackend
from verticals.serving.backends.transformers_backend import TransformersBackend
from verticals.serving.backends.vllm_proxy import VLLMBackend
from verticals.serving.errors import APIError
from verticals.serving.fallback_routes import fallback_answer
from verticals.serving.gateway import Gateway
from verticals.serving.inference import adapt, infer, infer_many, to_jsonable
from verticals.serving.proxy_routes import proxy
from verticals.serving.schemas import (
    ChatCompletion,
    ChatRequest,
    Completion,
    CompletionChoice,
    CompletionRequest,
    Embedding,
    EmbeddingList,
    EmbeddingRequest,
    EmbeddingUsage,
    ModelCard,
    ModelList,
    Usage,
)
from verticals.serving.streams import chat_stream_response, completion_stream_response


async def authenticated(request: Request) -> None:
    """Check the key before the body is validated, so a caller without a key always gets 401."""
    gateway(request).authenticate(request)


router = APIRouter(tags=["OpenAI"], dependencies=[Depends(authenticated)])
CHAT_TASKS = (str(Task.CHAT), str(Task.COMPLETION))


def gateway(request: Request) -> Gateway:
    """The app's Gateway (``app.state.gateway``)."""
    gw: Gateway = request.app.state.gateway
    return gw


def _headers(request_id: str, cost: Any) -> dict[str, str]:
    return {"x-verticals-cost-usd": f"{cost:f}"}


@router.get("/v1/models", summary="The models this key may use")
async def list_models(request: Request) -> ModelList:
    """``GET /v1/models``: every model this gateway serves, as OpenAI model cards with its task, billing unit
    and readiness. Free: no usage event. Needs a customer key (401 without a valid one, 403 for a suspended
    customer).
    """
    gw = gateway(request)
    ctx = gw.context(request)
    data = [
        ModelCard(
            id=name,
            created=int(gw.started_at),
            owned_by=spec.plugin,
            task=str(spec.task),
            unit=str(spec.unit),
            ready=backend.ready,
        )
        for name, backend in sorted(gw.backends.items())
        for spec in [backend.spec]
    ]
    ctx.recorded = True  # listing models is free and not a model call: no usage event
    return ModelList(data=data)


@router.post("/v1/chat/completions", summary="Chat completion, streamed or not")
async def chat_completions(request: Request, body: ChatRequest) -> Response:
    """``POST /v1/chat/completions``: an OpenAI chat completion, streamed (SSE) or not, from a vLLM model
    (proxied), the transformers fallback, or a torch chat model.

    Admission holds the worst case (prompt bound plus ``n`` x ``max_tokens``) of the key's tokens per minute
    and the customer's budget; the price comes back in ``x-verticals-cost-usd`` (USD). 400 for a model of
    another task, or ``n`` above 1 on a model that is not on vLLM; 402 over budget; 429 over a rate limit; 503
    while the model is not ready. Needs a customer key (401 without a valid one, 403 for a suspended
    customer).
    """
    gw = gateway(request)
    spec, backend = gw.resolve(request, body.model, tasks=CHAT_TASKS, endpoint="/v1/chat/completions")
    ctx = gw.context(request)
    max_tokens = body.max_completion_tokens or body.max_tokens
    messages = [m.model_dump(exclude_none=True) for m in body.messages]
    wants_usage = bool(body.stream_options and body.stream_options.include_usage)
    if not isinstance(backend, VLLMBackend):
        _one_choice(spec.name, body.n)
    if isinstance(backend, TransformersBackend):
        return await fallback_answer(
            gw,
            request,
            backend,
            messages,
            max_tokens=max_tokens,
            extra=body.model_extra,
            stream=body.stream,
            wants_usage=wants_usage,
            completion=False,
            prompt_bound=_prompt_bound(messages),
        )
    if isinstance(backend, VLLMBackend):
        # every choice may use max_tokens
        worst = _prompt_bound(messages) + body.n * (max_tokens or gw.options.default_max_tokens)
        gw.admit(request, worst)
        return await proxy(
            gw,
            ctx,
            backend,
            "/chat/completions",
            body.model_dump(exclude_unset=True),
            stream=body.stream,
            wants_usage=bool(body.stream_options and body.stream_options.include_usage),
        )
    assert isinstance(backend, TorchBackend)
    items = await adapt(gw.registry, spec, messages, param="messages")
    item = items[0] if len(items) == 1 else items
    units_in = backend.units(item)
    limit = _answer_limit(max_tokens, units_in)
    gw.admit(request, units_in + limit)
    result = await infer(backend, _chat_item(item, limit), param="messages")
    text = str(to_jsonable(result.output))
    units_out = backend.units([{"role": "assistant", "content": text}])
    ctx.queue_ms = result.queue_seconds * 1000
    if body.stream:
        ctx.ttft_ms = (time.perf_counter() - ctx.started) * 1000
    cost = gw.meter.finish(
        ctx, 200, units_in=units_in, units_out=units_out, compute_seconds=result.compute_seconds
    )
    usage = Usage.of(units_in, units_out, cost)
    headers = _headers(ctx.request_id, cost)
    if body.stream:
        wants_usage = bool(body.stream_options and body.stream_options.include_usage)
        return chat_stream_response(ctx.request_id, spec.name, text, usage if wants_usage else None, headers)
    answer = ChatCompletion.answer(ctx.request_id, spec.name, text, "stop", usage)
    return JSONResponse(answer.model_dump(mode="json"), headers=headers)


@router.post("/v1/completions", summary="Text completion, streamed or not")
async def completions(request: Request, body: CompletionRequest) -> Response:
    """``POST /v1/completions``: an OpenAI text completion of one prompt or a list, streamed or not; a torch
    chat model answers each prompt as one user message, the transformers fallback one prompt per request.

    The price comes back in ``x-verticals-cost-usd`` (USD). 400 for an empty prompt list, a model of another
    task, or what the model cannot serve (several prompts on the fallback, ``n`` above 1 off vLLM); 402 over
    budget; 429 over a rate limit; 503 while the model is not ready. Needs a customer key (401 without a valid
    one, 403 for a suspended customer).
    """
    gw = gateway(request)
    spec, backend = gw.resolve(request, body.model, tasks=CHAT_TASKS, endpoint="/v1/completions")
    ctx = gw.context(request)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if not prompts:
        raise APIError(400, "prompt is an empty list; send at least one prompt", param="prompt")
    if not isinstance(backend, VLLMBackend):
        _one_choice(spec.name, body.n)
    if isinstance(backend, TransformersBackend):
        if len(prompts) != 1:
            raise APIError(
                400, "this model answers one prompt per request here; send them one by one", param="prompt"
            )
        prompt_messages = [{"role": "user", "content": prompts[0]}]
        return await fallback_answer(
            gw,
            request,
            backend,
            prompt_messages,
            max_tokens=body.max_tokens,
            extra=body.model_extra,
            stream=body.stream,
            wants_usage=bool(body.stream_options and body.stream_options.include_usage),
            completion=True,
            prompt_bound=_prompt_bound(prompt_messages),
        )
    if isinstance(backend, VLLMBackend):
        # every choice of every prompt may use max_tokens
        worst = sum(len(p.encode()) + 2 for p in prompts) + len(prompts) * body.n * (
            body.max_tokens or gw.options.default_max_tokens
        )
        gw.admit(request, worst)
        return await proxy(
            gw,
            ctx,
            backend,
            "/completions",
            body.model_dump(exclude_unset=True),
            stream=body.stream,
            wants_usage=bool(body.stream_options and body.stream_options.include_usage),
        )
    assert isinstance(backend, TorchBackend)
    # A chat model answers a prompt as a single user message.
    items: list[Any] = [[{"role": "user", "content": p}] if spec.task is Task.CHAT else p for p in prompts]
    units = [backend.units(item) for item in items]
    units_in = sum(units)
    limits = [_answer_limit(body.max_tokens, u) for u in units]
    gw.admit(request, units_in + sum(limits))
    if spec.task is Task.CHAT:
        items = [_chat_item(item, limit) for item, limit in zip(items, limits, strict=True)]
    results = await infer_many(backend, items, param="prompt")
    texts = [str(to_jsonable(r.output)) for r in results]
    units_out = sum(backend.units([{"role": "assistant", "content": t}]) for t in texts)
    ctx.queue_ms = max(r.queue_seconds for r in results) * 1000
    cost = gw.meter.finish(
        ctx,
        200,
        units_in=units_in,
        units_out=units_out,
        compute_seconds=sum(r.compute_seconds for r in results),
    )
    usage = Usage.of(units_in, units_out, cost)
    headers = _headers(ctx.request_id, cost)
    if body.stream:
        wants_usage = bool(body.stream_options and body.stream_options.include_usage)
        return completion_stream_response(
            ctx.request_id, spec.name, texts, usage if wants_usage else None, headers
        )
    choices = [CompletionChoice(index=i, text=t, finish_reason="stop") for i, t in enumerate(texts)]
    answer = Completion(id="cmpl-" + ctx.request_id[4:], model=spec.name, choices=choices, usage=usage)
    return JSONResponse(answer.model_dump(mode="json"), headers=headers)


@router.post("/v1/embeddings", summary="Embeddings of one or more texts")
async def embeddings(request: Request, body: EmbeddingRequest) -> Response:
    """``POST /v1/embeddings``: one embedding per input text (floats, or base64 of float32 when asked), from a
    vLLM model (proxied) or a torch embedding model.

    The price comes back in ``x-verticals-cost-usd`` (USD). 400 for an empty input list, a model of another
    task, or ``dimensions`` other than the model's; 402 over budget; 429 over a rate limit; 503 while the
    model is not ready. Needs a customer key (401 without a valid one, 403 for a suspended customer).
    """
    gw = gateway(request)
    spec, backend = gw.resolve(request, body.model, tasks=(str(Task.EMBEDDING),), endpoint="/v1/embeddings")
    ctx = gw.context(request)
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise APIError(400, "input is an empty list; send at least one text", param="input")
    if isinstance(backend, VLLMBackend):
        gw.admit(request, sum(len(t.encode()) + 2 for t in texts))
        return await proxy(
            gw,
            ctx,
            backend,
            "/embeddings",
            body.model_dump(exclude_unset=True),
            stream=False,
            wants_usage=False,
        )
    assert isinstance(backend, TorchBackend)
    items: list[Any] = []
    for text in texts:
        items.extend(await adapt(gw.registry, spec, text, param="input"))
    units_in = sum(backend.units(item) for item in items)
    gw.admit(request, units_in)
    results = await infer_many(backend, items, param="input")
    vectors = [[float(x) for x in to_jsonable(r.output)] for r in results]
    if body.dimensions is not None and vectors and body.dimensions != len(vectors[0]):
        raise APIError(
            400,
            f"the model {spec.name!r} gives {len(vectors[0])} dimensions, not {body.dimensions}; "
            "leave out `dimensions`",
            param="dimensions",
        )
    ctx.queue_ms = max(r.queue_seconds for r in results) * 1000
    cost = gw.meter.finish(
        ctx, 200, units_in=units_in, compute_seconds=sum(r.compute_seconds for r in results)
    )
    answer = EmbeddingList(
        model=spec.name,
        data=[Embedding(index=i, embedding=_encode(v, body.encoding_format)) for i, v in enumerate(vectors)],
        usage=EmbeddingUsage(prompt_tokens=int(units_in), total_tokens=int(units_in)),
    )
    return JSONResponse(answer.model_dump(mode="json"), headers=_headers(ctx.request_id, cost))


@router.post("/v1/audio/transcriptions", summary="Transcribe an uploaded audio file")
async def transcriptions(
    request: Request,
    file: Annotated[UploadFile, File(description="the audio file (wav, mp3, flac, ...)")],
    model: Annotated[str, Form()],
    response_format: Annotated[str, Form()] = "json",
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
) -> Response:
    """``POST /v1/audio/transcriptions`` (multipart): the text of the uploaded audio ``file``, as json
    ``{text}``, plain text, or verbose_json (adding task, language and the model's duration).

    The price comes back in ``x-verticals-cost-usd`` (USD). 400 for an unknown response_format, an empty file,
    a model of another task or one not served in process; 402 over budget; 429 over a rate limit; 503 while
    the model is not ready. Needs a customer key (401 without a valid one, 403 for a suspended customer).
    """
    gw = gateway(request)
    if response_format not in ("json", "text", "verbose_json"):
        raise APIError(
            400,
            f"response_format {response_format!r} is not served; use json, text or verbose_json",
            param="response_format",
        )
    spec, backend = gw.resolve(
        request, model, tasks=(str(Task.TRANSCRIPTION),), endpoint="/v1/audio/transcriptions"
    )
    ctx = gw.context(request)
    if not isinstance(backend, TorchBackend):
        raise APIError(
            400, f"the model {model!r} is not served in process; transcription needs a torch model"
        )
    data = await file.read()
    if not data:
        raise APIError(
            400, "the uploaded file is empty; send the audio as the multipart field `file`", param="file"
        )
    items = await adapt(gw.registry, spec, data, param="file")
    item = items[0] if len(items) == 1 else items
    units_in = backend.units(item)
    gw.admit(request, units_in)
    result = await infer(backend, item, param="file")
    output = to_jsonable(result.output)
    text = output.get("text", "") if isinstance(output, dict) else str(output)
    duration = output.get("duration") if isinstance(output, dict) else None
    ctx.queue_ms = result.queue_seconds * 1000
    cost = gw.meter.finish(ctx, 200, units_in=units_in, compute_seconds=result.compute_seconds)
    headers = _headers(ctx.request_id, cost)
    if response_format == "text":
        return PlainTextResponse(text, headers=headers)
    payload: dict[str, Any] = {"text": text}
    if response_format == "verbose_json":
        payload.update({"task": "transcribe", "language": language or "en", "duration": duration})
    return JSONResponse(payload, headers=headers)


def _answer_limit(max_tokens: int | None, units_in: float) -> int:
    """The most tokens an in-process chat model may answer: ``max_tokens``, or without it as many
    as the prompt has (echo/chat's answer is part of its prompt)."""
    return max_tokens if max_tokens is not None else math.ceil(units_in)


def _chat_item(messages: Any, max_tokens: int) -> dict[str, Any]:
    """A torch chat model's input: its messages and the most tokens it may answer."""
    return {"messages": messages, "max_tokens": max_tokens}


def _one_choice(model: str, n: int) -> None:
    if n != 1:
        raise APIError(
            400,
            f"the model {model!r} answers one choice per request here (n > 1 is served by vLLM "
            "models); leave out n, or send the request n times",
            param="n",
        )


def _prompt_bound(messages: list[dict[str, Any]]) -> int:
    """An upper bound on prompt tokens: byte-level BPE never uses more tokens than UTF-8 bytes."""
    return sum(len(json.dumps(m, ensure_ascii=False).encode()) + 8 for m in messages)


def _encode(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector
