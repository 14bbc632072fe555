"""The vllm backend: OpenAI requests proxied to a vLLM server, streamed or not, metered by the usage
the server reports; v2 inference as one completion per item.

The server is either a local subprocess kept alive by a ``Supervisor`` or an external URL from the
config (``[models."nlp/chat"] url = "http://host:8000/v1"``), the scale-out path. Token counts are
not known before the server runs, so the worst case bounds each prompt by its UTF-8 bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from fastapi.responses import JSONResponse

from verticals.models import ModelSpec
from verticals.serving.backends.base import (
    Demand,
    Inference,
    ModelBackend,
    Unavailable,
    messages_bound,
    text_bound,
    unavailable,
)
from verticals.serving.backends.vllm.stream import Relayed
from verticals.serving.backends.vllm.supervisor import Supervisor
from verticals.serving.backends.vllm.upstream import UpstreamError, VLLMClient
from verticals.serving.calls import Answer, Call, Finished
from verticals.serving.errors import APIError
from verticals.serving.openai.protocol import ChatRequest, CompletionRequest, EmbeddingRequest

#: Tokens a v2 generation may answer when its ``parameters`` set no ``max_tokens``.
V2_MAX_TOKENS = 64


class VLLMBackend(VLLMClient, ModelBackend):
    """Serves ``spec`` through a vLLM server (see ``VLLMClient`` for the arguments); ``default_max_tokens``
    is what admission holds per answer when a request sets no ``max_tokens``.
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        base_url: str | None = None,
        supervisor: Supervisor | None = None,
        served_name: str | None = None,
        device_class: str = "cpu",
        accept_wait_s: float = 180.0,
        default_max_tokens: int = 2048,
    ) -> None:
        super().__init__(
            spec,
            base_url=base_url,
            supervisor=supervisor,
            served_name=served_name,
            device_class=device_class,
            accept_wait_s=accept_wait_s,
        )
        self.default_max_tokens = default_max_tokens

    def worst_case(self, demand: Demand) -> float:
        """The prompts' token bounds plus, for every answer of every prompt, ``max_tokens`` (default
        ``default_max_tokens``)."""
        answer = demand.max_tokens or self.default_max_tokens
        return sum(demand.prompts) + len(demand.prompts) * demand.answers * answer

    def hosted_on(self) -> str | None:
        """``url-<URL>`` for an external server (the gateway records it); None for a local one, whose
        supervisor records each server process."""
        return None if self.supervisor is not None else f"url-{self.base_url}"

    async def chat(self, call: Call, body: ChatRequest) -> Answer:
        """The chat request proxied as sent (its model renamed); every choice may use ``max_tokens``."""
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        max_tokens = body.max_completion_tokens or body.max_tokens
        await call.admit(self.worst_case(Demand((messages_bound(messages),), body.n, max_tokens)))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return await self._proxy(
            call, "/chat/completions", body.model_dump(exclude_unset=True), body.stream, include_usage
        )

    async def complete(self, call: Call, body: CompletionRequest) -> Answer:
        """The completion request proxied as sent; every choice of every prompt may use ``max_tokens``."""
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        bounds = tuple(float(text_bound(p)) for p in prompts)
        await call.admit(self.worst_case(Demand(bounds, body.n, body.max_tokens)))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return await self._proxy(
            call, "/completions", body.model_dump(exclude_unset=True), body.stream, include_usage
        )

    async def embed(self, call: Call, body: EmbeddingRequest) -> Answer:
        """The embeddings request proxied as sent; it answers no tokens."""
        texts = [body.input] if isinstance(body.input, str) else body.input
        await call.admit(self.worst_case(Demand(tuple(float(text_bound(t)) for t in texts))))
        return await self._proxy(call, "/embeddings", body.model_dump(exclude_unset=True), False, False)

    async def infer(
        self, call: Call, items: list[Any], parameters: dict[str, Any], *, where: Sequence[str] = ()
    ) -> Inference:
        """An LLM over v2: a text item is a prompt (``/completions``), a JSON list of messages a chat, each
        answered with up to ``parameters.max_tokens`` tokens (1-100000, default ``V2_MAX_TOKENS``). Raises
        APIError 400 for another item or a bad ``max_tokens``, 400 / 502 for an upstream error."""
        max_tokens = parameters.get("max_tokens", V2_MAX_TOKENS)
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= 100_000:
            raise APIError(
                400,
                "parameters.max_tokens must be an integer from 1 to 100000",
                code="invalid_tensor",
                param="parameters",
            )
        calls: list[tuple[str, dict[str, Any]]] = []
        bounds: list[float] = []
        for item in items:
            if isinstance(item, list):
                calls.append(("/chat/completions", {"messages": item, "max_tokens": max_tokens}))
                bounds.append(messages_bound(item))
            elif isinstance(item, str):
                calls.append(("/completions", {"prompt": item, "max_tokens": max_tokens}))
                bounds.append(text_bound(item))
            else:
                raise APIError(
                    400,
                    f"{self.spec.name!r} takes text prompts or JSON lists of chat messages",
                    code="invalid_tensor",
                    param="inputs",
                )
        await call.admit(self.worst_case(Demand(tuple(bounds), 1, max_tokens)))
        rid = call.ctx.request_id
        try:
            answers = await asyncio.gather(
                *(self.post(path, body, f"{rid}-{i}") for i, (path, body) in enumerate(calls))
            )
        except Unavailable as error:
            raise unavailable(error) from None
        except UpstreamError as error:
            raise APIError(400 if error.status < 500 else 502, error.message, code="upstream_error") from None
        outputs = []
        for (path, _), (data, _, _) in zip(calls, answers, strict=True):
            choice = (data.get("choices") or [{}])[0]
            chat = path == "/chat/completions"
            outputs.append(choice.get("message", {}).get("content") if chat else choice.get("text"))
        return Inference(
            outputs,
            sum(a[1].prompt_tokens for a in answers),
            sum(a[1].completion_tokens for a in answers),
            sum(a[2] for a in answers),
        )

    async def _proxy(
        self, call: Call, path: str, body: dict[str, Any], stream: bool, include_usage: bool
    ) -> Answer:
        """Send ``body`` to ``path`` upstream: the answer as vLLM wrote it (model renamed), metered by the
        usage it reports, or an open stream to relay. Raises APIError 503 while the server is unavailable,
        and for an upstream error its 4xx status, else 502 (``upstream_error``)."""
        ctx = call.ctx
        sent = time.perf_counter()
        try:
            if stream:
                upstream = await self.open_stream(path, body, ctx.request_id)
                return Relayed(self, upstream, time.perf_counter() - sent, body, include_usage=include_usage)
            data, usage, seconds = await self.post(path, body, ctx.request_id)
        except Unavailable as error:
            raise unavailable(error) from None
        except UpstreamError as error:
            status = error.status if 400 <= error.status < 500 else 502
            raise APIError(status, error.message, code="upstream_error") from None
        ctx.upstream_s = time.perf_counter() - sent
        return Finished(
            usage.prompt_tokens,
            lambda cost, headers: JSONResponse(data, headers=headers),
            units_out=usage.completion_tokens,
            compute_seconds=seconds,
        )
