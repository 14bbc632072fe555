"""Server-sent event streams for answers computed in process (torch chat models).

The answer is already known when the stream starts, so the cost header is exact; the text is sent
word by word so clients see the same chunk sequence a vLLM stream gives them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from fastapi.responses import StreamingResponse

_PIECES = re.compile(r"\S+\s*|\s+")


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def chat_stream_response(
    request_id: str, model: str, text: str, usage: dict[str, Any] | None, headers: dict[str, str]
) -> StreamingResponse:
    base = {
        "id": "chatcmpl-" + request_id[4:],
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def events() -> Iterator[bytes]:
        yield _event(
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
            }
        )
        for piece in _PIECES.findall(text):
            yield _event(
                {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            )
        yield _event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if usage is not None:
            yield _event({**base, "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def completion_stream_response(
    request_id: str, model: str, texts: list[str], usage: dict[str, Any] | None, headers: dict[str, str]
) -> StreamingResponse:
    base = {
        "id": "cmpl-" + request_id[4:],
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
    }

    def events() -> Iterator[bytes]:
        for index, text in enumerate(texts):
            for piece in _PIECES.findall(text):
                yield _event(
                    {
                        **base,
                        "choices": [{"index": index, "text": piece, "finish_reason": None, "logprobs": None}],
                    }
                )
            yield _event(
                {**base, "choices": [{"index": index, "text": "", "finish_reason": "stop", "logprobs": None}]}
            )
        if usage is not None:
            yield _event({**base, "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
