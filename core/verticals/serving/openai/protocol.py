"""Request and response bodies of the OpenAI routes: validated here, documented in ``/openapi.json``.

Request fields the gateway does not use are allowed and passed on to vLLM unchanged (``extra="allow"``).
Responses the gateway builds itself (torch models and the transformers fallback; vLLM answers pass
through as vLLM wrote them) carry every key that OpenAI's OpenAPI spec (github.com/openai/openai-openapi,
``components.schemas``) marks required, null when unused; the class docstrings name the spec's schema.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)


class _PassedOn(BaseModel):
    """A request whose other fields are passed on to vLLM as sent: those must hold finite numbers only.

    Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999``; no engine can use them, and vLLM could
    fail on them, so a request holding one is refused with a 400 naming the field.
    """

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _finite_extras(self) -> _PassedOn:
        for name, value in (self.model_extra or {}).items():
            if _non_finite(value):
                raise ValueError(
                    f"`{name}` holds a number that is not finite (NaN or Infinity); send a finite number"
                )
        return self


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return False


class Message(_PassedOn):
    """One chat message: a role and its content (text, OpenAI content parts, or None); other OpenAI fields
    (name, tool_calls, ...) are kept and passed on.
    """

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``: ``include_usage`` asks for a last chunk carrying the usage."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(_PassedOn):
    """Body of ``POST /v1/chat/completions``; ``max_tokens`` / ``max_completion_tokens`` are in tokens (1 to
    1,000,000), ``n`` is 1-128. Other OpenAI fields are kept and passed on to vLLM.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="e.g. 'nlp/chat' or 'echo/chat'")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    n: int = Field(1, ge=1, le=128, description="choices per request; more than 1 on vLLM models only")


class CompletionRequest(_PassedOn):
    """Body of ``POST /v1/completions``: a prompt or list of prompts (text, not token arrays); ``max_tokens``
    in tokens (1 to 1,000,000), ``n`` 1-128 per prompt. Other OpenAI fields are passed on to vLLM.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    prompt: str | list[str] = Field(
        description="a prompt, or a list of prompts (token arrays are not accepted)"
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    n: int = Field(1, ge=1, le=128, description="choices per prompt; more than 1 on vLLM models only")


class EmbeddingRequest(_PassedOn):
    """Body of ``POST /v1/embeddings``: a text or list of texts (not token arrays), ``encoding_format`` float
    or base64, and optionally the ``dimensions`` expected.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[str] = Field(description="a text or a list of texts (token arrays are not accepted)")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)


# Responses. Field order is the order of the keys in the JSON.


def _now() -> int:
    return int(time.time())


class _UsageWhenSet(BaseModel):
    """Leaves ``usage`` out of the JSON while it is None: only a stream's last chunk carries one."""

    @model_serializer(mode="wrap")
    def _usage_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("usage") is None:
            data.pop("usage", None)
        return data


class Usage(BaseModel):
    """CompletionUsage (token counts as ints), plus ``cost_usd``: the request's price, a decimal string."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: str

    @classmethod
    def of(cls, units_in: float, units_out: float, cost: Decimal) -> Usage:
        """The usage of ``units_in`` prompt and ``units_out`` answer tokens that cost ``cost`` USD."""
        return cls(
            prompt_tokens=int(units_in),
            completion_tokens=int(units_out),
            total_tokens=int(units_in + units_out),
            cost_usd=f"{cost:f}",
        )


class AssistantMessage(BaseModel):
    """ChatCompletionResponseMessage: ``refusal`` is required; null, the gateway's models never refuse."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class ChatChoice(BaseModel):
    """An item of CreateChatCompletionResponse.choices; ``logprobs`` is required, null: not computed."""

    index: int
    message: AssistantMessage
    logprobs: None = None
    finish_reason: str


class ChatCompletion(BaseModel):
    """CreateChatCompletionResponse with one choice (in-process models answer n=1 only)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=_now)
    model: str
    choices: list[ChatChoice]
    usage: Usage

    @classmethod
    def answer(
        cls, request_id: str, model: str, text: str, finish_reason: str, usage: Usage
    ) -> ChatCompletion:
        """The answer ``text`` of ``model`` to request ``req_<hex>``; its id is ``chatcmpl-<hex>``."""
        message = AssistantMessage(content=text)
        return cls(
            id="chatcmpl-" + request_id[4:],
            model=model,
            choices=[ChatChoice(index=0, message=message, finish_reason=finish_reason)],
            usage=usage,
        )


class Delta(BaseModel):
    """ChatCompletionStreamResponseDelta: no key is required, so only the keys set are sent."""

    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _set_keys_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class ChunkChoice(BaseModel):
    """An item of CreateChatCompletionStreamResponse.choices (``logprobs`` null, as vLLM sends it)."""

    index: int
    delta: Delta
    logprobs: None = None
    finish_reason: str | None = None


class ChatChunk(_UsageWhenSet):
    """CreateChatCompletionStreamResponse; ``usage`` only on the last chunk, whose choices are []."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=_now)
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class CompletionChoice(BaseModel):
    """An item of CreateCompletionResponse.choices; ``logprobs`` is required, null: not computed."""

    index: int
    text: str
    logprobs: None = None
    finish_reason: str | None


class Completion(_UsageWhenSet):
    """CreateCompletionResponse, also each chunk of a completion stream (``usage`` on the last only)."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=_now)
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class Embedding(BaseModel):
    """Embedding: a list of floats, or with encoding_format=base64 their little-endian float32 bytes."""

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    """CreateEmbeddingResponse.usage: tokens read (an embedding answers no tokens)."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    """CreateEmbeddingResponse: one Embedding per input text, in input order."""

    object: Literal["list"] = "list"
    model: str
    data: list[Embedding]
    usage: EmbeddingUsage


class ModelCard(BaseModel):
    """Model, plus what the gateway knows of it: its task, its billing unit, and whether it is ready."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="when the gateway started, in Unix seconds")
    owned_by: str = Field(description="the plugin that provides the model")
    task: str
    unit: str
    ready: bool


class ModelList(BaseModel):
    """ListModelsResponse."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class TranscriptionJson(BaseModel):
    """CreateTranscriptionResponseJson: the text of the audio."""

    text: str


class TranscriptionVerbose(TranscriptionJson):
    """CreateTranscriptionResponseVerboseJson: the text, with the task, the ``language`` (ISO-639-1) and the
    audio's ``duration`` in seconds (null when the model does not report it)."""

    task: Literal["transcribe"] = "transcribe"
    language: str
    duration: float | None
