"""Building and starting one backend per registered model, and recording the gateway's capacity.

Per-model settings come from ``[models."NAME"]`` in ``verticals.toml``:
``url`` (an external vLLM OpenAI server, e.g. ``http://host:8000/v1``), ``served_name`` (its model
name there), ``device_class`` (for the cost book), ``max_batch_size`` and ``max_wait_ms`` (torch),
``max_model_len``, ``port`` and ``vllm_args`` (extra command-line arguments, local vLLM).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verticals.models import Backend, ModelSpec
from verticals.serving import leftovers
from verticals.serving.backends import ModelBackend
from verticals.serving.backends.torch_backend import TorchBackend
from verticals.serving.backends.transformers_backend import TransformersBackend
from verticals.serving.backends.vllm_proxy import VLLMBackend
from verticals.serving.gateway import Gateway
from verticals.serving.supervisor import ServerLike, Supervisor
from verticals.serving.vllm_engine import ENGINE_NICE, vllm_available

log = logging.getLogger("verticals.serving")


def model_dir(gateway: Gateway, spec: ModelSpec) -> Path | None:
    """The store's prepared folder for ``spec``, pulled first if missing and allowed."""
    # Not ``spec.needs_files``: a builtin model with a preparation step (the trained vision, finance
    # and health models) gets None and finds its weights itself, so that a configured `checkpoint`
    # override is honoured before the store's promoted or pulled version.
    if spec.source.startswith("builtin://"):
        return None
    from verticals.store import ModelStore, StoreError

    store = ModelStore.from_settings(gateway.settings)
    try:
        return store.path(spec.name)
    except StoreError:
        if not gateway.options.pull_missing:
            raise
    log.info("pulling %s into %s", spec.name, store.cache_dir)
    return store.pull(spec)


def build_backends(gateway: Gateway) -> dict[str, ModelBackend]:
    """A backend for each registered model (only those in ``options.models`` when set), by name; a model whose
    backend cannot be built is logged and left out.
    """
    backends: dict[str, ModelBackend] = {}
    for index, (name, registered) in enumerate(sorted(gateway.registry.models.items())):
        spec = registered.item
        if gateway.options.models is not None and name not in gateway.options.models:
            continue
        try:
            backends[name] = build_backend(gateway, spec, index)
        except Exception as error:
            log.error("model %s will not be served: %s", name, error)
    return backends


def build_backend(gateway: Gateway, spec: ModelSpec, index: int = 0) -> ModelBackend:
    """The backend for ``spec``, by its ``[models."NAME"]`` overrides: TorchBackend for a torch model, a
    VLLMBackend proxy to ``url`` when one is set, a supervised local vLLM server (port ``vllm_port_base +
    index`` unless ``port`` is set) when vLLM is installed, else TransformersBackend.

    Raises ValueError for a ``nice`` outside 0-19, and StoreError when the model's files are not in the store
    and cannot (or may not) be pulled.
    """
    override: dict[str, Any] = gateway.settings.model_override(spec.name)
    options = gateway.options
    if spec.backend is Backend.TORCH:
        return TorchBackend(
            spec,
            model_dir(gateway, spec),
            max_batch_size=int(override.get("max_batch_size", options.max_batch_size)),
            max_wait_ms=float(override.get("max_wait_ms", options.max_wait_ms)),
            device_class=str(override.get("device_class", "cpu")),
        )
    if "url" in override:
        return VLLMBackend(
            spec,
            base_url=str(override["url"]),
            served_name=override.get("served_name"),
            device_class=str(override.get("device_class", "cpu")),
        )
    folder = model_dir(gateway, spec)
    assert folder is not None
    if not vllm_available():
        return TransformersBackend(spec, folder, device_class=str(override.get("device_class", "cpu")))
    port = int(override.get("port", options.vllm_port_base + index))
    log_path = gateway.settings.home / "logs" / f"vllm-{spec.name.replace('/', '-')}.log"
    max_len = int(override.get("max_model_len", 2048))
    extra_args = tuple(str(arg) for arg in override.get("vllm_args", ()))
    nice = int(override.get("nice", ENGINE_NICE))
    if not 0 <= nice <= 19:
        raise ValueError(f"nice = {nice} for {spec.name}: use 0 (the gateway's priority) to 19 (the lowest)")

    def factory() -> ServerLike:
        from verticals.serving.vllm_engine import VLLMServer

        log_path.parent.mkdir(parents=True, exist_ok=True)
        server: ServerLike = VLLMServer(
            folder,
            spec.name,
            port,
            log_path=log_path,
            max_model_len=max_len,
            extra_args=extra_args,
            nice=nice,
            run_file=leftovers.run_file(gateway.settings.home, spec.name),
        )
        return server

    device = str(override.get("device_class", "cpu"))
    supervisor = Supervisor(
        spec.name,
        factory,
        on_capacity=_capacity_hook(gateway, spec.name, device),
        on_restart=lambda: gateway.metrics.restarts.labels(spec.name).inc(),
    )
    return VLLMBackend(spec, supervisor=supervisor, device_class=device)


