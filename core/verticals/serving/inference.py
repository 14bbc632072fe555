"""Running one request item through a torch model: input adapter, batcher, error mapping."""

from __future__ import annotations

import asyncio
from typing import Any

from verticals.adapters import AdapterError
from verticals.models import ModelSpec
from verticals.registry import Registry
from verticals.serving.backends import Unavailable
from verticals.serving.backends.torch_backend import TorchBackend
from verticals.serving.batcher import BatchResult
from verticals.serving.errors import APIError
from verticals.serving.gateway import unavailable


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
    try:
        return await backend.infer(item)
    except AdapterError as error:
        raise APIError(400, str(error), code="invalid_input", param=param) from None
    except Unavailable as error:
        raise unavailable(error) from None
    except Exception as error:
        raise APIError(
            500,
            f"the model {backend.spec.name!r} failed on this input ({type(error).__name__}: "
            f"{error}); report it to the operator with the x-request-id",
            code="model_error",
        ) from error


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
