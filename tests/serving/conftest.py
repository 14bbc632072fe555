"""Fixtures for the gateway tests: a real uvicorn server on a loopback port, in a thread of the test
process, with a real ledger in a temporary data directory. Ports 18200-18299 belong to these tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from verticals.models import Backend, ModelSpec, Task, Unit

ADMIN_TOKEN = "vadm_test_token_for_the_gateway_tests"
# A vllm chat model for tests that drive VLLMBackend against a stand-in server.
VLLM_SPEC = ModelSpec(
    name="nlp/chat",
    task=Task.CHAT,
    backend=Backend.VLLM,
    source="builtin://test",
    unit=Unit.TOKENS,
    price_per_unit_usd=Decimal("0.000001"),
)


def _free_port() -> int:
    """A port no one listens on now, from the kernel's ephemeral range: the shared gateway takes it, so
    two test runs on one machine (a developer's and CI's, or parallel checkouts) do not collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


MAIN_PORT = _free_port()
# What the chat tests ask nlp/chat (SmolLM2-135M, 4-bit). Its greedy answer, "The capital of France is
# Paris.", wins by over a nat at every token. "What is the capital of France?" does not: "The" beats "L"
# by 0.1 nat, and vLLM's bf16 kernels on an AMX CPU flip that tie ("L'Étoile, la Marseillaise, ...").
# plugins/verticals-nlp/tests/test_nlp_chat_conversion.py asserts the margin.
CAPITAL_QUESTION = [{"role": "user", "content": "Name the capital of France."}]


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` from a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=10
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)

    def start(self, timeout: float = 600.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"the gateway on port {self.port} did not start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway on port {self.port} was not up after {timeout} s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


@dataclass
class Running:
    url: str
    ledger: Any
    app: Any
    home: Path
    admin_token: str = ADMIN_TOKEN

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def customer(
        self,
        name: str,
        *,
        budget: str | None = None,
        plan: str = "pro",
        rpm: int | None = None,
        tpm: int | None = None,
    ) -> str:
        """Create a customer and a key through the admin API; returns the plaintext key."""
        body: dict[str, Any] = {"name": name, "plan": plan}
        if budget is not None:
            body["budget_usd"] = budget
        response = self.admin("POST", "/admin/customers", json=body)
        assert response.status_code == 201, response.text
        key = self.admin("POST", "/admin/keys", json={"customer": name, "rpm": rpm, "tpm": tpm})
        assert key.status_code == 201, key.text
        return str(key.json()["key"])

    def events(self, **where: Any) -> list[dict[str, Any]]:
        """Usage events in the ledger (after a flush), filtered by exact column values."""
        # A stream is metered just after its last byte, on the server's thread: give the requests
        # still in flight there a moment to be recorded.
        deadline = time.monotonic() + 2.0
        while self.gateway.meter.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        self.ledger.flush()
        cursor = self.ledger.connection.cursor()
        clauses = " AND ".join(f"{column} = ?" for column in where) or "true"
        rows = cursor.execute(f"SELECT * FROM usage_events WHERE {clauses} ORDER BY ts", list(where.values()))
        names = [d[0] for d in rows.description]
        return [dict(zip(names, row, strict=True)) for row in rows.fetchall()]


def start_gateway(
    home: Path,
    port: int,
    *,
    models: tuple[str, ...],
    settings_overrides: dict[str, Any] | None = None,
    max_body_bytes: int = 1 << 20,
    registry: Any = None,
    backends: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[ServerThread, Running]:
    from verticals.config import load_settings
    from verticals.ledger import Ledger
    from verticals.registry import Registry
    from verticals.serving.app import create_app
    from verticals.serving.gateway import ServingOptions

    settings = load_settings(home=home, **(settings_overrides or {}))
    ledger = Ledger.open(home, fsync_ms=5)
    registry = registry if registry is not None else Registry.load()
    app = create_app(
        settings,
        registry,
        ledger,
        admin_token=ADMIN_TOKEN,
        backends=backends,
        options=ServingOptions(max_body_bytes=max_body_bytes, models=models, log_requests=False, **options),
    )
    server = ServerThread(app, port).start()
    return server, Running(server.url, ledger, app, home)


@pytest.fixture(scope="session")
def gateway_server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Running]:
    """The shared gateway: echo/chat, tabular/linear and (when the NLP plugin is installed) nlp/embed."""
    home = tmp_path_factory.mktemp("gateway-home")
    server, running = start_gateway(
        home,
        MAIN_PORT,
        models=("echo/chat", "tabular/linear", "nlp/embed"),
        settings_overrides={"model_cache": model_cache},
    )
    # The server writes server.json only under `verticals serve`; the CLI tests need it here too.
    from verticals.client import write_server_file

    write_server_file(home, running.url)
    yield running
    server.stop()
    running.ledger.close()


@pytest.fixture
def new_customer(gateway_server: Running) -> Callable[..., str]:
    """``new_customer(budget=None, rpm=None, tpm=None) -> key`` with a fresh customer name per call."""
    counter = iter(range(1_000_000))

    def make(**kwargs: Any) -> str:
        name = f"cust-{time.monotonic_ns()}-{next(counter)}"
        return gateway_server.customer(name, **kwargs)

    return make


def in_flight_gauge(url: str) -> dict[str, float]:
    """``verticals_requests_in_flight`` by model, from the gateway's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        sample.labels["model"]: sample.value
        for family in text_string_to_metric_families(httpx.get(url + "/metrics").text)
        if family.name == "verticals_requests_in_flight"
        for sample in family.samples
    }


def money(value: Any) -> Decimal:
    return Decimal(str(value))


@pytest.fixture(scope="session")
def launch_gateway() -> Callable[..., tuple[ServerThread, Running]]:
    """``launch_gateway(home, port, models=(...), registry=...)``: a gateway of the test's own."""
    return start_gateway
