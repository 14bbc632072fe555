"""``ModelBackend``: what every backend answers for itself, so that routes never ask which one it is.

A backend serves one model: it starts and stops, says whether it is ready, and answers the calls a
route makes (chat, complete, embed, transcribe, infer), each with a finished answer or a relay for
a stream. Before any model work it works out the request's worst case (``worst_case``: one formula
per backend kind) and has admission hold it through the ``Call``. A call a backend does not serve
is a 400 naming what does.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from verticals.models import ModelSpec
from verticals.serving.calls import Answer, Call
from verticals.serving.errors import APIError
from verticals.serving.openai.protocol import ChatRequest, CompletionRequest, EmbeddingRequest


class Unavailable(Exception):
    """The backend cannot take requests right now (starting, or restarting after a crash);
    ``retry_after`` is in seconds."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def unavailable(error: Unavailable) -> APIError:
    """The 503 ``backend_unavailable`` APIError for ``error``, with its ``retry_after`` (seconds) as the
    ``Retry-After`` header.
    """
    return APIError(
        503, str(error), code="backend_unavailable", headers={"Retry-After": str(error.retry_after)}
    )


@dataclass(frozen=True)
class Demand:
    """What a request asks of a model, for its worst case: ``prompts``, the units of each prompt (exact
    where the backend counts them before running, else an upper bound: see ``text_bound``); ``answers``
    per prompt (the request's ``n``; 0 for a call that generates nothing, such as embeddings); and
    ``max_tokens`` per answer (None: the request set none, and the backend's default applies).
    """

    prompts: tuple[float, ...]
    answers: int = 0
    max_tokens: int | None = None


@dataclass(frozen=True)
class Transcription:
    """The form fields of ``POST /v1/audio/transcriptions`` besides the file and the model:
    ``response_format`` (json, text or verbose_json), ``language`` (ISO-639-1) and ``prompt``."""

    response_format: str = "json"
    language: str | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class Inference:
    """A v2 inference's result: one output per input item, ``units_in`` / ``units_out`` in the model's unit,
    ``compute_seconds`` of device time and ``queue_seconds`` waited in a batcher (None: no batcher)."""

    outputs: list[Any]
    units_in: float
    units_out: float = 0.0
    compute_seconds: float = 0.0
    queue_seconds: float | None = None


class ModelBackend(ABC):
    """One model's backend (torch in process, a vLLM proxy, the transformers fallback): its ``spec``, the
    ``device_class`` its compute is priced at, readiness, version, start and stop, the worst case admission
    holds, and the calls the routes make.

    Every call raises APIError (400 for input the model refuses, 503 while it is unavailable, 502 for an
    upstream failure) or what admission raises through ``call.admit`` (402, 429).
    """

    spec: ModelSpec
    device_class: str

    @property
    @abstractmethod
    def ready(self) -> bool:
        """True while the backend can take requests; the routes answer 503 otherwise."""

    @property
    @abstractmethod
    def version(self) -> str:
        """The model version this backend serves, recorded on every usage event."""

    @abstractmethod
    async def start(self) -> None:
        """Load or launch the model, before the gateway takes requests; raises when it cannot (the gateway
        logs it and leaves the model unserved).
        """

    @abstractmethod
    async def stop(self) -> None:
        """Release the model (stop servers, close sessions) at shutdown."""

    @abstractmethod
    def worst_case(self, demand: Demand) -> float:
        """The most billable units ``demand`` can use here: what admission holds against the key's tokens per
        minute and the customer's budget, and the most the request is ever billed.
        """

    def hosted_on(self) -> str | None:
        """The device whose capacity the gateway records for this backend, as a key shared by every backend on
        that device (``gateway`` for compute in the gateway's process, ``url-<URL>`` for an external
        server); None when the backend records its own (a supervised vLLM server, per process).
        """
        return "gateway"

    async def chat(self, call: Call, body: ChatRequest) -> Answer:
        """``POST /v1/chat/completions``: an OpenAI chat completion, streamed or not."""
        raise self.not_served("/v1/chat/completions")

    async def complete(self, call: Call, body: CompletionRequest) -> Answer:
        """``POST /v1/completions``: an OpenAI text completion of one prompt or a list, streamed or not."""
        raise self.not_served("/v1/completions")

    async def embed(self, call: Call, body: EmbeddingRequest) -> Answer:
        """``POST /v1/embeddings``: one embedding per input text."""
        raise self.not_served("/v1/embeddings")

    async def transcribe(self, call: Call, audio: bytes, form: Transcription) -> Answer:
        """``POST /v1/audio/transcriptions``: the text of ``audio`` (the uploaded file's bytes)."""
        raise self.not_served("/v1/audio/transcriptions")

    async def infer(
        self, call: Call, items: list[Any], parameters: dict[str, Any], *, where: Sequence[str] = ()
    ) -> Inference:
        """``POST /v2/models/{name}/infer``: one output per item (a row of the first input tensor);
        ``parameters`` are the request's v2 parameters; ``where[i]`` names item ``i`` in the request
        (``input 'x' element 3``) for the errors that item causes."""
        raise self.not_served("/v2/models/{name}/infer")

    def not_served(self, endpoint: str) -> APIError:
        """The 400 for an endpoint this backend does not serve."""
        return APIError(
            400,
            f"the model {self.spec.name!r} is not served over {endpoint} by this gateway",
            code="endpoint_not_served",
        )


def one_choice(model: str, n: int) -> None:
    """Raise APIError 400 for ``n`` above 1 on a backend that answers one choice per request."""
    if n != 1:
        raise APIError(
            400,
            f"the model {model!r} answers one choice per request here (n > 1 is served by vLLM "
            "models); leave out n, or send the request n times",
            param="n",
        )


def text_bound(text: str) -> int:
    """An upper bound on the tokens of ``text``: byte-level BPE never uses more tokens than UTF-8 bytes (+2
    for the special tokens around it)."""
    return len(text.encode()) + 2


def messages_bound(messages: list[dict[str, Any]]) -> int:
    """An upper bound on the prompt tokens of chat ``messages``: their JSON's UTF-8 bytes, +8 per message for
    the chat template's role markers (see ``text_bound``)."""
    return sum(len(json.dumps(m, ensure_ascii=False).encode()) + 8 for m in messages)