def _capacity_hook(
    gateway: Gateway, model: str, device: str
) -> Callable[[str, datetime, datetime | None], None]:
    def record(instance: str, up_at: datetime, down_at: datetime | None) -> None:
        recorder = getattr(gateway.ledger, "record_capacity", None)
        if recorder is not None:
            recorder(instance, model, device, up_at, down_at)

    return record


async def start_backends(gateway: Gateway) -> None:
    """Stop servers a killed gateway of this home left behind, then start every backend at once; one that
    fails is logged and reported as down in ``verticals_backend_up`` instead of stopping the others.
    """
    # Servers a killed gateway of this home left running hold memory and ports: stop them first,
    # also those of models this gateway does not serve (each server clears its own port anyway).
    await asyncio.to_thread(leftovers.stop_all, gateway.settings.home)

    async def start(name: str, backend: ModelBackend) -> None:
        try:
            await backend.start()
            gateway.metrics.backend_up.labels(name).set(1)
        except Exception as error:
            log.error("the backend of %s did not start: %s", name, error)
            gateway.metrics.backend_up.labels(name).set(0)

    await asyncio.gather(*(start(name, backend) for name, backend in gateway.backends.items()))


def record_gateway_capacity(gateway: Gateway) -> Callable[[], None]:
    """Open capacity records for what this gateway serves with; returns the function that closes them.

    One record for the CPU this process runs torch models on, and one per external vLLM ``url``:
    this gateway does not run that server, but it is paid for while the gateway routes to it, and
    without a record its idle time would cost nothing in the ledger. (Local vLLM servers are
    recorded by their supervisor, per process, restarts included.)
    """
    recorder = getattr(gateway.ledger, "record_capacity", None)
    if recorder is None:
        return lambda: None
    records: list[tuple[str, str, str]] = []  # (instance id, model, device class)
    torch_models = [b for b in gateway.backends.values() if isinstance(b, TorchBackend)]
    if torch_models:
        instance = f"gateway-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        records.append((instance, "torch", torch_models[0].device_class))
    for name, backend in sorted(gateway.backends.items()):
        if isinstance(backend, VLLMBackend) and backend.supervisor is None:
            records.append((f"url-{backend.base_url}-{uuid.uuid4().hex[:6]}", name, backend.device_class))
    up_at = datetime.now(UTC)
    opened: list[tuple[str, str, str]] = []
    for record in records:
        try:
            recorder(*record, up_at, None)
            opened.append(record)
        except Exception as error:
            log.warning("capacity of %s not recorded: %s", record[0], error)

    def close() -> None:
        down_at = datetime.now(UTC)
        for record in opened:
            try:
                recorder(*record, up_at, down_at)
            except Exception as error:
                log.warning("capacity of %s not closed: %s", record[0], error)

    return close
