"""``create_app``: the gateway's FastAPI app, ready for uvicorn.

The app's lifespan starts every backend (torch models load in process, vllm models get a supervised
server or their configured URL) and, on shutdown, stops them and flushes the ledger. uvicorn stops
accepting connections and waits for requests in flight before the lifespan ends, so SIGTERM or
SIGINT drains first.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from verticals import __version__
from verticals.config import Settings
from verticals.registry import Registry
from verticals.serving.backends import ModelBackend
from verticals.serving.backends.vllm import leftovers
from verticals.serving.errors import install_error_handlers
from verticals.serving.gateway import Gateway, ServingOptions
from verticals.serving.limits import build_limits
from verticals.serving.metering import LedgerLike
from verticals.serving.metrics import CONTENT_TYPE
from verticals.serving.middleware import GatewayMiddleware
from verticals.serving.reload import PluginReloader

log = logging.getLogger("verticals.serving")

DESCRIPTION = """verticals serves every registered model over the OpenAI API (`/v1/...`) and the Open
Inference Protocol v2 (`/v2/...`). Send `Authorization: Bearer vk_...` (a key from `verticals keys create`).

A model name with a slash goes into a v2 path as is (`/v2/models/tabular/linear/infer`) or URL-encoded
(`/v2/models/tabular%2Flinear/infer`). Every error is `{"error": {"type", "message", "param", "code"}}`.
Each response carries `x-request-id` and, when its cost is known before the body, `x-verticals-cost-usd`."""


def freeze_startup_heap() -> None:
    """Take what startup built (modules, the registry, loaded models) out of the garbage collector's scans.

    It lives as long as the process, yet every full collection walked all of it with the event loop
    stopped: measured under a streaming load, a full collection came every ~10 s and took 60 ms, and
    every request in flight waited for it. Frozen, the same collections take 3 ms. vLLM's engine does
    the same after its startup.
    """
    gc.collect()
    gc.freeze()


def thaw_startup_heap() -> None:
    """Undo ``freeze_startup_heap`` at shutdown and collect: frozen objects are never collected, so
    without this, cycles still holding extension objects at exit outlive their modules, and nanobind
    extensions (triton's, imported by torch) print ~30 lines of "nanobind: leaked ..." as the
    process ends. An orderly teardown frees them first. For the process that ends with its gateway
    (``verticals serve`` calls it at shutdown); a gateway stopped inside a longer-lived process (a test)
    leaves the heap frozen for the others.
    """
    gc.unfreeze()
    gc.collect()


def create_app(
    settings: Settings,
    registry: Registry,
    ledger: LedgerLike,
    *,
    admin_token: str,
    options: ServingOptions | None = None,
    backends: dict[str, ModelBackend] | None = None,
    close_ledger: bool = False,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the gateway. ``backends`` defaults to one per registered model (see ``build_backends``)."""
    gateway = Gateway(
        settings=settings,
        registry=registry,
        ledger=ledger,
        admin_token=admin_token,
        options=options or ServingOptions(),
        # Redis when settings.redis_url is set (shared by replicas), else in process
        limits=build_limits(settings),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from verticals.alerts import start_alerts
        from verticals.serving.backends.build import build_backends
        from verticals.serving.capacity import record_gateway_capacity

        gateway.follow_ledger_changes(asyncio.get_running_loop())  # other replicas' changes, within 1 s
        gateway.backends = backends if backends is not None else build_backends(gateway)
        await start_backends(gateway)
        capacity = record_gateway_capacity(gateway)
        # alerts run beside the routes, never on a request's path (see verticals.alerts)
        app.state.alerts = start_alerts(gateway)
        freeze_startup_heap()
        try:
            yield
        finally:
            gateway.draining = True
            if app.state.alerts is not None:
                await app.state.alerts.stop()
            for name, backend in gateway.backends.items():
                try:
                    await backend.stop()
                except Exception:
                    log.exception("stopping the backend of %s failed", name)
            capacity()
            reloader.close()
            try:
                await gateway.limits.close()  # settles queued while Redis was unreachable go out now
            except Exception:
                log.exception("closing the rate limits and budgets failed")
            flush = getattr(ledger, "flush", None)
            if flush is not None:
                flush()
            if close_ledger:
                close = getattr(ledger, "close", None)
                if close is not None:
                    close()
            if on_shutdown is not None:
                on_shutdown()

    app = FastAPI(title="verticals gateway", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.gateway = gateway
    reloader = app.state.plugins = PluginReloader(gateway)  # POST /admin/plugins/reload
    install_error_handlers(app)
    app.add_middleware(GatewayMiddleware, gateway=gateway)

    from verticals.serving.admin import plugins as plugins_router
    from verticals.serving.admin import router as admin_router
    from verticals.serving.openai import router as openai_router
    from verticals.serving.openai import usage as usage_router
    from verticals.serving.v2 import router as v2_router

    app.include_router(openai_router.router)
    app.include_router(usage_router.router)
    app.include_router(v2_router.router)
    app.include_router(admin_router.router)
    app.include_router(plugins_router.router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(gateway.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    async def root() -> dict[str, Any]:
        return {"name": "verticals", "version": __version__, "openapi": "/openapi.json", "docs": "/docs"}

    return app


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
