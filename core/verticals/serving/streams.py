"""Server-sent event streams for answers computed in process (torch models, the transformers fallback).

The answer is already known when the stream starts, so the cost header is exact; the text is sent
word by word so clients see the same chunk sequence a vLLM stream gives them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from verticals.serving.schemas import ChatChunk, ChunkChoice, Completion, CompletionChoice, Delta, Usage

_PIECES = re.compile(r"\S+\s*|\s+")


def _event(chunk: BaseModel) -> bytes:
    return b"data: " + chunk.model_dump_json().encode() + b"\n\n"


def chat_stream_response(
    request_id: str, model: str, text: str, usage: Usage | None, headers: dict[str, str]
) -> StreamingResponse:
    """``text`` as ChatChunk events, word by word, then ``usage`` (when given) and ``[DONE]``."""
    base = ChatChunk(id="chatcmpl-" + request_id[4:], model=model, choices=[])

    def chunk(delta: Delta, finish_reason: str | None = None) -> bytes:
        choice = ChunkChoice(index=0, delta=delta, finish_reason=finish_reason)
        return _event(base.model_copy(update={"choices": [choice]}))

    def events() -> Iterator[bytes]:
        yield chunk(Delta(role="assistant", content=""))
        for piece in _PIECES.findall(text):
            yield chunk(Delta(content=piece))
        yield chunk(Delta(), "stop")
        if usage is not None:
            yield _event(base.model_copy(update={"usage": usage}))
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def completion_stream_response(
    request_id: str, model: str, texts: list[str], usage: Usage | None, headers: dict[str, str]
) -> StreamingResponse:
    """Each of ``texts`` (choice i) as Completion events, word by word, then ``usage`` and ``[DONE]``."""
    base = Completion(id="cmpl-" + request_id[4:], model=model, choices=[])

    def chunk(index: int, text: str, finish_reason: str | None = None) -> bytes:
        choice = CompletionChoice(index=index, text=text, finish_reason=finish_reason)
        return _event(base.model_copy(update={"choices": [choice]}))

    def events() -> Iterator[bytes]:
        for index, text in enumerate(texts):
            for piece in _PIECES.findall(text):
                yield chunk(index, piece)
            yield chunk(index, "", "stop")
        if usage is not None:
            yield _event(base.model_copy(update={"usage": usage}))
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
