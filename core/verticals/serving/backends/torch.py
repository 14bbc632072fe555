"""The torch backend: a model's predictor, loaded once in process, behind a dynamic batcher.

Each request item goes through the model's input adapter (its payload door only: a customer's
string is data, never a path), then the batcher. Units are counted exactly, by the predictor,
before the model runs, so admission holds what the request will use; a chat model may answer as
many tokens as ``max_tokens`` allows, or without it as many as its prompt has.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError, PayloadReader
from verticals.models import ModelSpec, Predictor, Task
from verticals.serving.backends.base import (
    Demand,
    Inference,
    ModelBackend,
    Transcription,
    Unavailable,
    one_choice,
    unavailable,
)
from verticals.serving.backends.batcher import BatchResult, DynamicBatcher
from verticals.serving.calls import Answer, Call, Finished
from verticals.serving.errors import APIError
from verticals.serving.openai.answers import (
    chat_answer,
    completion_answer,
    embeddings_answer,
    transcription_answer,
)
from verticals.serving.openai.protocol import ChatRequest, CompletionRequest, EmbeddingRequest

log = logging.getLogger("verticals.serving")


class TorchBackend(ModelBackend):
    """Serve ``spec`` in process. ``model_dir`` is the store's prepared folder (None for builtin://);
    ``reader`` is the payload door of the model's input adapter (None: items are used as sent); the batcher
    takes up to ``max_batch_size`` items, waiting at most ``max_wait_ms`` milliseconds for more.

    Raises ValueError for a spec without a predictor.
    """

    def __init__(
        self,
        spec: ModelSpec,
        model_dir: Path | None,
        *,
        reader: PayloadReader | None = None,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        device_class: str = "cpu",
    ) -> None:
        if spec.predictor is None:
            raise ValueError(f"model {spec.name!r} has no predictor; the torch backend needs one")
        self.spec = spec
        self.device_class = device_class
        self.model_dir = model_dir
        self.reader = reader
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
        return self.predictor.served_version or self.spec.version

    @property
    def ready(self) -> bool:
        """True once ``start`` loaded the model, until ``stop``."""
        return self._loaded

    async def start(self) -> None:
        """Load the predictor's weights from ``model_dir`` in a worker thread, then start the batcher; a load
        failure is kept (``run`` names it) and re-raised.
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

    def worst_case(self, demand: Demand) -> float:
        """The prompts' units plus, for each answer, its ``answer_limit``: exact, in the spec's unit."""
        return sum(p + demand.answers * self.answer_limit(demand.max_tokens, p) for p in demand.prompts)

    @staticmethod
    def answer_limit(max_tokens: int | None, units_in: float) -> int:
        """The most tokens an in-process chat model may answer: ``max_tokens``, or without it as many as the
        prompt has (echo/chat's answer is part of its prompt)."""
        return max_tokens if max_tokens is not None else math.ceil(units_in)

    async def chat(self, call: Call, body: ChatRequest) -> Answer:
        """One chat answer (n must be 1); the predictor gets ``{"messages", "max_tokens"}``."""
        one_choice(self.spec.name, body.n)
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        items = await self.adapt(messages, param="messages")
        item = items[0] if len(items) == 1 else items
        units_in = self.units(item)
        max_tokens = body.max_completion_tokens or body.max_tokens
        await call.admit(self.worst_case(Demand((units_in,), 1, max_tokens)))
        limit = self.answer_limit(max_tokens, units_in)
        result = await self.run({"messages": item, "max_tokens": limit}, param="messages")
        text = str(to_jsonable(result.output))
        units_out = self.units([{"role": "assistant", "content": text}])
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        render = chat_answer(
            call.ctx.request_id,
            self.spec.name,
            text,
            "stop",
            (units_in, units_out),
            stream=body.stream,
            include_usage=include_usage,
        )
        return Finished(
            units_in,
            render,
            units_out=units_out,
            compute_seconds=result.compute_seconds,
            queue_seconds=result.queue_seconds,
            stream=body.stream,
        )

    async def complete(self, call: Call, body: CompletionRequest) -> Answer:
        """One answer per prompt (n must be 1); a chat model answers each prompt as one user message."""
        one_choice(self.spec.name, body.n)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        chat = self.spec.task is Task.CHAT
        items: list[Any] = [[{"role": "user", "content": p}] if chat else p for p in prompts]
        units = [self.units(item) for item in items]
        await call.admit(self.worst_case(Demand(tuple(units), 1, body.max_tokens)))
        if chat:
            items = [
                {"messages": item, "max_tokens": self.answer_limit(body.max_tokens, u)}
                for item, u in zip(items, units, strict=True)
            ]
        results = await self.run_many(items, param="prompt")
        texts = [str(to_jsonable(r.output)) for r in results]
        units_in = sum(units)
        units_out = sum(self.units([{"role": "assistant", "content": t}]) for t in texts)
        render = completion_answer(
            call.ctx.request_id,
            self.spec.name,
            texts,
            "stop",
            (units_in, units_out),
            stream=body.stream,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
        )
        return Finished(
            units_in,
            render,
            units_out=units_out,
            compute_seconds=sum(r.compute_seconds for r in results),
            queue_seconds=max(r.queue_seconds for r in results),
            stream=body.stream,
        )

    async def embed(self, call: Call, body: EmbeddingRequest) -> Answer:
        """One vector per input text; 400 when ``dimensions`` is not the model's."""
        texts = [body.input] if isinstance(body.input, str) else body.input
        items: list[Any] = []
        for text in texts:
            items.extend(await self.adapt(text, param="input"))
        units_in = sum(self.units(item) for item in items)
        await call.admit(self.worst_case(Demand((units_in,))))
        results = await self.run_many(items, param="input")
        vectors = [[float(x) for x in to_jsonable(r.output)] for r in results]
        if body.dimensions is not None and vectors and body.dimensions != len(vectors[0]):
            raise APIError(
                400,
                f"the model {self.spec.name!r} gives {len(vectors[0])} dimensions, not {body.dimensions}; "
                "leave out `dimensions`",
                param="dimensions",
            )
        return Finished(
            units_in,
            embeddings_answer(self.spec.name, vectors, units_in, body.encoding_format),
            compute_seconds=sum(r.compute_seconds for r in results),
            queue_seconds=max(r.queue_seconds for r in results),
        )

    async def transcribe(self, call: Call, audio: bytes, form: Transcription) -> Answer:
        """The text of ``audio``; the predictor's output is the text, or ``{"text", "duration"}``."""
        items = await self.adapt(audio, param="file")
        item = items[0] if len(items) == 1 else items
        units_in = self.units(item)
        await call.admit(self.worst_case(Demand((units_in,))))
        result = await self.run(item, param="file")
        output = to_jsonable(result.output)
        text = output.get("text", "") if isinstance(output, dict) else str(output)
        duration = output.get("duration") if isinstance(output, dict) else None
        return Finished(
            units_in,
            transcription_answer(text, duration, form.response_format, form.language),
            compute_seconds=result.compute_seconds,
            queue_seconds=result.queue_seconds,
        )

    async def infer(
        self, call: Call, items: list[Any], parameters: dict[str, Any], *, where: Sequence[str] = ()
    ) -> Inference:
        """One output per item (each item may adapt into several model inputs), batched together; an item
        the adapter refuses is named by ``where`` (its tensor element) in the 400."""
        inputs: list[Any] = []
        origins: list[str | None] = []  # the request item each model input came from
        for index, raw in enumerate(items):
            origin = where[index] if where else None
            adapted = await self.adapt(raw, param="inputs", where=origin)
            inputs.extend(adapted)
            origins.extend([origin] * len(adapted))
        units_in = sum(self.units(item) for item in inputs)
        await call.admit(self.worst_case(Demand((units_in,))))
        results = await self.run_many(inputs, param="inputs", where=origins)
        return Inference(
            [to_jsonable(r.output) for r in results],
            units_in,
            compute_seconds=sum(r.compute_seconds for r in results),
            queue_seconds=max(r.queue_seconds for r in results),
        )

    async def adapt(self, item: Any, *, param: str | None = None, where: str | None = None) -> list[Any]:
        """One request item as the model's inputs, through the payload door of its input adapter.

        ``item`` comes from a customer: a string in it is data, never a path or a URL the server should
        open. Raises APIError 400 (``invalid_input``) for what the adapter refuses or when it yields
        nothing, its message starting with ``where`` (the item's place in the request, such as
        ``input 'x' element 3``) when given.
        """
        if self.reader is None:
            return [item]
        prefix = f"{where}: " if where else ""
        try:
            # Decoding an image or audio file takes milliseconds: keep it off the event loop.
            values = await asyncio.to_thread(self.reader, item)
        except AdapterError as error:
            raise APIError(400, f"{prefix}{error}", code="invalid_input", param=param) from None
        if not isinstance(values, list) or not values:
            raise APIError(
                400,
                f"{prefix}the input gave the model {self.spec.name!r} nothing to work on",
                code="invalid_input",
                param=param,
            )
        return values

    def units(self, item: Any) -> float:
        """The billable units of ``item`` (tokens, images, ... as the spec's unit says) by the predictor's
        ``units``; 1.0 when that raises, so a request is never free by accident.
        """
        try:
            return float(self.predictor.units(item))
        except Exception:
            return 1.0

    async def run(self, item: Any, *, param: str | None = None, where: str | None = None) -> BatchResult:
        """One adapted item through the batcher. Raises APIError: 400 for input the model refuses (its
        message starting with ``where``, the item's place in the request, when given), 503 while it is not
        loaded (naming the load error, if any), 500 ``model_error`` when it fails or answers a NaN or an
        infinity."""
        if not self._loaded:
            detail = f" (it failed to load: {self._load_error})" if self._load_error else ""
            raise unavailable(Unavailable(f"model {self.spec.name!r} is not loaded{detail}; retry shortly"))
        try:
            result = await self.batcher.submit(item)
        except AdapterError as error:
            prefix = f"{where}: " if where else ""
            raise APIError(400, f"{prefix}{error}", code="invalid_input", param=param) from None
        except Exception as error:
            # The exception's text can hold anything the model read (a file, a table): it goes to the
            # operator's log, and the customer gets only its type and the request id to report.
            log.exception("the model %r failed on an input", self.spec.name)
            raise APIError(
                500,
                f"the model {self.spec.name!r} failed on this input ({type(error).__name__}); "
                "report it to the operator with the x-request-id",
                code="model_error",
            ) from None
        bad = non_finite(result.output)
        if bad is not None:
            # No JSON response can carry it, and no client can use it: a model fault, never billed.
            raise APIError(
                500,
                f"the model {self.spec.name!r} answered {bad}, which is not a finite number, for this "
                "input; report it to the operator with the x-request-id",
                code="model_error",
            )
        return result

    async def run_many(
        self, items: list[Any], *, param: str | None = None, where: Sequence[str | None] = ()
    ) -> list[BatchResult]:
        """All items submitted at once, so the batcher can put them in one batch; ``where[i]`` names item
        ``i`` in the errors it causes (see ``run``)."""
        places = list(where) or [None] * len(items)
        runs = (self.run(item, param=param, where=place) for item, place in zip(items, places, strict=True))
        return list(await asyncio.gather(*runs))


def to_jsonable(value: Any) -> Any:
    """numpy arrays and torch tensors to lists; everything else as it is."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return value


def non_finite(value: Any) -> str | None:
    """The first NaN or infinity in a model output (numbers, lists, dicts, arrays, tensors), spelled
    as JSON would (``NaN``, ``Infinity``, ``-Infinity``), else None."""
    value = to_jsonable(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    inner = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else ()
    for part in inner:
        found = non_finite(part)
        if found is not None:
            return found
    return None
