"""A plugin installed while the gateway runs: a 404 that says to restart or reload, then
``POST /admin/plugins/reload`` (and ``verticals plugins reload``) serving it without dropping the
requests in flight. Ports 18290-18294."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

# A torch chat model whose answers wait for the test to open a gate: a request held in flight
# while the plugins reload, with no sleep and no timing in the test.
GATED = """
import threading
from decimal import Decimal
from verticals import hookimpl
from verticals.default_plugins.echo import EchoPredictor
from verticals.models import Backend, ModelSpec, Task, Unit

GATE = threading.Event()
ENTERED = threading.Event()

class Gated(EchoPredictor):
    def predict(self, batch):
        ENTERED.set()
        GATE.wait(60)
        return super().predict(batch)

@hookimpl
def register_models(register):
    register(ModelSpec(name="gated/chat", task=Task.CHAT, backend=Backend.TORCH, source="builtin://gated",
                       unit=Unit.TOKENS, price_per_unit_usd=Decimal("0.000001"), predictor=Gated))
"""

LATE = """
from decimal import Decimal
from verticals import hookimpl
from verticals.default_plugins.echo import EchoPredictor
from verticals.models import Backend, ModelSpec, Task, Unit

@hookimpl
def register_models(register):
    register(ModelSpec(name="late/chat", task=Task.CHAT, backend=Backend.TORCH, source="builtin://late",
                       unit=Unit.TOKENS, price_per_unit_usd=Decimal("0.000002"), predictor=EchoPredictor))
"""


@pytest.fixture
def gateway(
    tmp_path: Path, site_packages: Any, launch_gateway: Callable[..., Any]
) -> Iterator[tuple[Any, Any]]:
    from verticals.registry import Registry

    site_packages.add("verticals-gated", "verticals_gated_reload", GATED, entry_point="gated")
    server, running = launch_gateway(tmp_path / "home", 18290, models=None, registry=Registry.load())
    yield running, site_packages
    sys.modules["verticals_gated_reload"].GATE.set()
    server.stop()
    running.ledger.close()


def chat(url: str, key: str, model: str, text: str = "hello there") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def test_a_model_installed_after_start_gets_a_404_that_says_to_restart_or_reload(gateway: Any) -> None:
    running, site = gateway
    key = running.customer("acme")
    # nothing installed since the start: a plain 404, no talk of reloading
    plain = chat(running.url, key, "late/chat").json()["error"]["message"]
    assert "reload" not in plain, plain
    site.add("verticals-late", "verticals_late_404", LATE, entry_point="late")
    response = chat(running.url, key, "late/chat")
    assert response.status_code == 404, response.text
    message = response.json()["error"]["message"]
    assert "late" in message and "installed after this gateway started" in message, message
    assert "restart the gateway" in message and "POST /admin/plugins/reload" in message, message
    assert "verticals plugins reload" in message, message
    # another name: the plugins installed since are named, since one of them may hold it
    other = chat(running.url, key, "nosuch/model").json()["error"]["message"]
    assert "not loaded yet: 'late'" in other and "POST /admin/plugins/reload" in other, other


def test_reload_serves_a_new_plugin_and_keeps_the_requests_in_flight(gateway: Any) -> None:
    running, site = gateway
    key = running.customer("globex")
    gated = sys.modules["verticals_gated_reload"]
    in_flight: dict[str, httpx.Response] = {}
    thread = threading.Thread(
        target=lambda: in_flight.setdefault("answer", chat(running.url, key, "gated/chat", "still here"))
    )
    thread.start()
    assert gated.ENTERED.wait(30), "the gated request never reached the model"

    site.add("verticals-late", "verticals_late_reload", LATE, entry_point="late")
    reload = running.admin("POST", "/admin/plugins/reload")
    assert reload.status_code == 200, reload.text
    report = reload.json()
    assert report["added"] == ["late/chat"] and report["failed"] == {}, report
    assert "gated/chat" in report["kept"]

    answer = chat(running.url, key, "late/chat", "fresh words")
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "fresh words"
    # the new model's own price: 2 tokens in, 2 out, at 0.000002
    assert Decimal(answer.headers["x-verticals-cost-usd"]) == Decimal("0.000008")

    gated.GATE.set()  # the request that was in flight all along finishes on the backend it started on
    thread.join(60)
    assert in_flight["answer"].status_code == 200, in_flight["answer"].text
    assert in_flight["answer"].json()["choices"][0]["message"]["content"] == "still here"
    assert {row["name"] for row in running.admin("GET", "/admin/plugins").json()} >= {"gated", "late"}
    assert "late/chat" in {
        m["id"]
        for m in httpx.get(running.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}).json()[
            "data"
        ]
    }

    again = running.admin("POST", "/admin/plugins/reload").json()
    assert again["added"] == [] and "late/chat" in again["kept"]


def test_verticals_plugins_reload_asks_the_running_gateway(gateway: Any) -> None:
    running, site = gateway
    from verticals.client import write_server_file

    write_server_file(running.home, running.url)
    site.add("verticals-late", "verticals_late_cli", LATE, entry_point="late")
    env = {
        **os.environ,
        "VERTICALS_HOME": str(running.home),
        "VERTICALS_ADMIN_TOKEN": running.admin_token,
    }
    done = subprocess.run(
        [sys.executable, "-m", "verticals", "plugins", "reload"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "late/chat" in done.stdout and "now served" in done.stdout, done.stdout
    assert "late/chat" in running.gateway.backends


def test_verticals_plugins_reload_without_a_gateway_says_none_runs(tmp_path: Path) -> None:
    env = {**os.environ, "VERTICALS_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "verticals", "plugins", "reload"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "no gateway runs" in done.stderr and "verticals serve" in done.stderr, done.stderr
