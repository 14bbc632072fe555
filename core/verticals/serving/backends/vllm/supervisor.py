"""The supervisor: keeps a local vLLM server up, restarts it with backoff, records its capacity.

Every ``check_interval_s`` it checks that the process lives and answers ``/health``. When either
fails, the backend is marked down (requests arriving get 503 with ``Retry-After``; requests already
accepted wait for the restart and are retried), the instance's capacity record is closed, and a new
server is started, waiting 1, 2, 4, ... up to ``max_backoff_s`` seconds between failed attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import httpx

log = logging.getLogger("verticals.serving")


class ServerLike(Protocol):
    """What ``verticals.serving.backends.vllm.server.VLLMServer`` offers."""

    @property
    def base_url(self) -> str:
        """The server's OpenAI API root, e.g. ``http://127.0.0.1:PORT/v1``."""
        ...

    def start(self) -> None:
        """Launch the server process; returns without waiting for it to be ready."""
        ...

    def wait_ready(self, timeout: float) -> None:
        """Block until the server answers its health check, ``timeout`` seconds at most; raise if it dies or
        the time runs out.
        """
        ...

    def stop(self) -> None:
        """Stop the server process (and its children); calling it on a stopped server does nothing."""
        ...

    def is_alive(self) -> bool:
        """True while the server process runs (it may still be loading)."""
        ...


CapacityHook = Callable[[str, datetime, datetime | None], None]


class Supervisor:
    """Keeps the vLLM server of model ``name`` (made by ``factory``) up: health check every
    ``check_interval_s`` seconds, restart with backoff (1, 2, 4, ... up to ``max_backoff_s`` seconds),
    ``start_timeout_s`` seconds for a server to become ready.

    ``on_capacity(instance_id, up_at, down_at)`` (UTC; ``down_at`` None while it runs) records each instance's
    capacity; ``on_restart`` runs after a restart.
    """

    def __init__(
        self,
        name: str,
        factory: Callable[[], ServerLike],
        *,
        on_capacity: CapacityHook | None = None,
        on_restart: Callable[[], None] | None = None,
        check_interval_s: float = 2.0,
        start_timeout_s: float = 300.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.name = name
        self._factory = factory
        self._on_capacity = on_capacity
        self._on_restart = on_restart
        self.check_interval_s = check_interval_s
        self.start_timeout_s = start_timeout_s
        self.max_backoff_s = max_backoff_s
        self.server: ServerLike | None = None
        self.restarts = 0
        self._ready = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._instance: tuple[str, datetime] | None = None
        self._stopping = False
        # One client for every health check: building one loads the TLS trust store, about 30 ms
        # of CPU that stalled the event loop (and every request on it) at each check.
        self._http: httpx.AsyncClient | None = None

    @property
    def ready(self) -> bool:
        """True while the server answers its health checks; false before the first start, while it is down and
        after ``stop``.
        """
        return self._ready.is_set()

    @property
    def base_url(self) -> str:
        """The server's OpenAI API root without a trailing slash; raises RuntimeError before the first server
        was made.
        """
        if self.server is None:
            raise RuntimeError(f"the vLLM server for {self.name!r} has not been started")
        return self.server.base_url.rstrip("/")

    async def start(self) -> None:
        """Start the server, wait until it is ready (``start_timeout_s`` seconds at most), then watch it in a
        background task; what the server's ``start`` / ``wait_ready`` raise (EngineError for vLLM)
        propagates.
        """
        # Made here, before the gateway takes requests: the first health check would otherwise
        # build it and stall the loop (16 ms, measured) with requests in flight.
        self._http = httpx.AsyncClient(timeout=5.0)
        await self._launch()
        self._watch = asyncio.get_running_loop().create_task(self._watch_loop())

    async def wait_ready(self, timeout: float, *, after_failure: bool = False) -> bool:
        """Wait until the server takes requests. ``after_failure``: a request just failed, so check now."""
        if after_failure and self.ready and not await self._healthy():
            self._mark_down("a request found the server gone")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Stop watching, mark the backend down (closing its capacity record), stop the server and close the
        health-check client.
        """
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        self._mark_down("stopped", planned=True)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _launch(self) -> None:
        server = self._factory()
        self.server = server
        await asyncio.to_thread(server.start)
        await asyncio.to_thread(server.wait_ready, self.start_timeout_s)
        self._instance = (f"vllm-{self.name}-{uuid.uuid4().hex[:8]}", datetime.now(UTC))
        self._capacity(None)
        self._ready.set()
        log.info("vLLM server for %s is up at %s", self.name, server.base_url)

    async def _healthy(self) -> bool:
        server = self.server
        if server is None or not server.is_alive():
            return False
        root = server.base_url.rstrip("/").removesuffix("/v1")
        if self._http is None:  # stopped
            return False
        try:
            return (await self._http.get(root + "/health")).status_code == 200
        except httpx.HTTPError:
            return False

    def _mark_down(self, why: str, *, planned: bool = False) -> None:
        if self._ready.is_set():
            # a stop the gateway asked for (shutdown) is no warning: it would be the last line of every
            # `make up` Ctrl-C
            level = logging.INFO if planned else logging.WARNING
            log.log(level, "vLLM server for %s is down: %s", self.name, why)
        self._ready.clear()
        if self._instance is not None:
            self._capacity(datetime.now(UTC))
            self._instance = None

    def _capacity(self, down_at: datetime | None) -> None:
        if self._on_capacity is not None and self._instance is not None:
            try:
                self._on_capacity(self._instance[0], self._instance[1], down_at)
            except Exception:
                log.exception("could not record capacity for %s", self.name)

    async def _watch_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.check_interval_s)
            if self.ready and await self._healthy():
                continue
            self._mark_down("health check failed")
            await self._restart()

    async def _restart(self) -> None:
        delay = 1.0
        while not self._stopping:
            if self.server is not None:
                await asyncio.to_thread(self.server.stop)
            try:
                await self._launch()
            except Exception as error:
                log.warning(
                    "restarting the vLLM server for %s failed (%s); next try in %.0f s",
                    self.name,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            self.restarts += 1
            if self._on_restart is not None:
                self._on_restart()
            return
