"""The torch backend: a model's predictor, loaded once in process, behind a dynamic batcher."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from verticals.models import ModelSpec, Predictor
from verticals.serving.backends import Unavailable
from verticals.serving.batcher import BatchResult, DynamicBatcher


class TorchBackend:
    """Serve ``spec`` in process. ``model_dir`` is the store's prepared folder (None for builtin://)."""

    def __init__(
        self,
        spec: ModelSpec,
        model_dir: Path | None,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        device_class: str = "cpu",
    ) -> None:
        if spec.predictor is None:
            raise ValueError(f"model {spec.name!r} has no predictor; the torch backend needs one")
        self.spec = spec
        self.device_class = device_class
        self.model_dir = model_dir
        self.predictor: Predictor = spec.predictor()
        self.batcher = DynamicBatcher(
            self.predictor.predict,
            units=self.predictor.units,
            max_batch_size=max_batch_size,
            max_wait_s=max_wait_ms / 1000.0,
            name=spec.name.replace("/", "-"),
        )
        self._loaded = False
        self._load_error: str | None = None

    @property
    def version(self) -> str:
        """The version the predictor loaded (a trained model's promoted store version), else the spec's."""
        # a trained model's predictor knows which stored version it loaded (the promoted one)
        return self.predictor.served_version or self.spec.version

    @property
    def ready(self) -> bool:
        """True once ``start`` loaded the model, until ``stop``."""
        return self._loaded

    async def start(self) -> None:
        """Load the predictor's weights from ``model_dir`` in a worker thread, then start the batcher; a load
        failure is kept (``infer`` names it) and re-raised.
        """
        try:
            # Loading weights can take seconds: keep it off the event loop.
            await asyncio.get_running_loop().run_in_executor(None, self.predictor.load, self.model_dir)
        except Exception as error:
            self._load_error = f"{type(error).__name__}: {error}"
            raise
        self._loaded = True
        self.batcher.start()

    async def stop(self) -> None:
        """Stop the batcher (items still queued are dropped) and mark the backend not ready."""
        await self.batcher.stop()
        self._loaded = False

    async def infer(self, item: Any) -> BatchResult:
        """Run one adapted item through the dynamic batcher; its output with compute and queue seconds. Raises
        Unavailable (naming the load error, if any) while the model is not loaded, and what ``predict``
        raised for this item.
        """
        if not self._loaded:
            detail = f" (it failed to load: {self._load_error})" if self._load_error else ""
            raise Unavailable(f"model {self.spec.name!r} is not loaded{detail}; retry shortly")
        return await self.batcher.submit(item)

    def units(self, item: Any) -> float:
        """The billable units of ``item`` (tokens, images, ... as the spec's unit says) by the predictor's
        ``units``; 1.0 when that raises, so a request is never free by accident.
        """
        try:
            return float(self.predictor.units(item))
        except Exception:
            return 1.0
