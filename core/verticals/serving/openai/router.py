"""The OpenAI API: chat, completions, embeddings, transcriptions and the model list.

Each route checks what the endpoint itself requires, opens the call (``admission.open_call``) and
hands it to the model's backend, which answers for itself: torch models in process, vllm models
through their vLLM server, the transformers fallback in process. The answer meters itself and
becomes the response (``calls.Answer.respond``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from verticals.models import Task
from verticals.serving.admission import authenticated, context_of, gateway_of, open_call
from verticals.serving.backends.base import Transcription
from verticals.serving.errors import APIError
from verticals.serving.openai.protocol import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    ModelCard,
    ModelList,
)

router = APIRouter(tags=["OpenAI"], dependencies=[Depends(authenticated)])
CHAT_TASKS = (str(Task.CHAT), str(Task.COMPLETION))
TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")


@router.get("/v1/models", summary="The models this key may use")
async def list_models(request: Request) -> ModelList:
    """``GET /v1/models``: every model this gateway serves, as OpenAI model cards with its task, billing unit
    and readiness. Free: no usage event. Needs a customer key (401 without a valid one, 403 for a suspended
    customer).
    """
    gw = gateway_of(request)
    data = [
        ModelCard(
            id=name,
            created=int(gw.started_at),
            owned_by=backend.spec.plugin,
            task=str(backend.spec.task),
            unit=str(backend.spec.unit),
            ready=backend.ready,
        )
        for name, backend in sorted(gw.backends.items())
    ]
    context_of(request).recorded = True  # listing models is free and not a model call: no usage event
    return ModelList(data=data)


@router.post("/v1/chat/completions", summary="Chat completion, streamed or not")
async def chat_completions(request: Request, body: ChatRequest) -> Response:
    """``POST /v1/chat/completions``: an OpenAI chat completion, streamed (SSE) or not, from a vLLM model
    (proxied), the transformers fallback, or a torch chat model.

    Admission holds the worst case (prompt bound plus ``n`` x ``max_tokens``) of the key's tokens per minute
    and the customer's budget; the price comes back in ``x-verticals-cost-usd`` (USD) when it is known before
    the body. 400 for a model of another task, or ``n`` above 1 on a model that is not on vLLM; 402 over
    budget; 429 over a rate limit; 503 while the model is not ready. Needs a customer key (401 without a
    valid one, 403 for a suspended customer).
    """
    call, backend = open_call(request, body.model, tasks=CHAT_TASKS, endpoint="/v1/chat/completions")
    return await (await backend.chat(call, body)).respond(call)


@router.post("/v1/completions", summary="Text completion, streamed or not")
async def completions(request: Request, body: CompletionRequest) -> Response:
    """``POST /v1/completions``: an OpenAI text completion of one prompt or a list, streamed or not; a torch
    chat model answers each prompt as one user message, the transformers fallback one prompt per request.

    The price comes back in ``x-verticals-cost-usd`` (USD). 400 for an empty prompt list, a model of another
    task, or what the model cannot serve (several prompts on the fallback, ``n`` above 1 off vLLM); 402 over
    budget; 429 over a rate limit; 503 while the model is not ready. Needs a customer key (401 without a valid
    one, 403 for a suspended customer).
    """
    call, backend = open_call(request, body.model, tasks=CHAT_TASKS, endpoint="/v1/completions")
    if not body.prompt:
        raise APIError(400, "prompt is an empty list; send at least one prompt", param="prompt")
    return await (await backend.complete(call, body)).respond(call)


@router.post("/v1/embeddings", summary="Embeddings of one or more texts")
async def embeddings(request: Request, body: EmbeddingRequest) -> Response:
    """``POST /v1/embeddings``: one embedding per input text (floats, or base64 of float32 when asked), from a
    vLLM model (proxied) or a torch embedding model.

    The price comes back in ``x-verticals-cost-usd`` (USD). 400 for an empty input list, a model of another
    task, or ``dimensions`` other than the model's; 402 over budget; 429 over a rate limit; 503 while the
    model is not ready. Needs a customer key (401 without a valid one, 403 for a suspended customer).
    """
    call, backend = open_call(request, body.model, tasks=(str(Task.EMBEDDING),), endpoint="/v1/embeddings")
    if not body.input:
        raise APIError(400, "input is an empty list; send at least one text", param="input")
    return await (await backend.embed(call, body)).respond(call)


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
    if response_format not in TRANSCRIPTION_FORMATS:
        raise APIError(
            400,
            f"response_format {response_format!r} is not served; use json, text or verbose_json",
            param="response_format",
        )
    call, backend = open_call(
        request, model, tasks=(str(Task.TRANSCRIPTION),), endpoint="/v1/audio/transcriptions"
    )
    audio = await file.read()
    if not audio:
        raise APIError(
            400, "the uploaded file is empty; send the audio as the multipart field `file`", param="file"
        )
    form = Transcription(response_format=response_format, language=language, prompt=prompt)
    return await (await backend.transcribe(call, audio, form)).respond(call)
