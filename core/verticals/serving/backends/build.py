"""Building one backend per registered model, by its kind and its ``[models."NAME"]`` settings.

Per-model settings come from ``[models."NAME"]`` in ``verticals.toml``, typed and checked when read
(``verticals.model_settings.ModelSettings``): ``url`` (an external vLLM OpenAI server, e.g.
``http://host:8000/v1``), ``served_name`` (its model name there), ``device_class`` (for the cost book),
``max_batch_size`` and ``max_wait_ms`` (torch), ``max_model_len``, ``port``, ``vllm_args`` (extra
command-line arguments) and ``nice`` (local vLLM).
"""

from __future__ import annotations

import logging
from pathlib import Path

from verticals.models import Backend, ModelSpec
from verticals.serving.backends import ModelBackend
from verticals.serving.backends.torch import TorchBackend
from verticals.serving.backends.transformers import TransformersBackend
from verticals.serving.backends.vllm import leftovers
from verticals.serving.backends.vllm.proxy import VLLMBackend
from verticals.serving.backends.vllm.server import vllm_available
from verticals.serving.backends.vllm.supervisor import ServerLike, Supervisor
from verticals.serving.capacity import supervisor_hook
from verticals.serving.gateway import Gateway

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

    Raises StoreError when the model's files are not in the store and cannot (or may not) be pulled. The
    settings were checked when read (ConfigError), so their values are within bounds here.
    """
    override = gateway.settings.model_settings(spec.name)
    options = gateway.options
    device = override.device_class
    if spec.backend is Backend.TORCH:
        return TorchBackend(
            spec,
            model_dir(gateway, spec),
            reader=gateway.registry.payload_reader(spec),
            max_batch_size=override.max_batch_size or options.max_batch_size,
            max_wait_ms=override.max_wait_ms if override.max_wait_ms is not None else options.max_wait_ms,
            device_class=device,
        )
    if override.url is not None:
        return VLLMBackend(
            spec,
            base_url=override.url,
            served_name=override.served_name,
            device_class=device,
            default_max_tokens=options.default_max_tokens,
        )
    folder = model_dir(gateway, spec)
    assert folder is not None
    if not vllm_available():
        return TransformersBackend(spec, folder, device_class=device)
    port = override.port or options.vllm_port_base + index
    log_path = gateway.settings.home / "logs" / f"vllm-{spec.name.replace('/', '-')}.log"
    max_len = override.max_model_len
    extra_args = override.vllm_args
    nice = override.nice

    def factory() -> ServerLike:
        from verticals.serving.backends.vllm.server import VLLMServer

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

    supervisor = Supervisor(
        spec.name,
        factory,
        on_capacity=supervisor_hook(gateway, spec.name, device),
        on_restart=lambda: restarted(gateway, spec.name),
    )
    return VLLMBackend(
        spec, supervisor=supervisor, device_class=device, default_max_tokens=options.default_max_tokens
    )


def restarted(gateway: Gateway, model: str) -> None:
    """A supervisor restarted ``model``'s server: count it (``verticals_backend_restarts``) and tell the
    gateway's backend listeners (alerts)."""
    gateway.metrics.restarts.labels(model).inc()
    gateway.backend_changed(model)
