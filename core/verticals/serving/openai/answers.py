"""Responses to answers computed in process (torch models, the transformers fallback), built from the
typed models of ``protocol``: JSON, or server-sent events.

The answer is already known when a stream starts, so its price header is exact; the text is sent
word by word so clients see the same chunk sequence a vLLM stream gives them. Each function returns
a ``Render``: the response, once ``Finished.respond`` knows the price.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Iterator
from decimal import Decimal

from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel
from starlette.responses import Response

from verticals.serving.calls import Render
from verticals.serving.openai.protocol import (
    ChatChunk,
    ChatCompletion,
    ChunkChoice,
    Completion,
    CompletionChoice,
    Delta,
    Embedding,
    EmbeddingList,
    EmbeddingUsage,
    TranscriptionJson,
    TranscriptionVerbose,
    Usage,
)

_PIECES = re.compile(r"\S+\s*|\s+")


def _event(chunk: BaseModel) -> bytes:
    return b"data: " + chunk.model_dump_json().encode() + b"\n\n"


def _json(answer: BaseModel, headers: dict[str, str]) -> Response:
    return JSONResponse(answer.model_dump(mode="json"), headers=headers)


def chat_answer(
    request_id: str,
    model: str,
    text: str,
    finish_reason: str,
    tokens: tuple[float, float],
    *,
    stream: bool,
    include_usage: bool,
) -> Render:
    """A ChatCompletion of ``text`` (``tokens``: prompt and completion), or as a stream ChatChunk events word
    by word, then the usage chunk (when ``include_usage``) and ``[DONE]``.
    """

    def render(cost: Decimal, headers: dict[str, str]) -> Response:
        usage = Usage.of(*tokens, cost)
        if not stream:
            return _json(ChatCompletion.answer(request_id, model, text, finish_reason, usage), headers)
        base = ChatChunk(id="chatcmpl-" + request_id[4:], model=model, choices=[])

        def chunk(delta: Delta, finish: str | None = None) -> bytes:
            choice = ChunkChoice(index=0, delta=delta, finish_reason=finish)
            return _event(base.model_copy(update={"choices": [choice]}))

        def events() -> Iterator[bytes]:
            yield chunk(Delta(role="assistant", content=""))
            for piece in _PIECES.findall(text):
                yield chunk(Delta(content=piece))
            yield chunk(Delta(), finish_reason)
            if include_usage:
                yield _event(base.model_copy(update={"usage": usage}))
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return render


def completion_answer(
    request_id: str,
    model: str,
    texts: list[str],
    finish_reason: str,
    tokens: tuple[float, float],
    *,
    stream: bool,
    include_usage: bool,
) -> Render:
    """A Completion with choice i = ``texts[i]``, or as a stream each text's Completion events word by word,
    then the usage chunk (when ``include_usage``) and ``[DONE]``.
    """

    def render(cost: Decimal, headers: dict[str, str]) -> Response:
        usage = Usage.of(*tokens, cost)
        rid = "cmpl-" + request_id[4:]
        if not stream:
            choices = [
                CompletionChoice(index=i, text=t, finish_reason=finish_reason) for i, t in enumerate(texts)
            ]
            return _json(Completion(id=rid, model=model, choices=choices, usage=usage), headers)
        base = Completion(id=rid, model=model, choices=[])

        def chunk(index: int, text: str, finish: str | None = None) -> bytes:
            choice = CompletionChoice(index=index, text=text, finish_reason=finish)
            return _event(base.model_copy(update={"choices": [choice]}))

        def events() -> Iterator[bytes]:
            for index, text in enumerate(texts):
                for piece in _PIECES.findall(text):
                    yield chunk(index, piece)
                yield chunk(index, "", finish_reason)
            if include_usage:
                yield _event(base.model_copy(update={"usage": usage}))
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return render


def embeddings_answer(model: str, vectors: list[list[float]], tokens: float, encoding_format: str) -> Render:
    """An EmbeddingList of ``vectors`` (floats, or with ``encoding_format`` base64 their little-endian
    float32 bytes) that read ``tokens`` tokens."""

    def render(cost: Decimal, headers: dict[str, str]) -> Response:
        data = [Embedding(index=i, embedding=_encode(v, encoding_format)) for i, v in enumerate(vectors)]
        usage = EmbeddingUsage(prompt_tokens=int(tokens), total_tokens=int(tokens))
        return _json(EmbeddingList(model=model, data=data, usage=usage), headers)

    return render


def transcription_answer(
    text: str, duration: float | None, response_format: str, language: str | None
) -> Render:
    """The transcription ``text`` as ``response_format``: json ``{text}``, plain text, or verbose_json (with
    the task, ``language``, default en, and the audio's ``duration`` in seconds)."""

    def render(cost: Decimal, headers: dict[str, str]) -> Response:
        if response_format == "text":
            return PlainTextResponse(text, headers=headers)
        if response_format == "verbose_json":
            verbose = TranscriptionVerbose(text=text, language=language or "en", duration=duration)
            return _json(verbose, headers)
        return _json(TranscriptionJson(text=text), headers)

    return render


def _encode(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector
