"""Model backends: ``torch`` runs a predictor in process, ``vllm`` proxies to a vLLM OpenAI server."""

from __future__ import annotations

from typing import Protocol

from verticals.models import ModelSpec


class Unavailable(Exception):
    """The backend cannot take requests right now (starting, or restarting after a crash)."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelBackend(Protocol):
    spec: ModelSpec
    device_class: str

    @property
    def ready(self) -> bool: ...

    @property
    def version(self) -> str:
        """The model version this backend serves, recorded on every usage event."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
