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
    """What the gateway needs of a model's backend (torch in process, vLLM proxy, transformers fallback): its
    ``spec``, the ``device_class`` its compute is priced at, readiness, version, start and stop.
    """

    spec: ModelSpec
    device_class: str

    @property
    def ready(self) -> bool:
        """True while the backend can take requests; the routes answer 503 otherwise."""
        ...

    @property
    def version(self) -> str:
        """The model version this backend serves, recorded on every usage event."""
        ...

    async def start(self) -> None:
        """Load or launch the model, before the gateway takes requests; raises when it cannot (the gateway
        logs it and leaves the model unserved).
        """
        ...

    async def stop(self) -> None:
        """Release the model (stop servers, close sessions) at shutdown."""
        ...
