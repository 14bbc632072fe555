"""Running one request item through a torch model: input adapter, batcher, error mapping."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from verticals.adapters import AdapterError
from verticals.models import ModelSpec
from verticals.registry import Registry
from verticals.serving.backends import Unavailable
from verticals.serving.backends.torch_backend import TorchBackend
from verticals.serving.batcher import BatchResult
from verticals.serving.errors import APIError
from verticals.serving.gateway import unavailable

log = logging.getLogger("verticals.serving")


async def adapt(registry: Registry, spec: ModelSpec, item: Any, *, param: str | None = None) -> list[Any]:
    """Turn one request item into the model's inputs through its ``input_adapter``, if it has one.

    Only the adapter's payload door (``read_payload``) is called: ``item`` comes from a customer, and
    a string in it is data, never a path or a URL the server should open.
    """
    reader = registry.payload_reader(spec)
    if reader is None:
        return [item]
    try:
        # Decoding an image or audio file takes milliseconds: keep it off the event loop.
        values = await asyncio.to_thread(reader, item)
    except AdapterError as error:
        raise APIError(400, str(error), code="invalid_input", param=param) from None
    if not isinstance(values, list) or not values:
        raise APIError(
            400,
            f"the input gave the model {spec.name!r} nothing to work on",
            code="invalid_input",
            param=param,
        )
    return values


async def infer(backend: TorchBackend, item: Any, *, param: str | None = None) -> BatchResult:
    """One item through the model. Raises ``APIError``: 400 for input the model refuses, 503 when it
    is unavailable, 500 ``model_error`` when it fails or answers a NaN or an infinity."""
    try:
        result = await backend.infer(item)
    except AdapterError as error:
        raise APIError(400, str(error), code="invalid_input", param=param) from None
    except Unavailable as error:
        raise unavailable(error) from None
    except Exception as error:
        # The exception's text can hold anything the model read (a file, a table): it goes to the
        # operator's log, and the customer gets only its type and the request id to report.
        log.exception("the model %r failed on an input", backend.spec.name)
        raise APIError(
            500,
            f"the model {backend.spec.name!r} failed on this input ({type(error).__name__}); "
            "report it to the operator with the x-request-id",
            code="model_error",
        ) from None
    bad = non_finite(result.output)
    if bad is not None:
        # No JSON response can carry it, and no client can use it: a model fault, never billed.
        raise APIError(
            500,
            f"the model {backend.spec.name!r} answered {bad}, which is not a finite number, for this "
            "input; report it to the operator with the x-request-id",
            code="model_error",
        )
    return result


async def infer_many(
    backend: TorchBackend, items: list[Any], *, param: str | None = None
) -> list[BatchResult]:
    """Submit all items at once so the batcher can put them in one batch."""
    return list(await asyncio.gather(*(infer(backend, item, param=param) for item in items)))


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
