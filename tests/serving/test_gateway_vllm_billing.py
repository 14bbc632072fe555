"""Billing of vLLM requests against a stand-in server that streams the way vLLM does.

vLLM's continuous usage stats are per choice: with several prompts or ``n > 1`` a chunk's usage
counts that choice's completion tokens and its own prompt's tokens, and only the final chunk has
the totals. The stand-in does the same, and can hold a stream after its first tokens (``HOLD:name``
in the prompt) or ignore ``max_tokens`` (``IGNORE`` in the prompt), as a misconfigured server would.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from verticals.serving.backends.vllm.proxy import VLLMBackend

from .conftest import Running, money, start_gateway

GATEWAY_PORT = 18245
IGNORED_MAX_TOKENS_ANSWER = 500


class StandIn(BaseHTTPRequestHandler):
    """A vLLM-like OpenAI server: one word per token, words ``w0 w1 ...``."""

    holds: dict[str, threading.Event] = {}
    lock = threading.Lock()

    @classmethod
    def hold(cls, name: str) -> threading.Event:
        with cls.lock:
            return cls.holds.setdefault(name, threading.Event())

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        chat = self.path.endswith("/chat/completions")
        if chat:
            prompts = [" ".join(str(m.get("content", "")) for m in body["messages"])]
        else:
            prompts = [body["prompt"]] if isinstance(body["prompt"], str) else list(body["prompt"])
        n = int(body.get("n") or 1)
        limit = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
        if any("IGNORE" in p for p in prompts):
            limit = IGNORED_MAX_TOKENS_ANSWER
        prompt_tokens = [len(p.split()) for p in prompts]
        holds = [word[5:] for p in prompts for word in p.split() if word.startswith("HOLD:")]
        choices = len(prompts) * n
        if not body.get("stream"):
            self._send_json(body, chat, choices, limit, sum(prompt_tokens))
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        try:
            for step in range(limit):
                for i in range(choices):
                    piece = (
                        {"index": i, "text": f"w{step} "}
                        if not chat
                        else {"index": i, "delta": {"content": f"w{step} "}}
                    )
                    usage = {"prompt_tokens": prompt_tokens[i // n], "completion_tokens": step + 1}
                    self._event({"id": "x", "model": body["model"], "choices": [piece], "usage": usage})
                self.wfile.flush()
                for name in holds if step == 0 else ():
                    self.hold(name).wait(60)
            usage = {"prompt_tokens": sum(prompt_tokens), "completion_tokens": choices * limit}
            self._event({"id": "x", "model": body["model"], "choices": [], "usage": usage})
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:
            pass  # the gateway closed the stream: the client went away

    def _event(self, data: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")

    def _send_json(self, body: dict[str, Any], chat: bool, choices: int, limit: int, prompt: int) -> None:
        text = " ".join(f"w{i}" for i in range(limit))
        data = {
            "id": "x",
            "model": body["model"],
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": text}}
                if chat
                else {"index": i, "text": text}
                for i in range(choices)
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": choices * limit},
        }
        raw = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    for event in StandIn.holds.values():
        event.set()
    server.shutdown()


@pytest.fixture(scope="module")
def gateway(standin: str, tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Running]:
    from verticals.registry import Registry

    registry = Registry.load()
    if "nlp/chat" not in registry.models:
        pytest.skip("needs the verticals-nlp plugin")
    server, running = start_gateway(
        tmp_path_factory.mktemp("vllm-billing"),
        GATEWAY_PORT,
        models=("nlp/chat",),
        settings_overrides={"model_cache": model_cache},
        registry=registry,
        backends={"nlp/chat": VLLMBackend(registry.model("nlp/chat"), base_url=standin)},
    )
    yield running
    server.stop()
    running.ledger.close()


def priced_customer(gw: Running, price: str = "0.01", budget: str | None = None) -> tuple[str, str]:
    plan = f"plan-{time.monotonic_ns()}"
    assert gw.admin("POST", "/admin/plans", json={"name": plan}).status_code == 201
    row = {"plan": plan, "unit": "tokens", "price_per_unit_usd": price, "model": "nlp/chat"}
    assert gw.admin("POST", "/admin/prices", json=row).status_code == 201
    return gw.customer(f"cust-{plan}", plan=plan, budget=budget), plan


def read_events_then_leave(gw: Running, key: str, path: str, body: dict[str, Any], count: int) -> str:
    """Stream ``body``, read ``count`` events, then close the connection; returns the request id."""
    with (
        httpx.Client(base_url=gw.url, timeout=30) as http,
        http.stream("POST", path, json=body, headers={"Authorization": f"Bearer {key}"}) as response,
    ):
        assert response.status_code == 200
        seen = 0
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen += 1
                if seen == count:
                    break
        return response.headers["x-request-id"]


def event(gw: Running, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = gw.events(request_id=request_id)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no ledger event for {request_id}")


def test_an_abandoned_stream_of_several_prompts_is_billed_for_every_prompt_and_token(
    gateway: Running,
) -> None:
    key, _ = priced_customer(gateway)
    prompts = ["HOLD:prompts a b", "c d", "e f g h"]  # 3 + 2 + 4 prompt tokens
    body = {"model": "nlp/chat", "prompt": prompts, "max_tokens": 5, "stream": True}
    request_id = read_events_then_leave(gateway, key, "/v1/completions", body, 3)
    row = event(gateway, request_id)
    assert row["status"] == 499
    assert (row["units_in"], row["units_out"]) == (9, 3)
    assert money(row["revenue_usd"]) == Decimal("0.12")
    StandIn.hold("prompts").set()


def test_an_abandoned_chat_stream_with_several_choices_is_billed_for_every_choice(gateway: Running) -> None:
    key, _ = priced_customer(gateway)
    body = {
        "model": "nlp/chat",
        "messages": [{"role": "user", "content": "HOLD:choices hello there"}],
        "max_tokens": 5,
        "n": 3,
        "stream": True,
    }
    request_id = read_events_then_leave(gateway, key, "/v1/chat/completions", body, 3)
    row = event(gateway, request_id)
    assert (row["units_in"], row["units_out"]) == (3, 3)  # one prompt, three choices of one token
    assert money(row["revenue_usd"]) == Decimal("0.06")
    StandIn.hold("choices").set()


@pytest.mark.parametrize("stream", [True, False])
def test_finished_requests_of_several_prompts_and_choices_are_billed_in_full(
    gateway: Running, stream: bool
) -> None:
    key, _ = priced_customer(gateway)
    body = {"model": "nlp/chat", "prompt": ["a b", "c d e"], "max_tokens": 4, "n": 2, "stream": stream}
    response = httpx.post(
        gateway.url + "/v1/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert response.status_code == 200
    row = event(gateway, response.headers["x-request-id"])
    assert (row["status"], row["units_in"], row["units_out"]) == (200, 5, 16)
    assert money(row["revenue_usd"]) == Decimal("0.21")


def test_a_backend_answering_past_max_tokens_is_billed_no_more_than_the_reservation(
    gateway: Running, caplog: pytest.LogCaptureFixture
) -> None:
    key, _ = priced_customer(gateway, budget="1.00")
    message = {"role": "user", "content": "IGNORE"}
    worst = Decimal(len(json.dumps(message).encode()) + 8 + 1) * Decimal("0.01")  # prompt bound + max_tokens
    body = {"model": "nlp/chat", "messages": [message], "max_tokens": 1}
    statuses = []
    with caplog.at_level(logging.WARNING, logger="verticals.serving"):
        for _ in range(4):
            response = httpx.post(
                gateway.url + "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            statuses.append(response.status_code)
    fit = int(Decimal("1.00") // worst)
    assert statuses == [200] * fit + [402] * (4 - fit)
    rows = gateway.events(key_prefix=key[:11])
    billed = [money(r["revenue_usd"]) for r in rows if r["status"] == 200]
    assert billed == [worst] * fit
    assert sum(billed) <= Decimal("1.00")
    assert {r["units_out"] for r in rows if r["status"] == 200} == {IGNORED_MAX_TOKENS_ANSWER}
    assert any("max_tokens" in r.getMessage() and "nlp/chat" in r.getMessage() for r in caplog.records)
    metrics = httpx.get(gateway.url + "/metrics").text
    assert 'verticals_backend_overrun_units_total{model="nlp/chat"}' in metrics


EDITS = {
    "same budget": lambda gw, name, plan: gw.admin(
        "PATCH", f"/admin/customers/{name}", json={"budget_usd": "1.00"}
    ),
    "plan": lambda gw, name, plan: gw.admin("PATCH", f"/admin/customers/{name}", json={"plan": plan}),
    "price": lambda gw, name, plan: gw.admin(
        "POST",
        "/admin/prices",
        json={"plan": plan, "unit": "tokens", "price_per_unit_usd": "0.005", "model": "nlp/chat"},
    ),
    "key": lambda gw, name, plan: gw.admin("POST", "/admin/keys", json={"customer": name}),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_admin_edits_keep_the_reservations_of_requests_in_flight(gateway: Running, edit: str) -> None:
    hold = f"edit{time.monotonic_ns()}"
    message = {"role": "user", "content": f"HOLD:{hold} hi"}
    worst = Decimal(len(json.dumps(message).encode()) + 8 + 10)
    price = (Decimal("1.00") / (worst * Decimal("2.5"))).quantize(Decimal("0.000001"))
    key, plan = priced_customer(gateway, str(price), budget="1.00")  # two requests fit, not three
    name = gateway.ledger.find_key(key).customer
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "nlp/chat", "messages": [message], "max_tokens": 10, "stream": True}
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        streams = [http.stream("POST", "/v1/chat/completions", json=body, headers=headers) for _ in range(2)]
        opened = [s.__enter__() for s in streams]
        try:
            assert [r.status_code for r in opened] == [200, 200]
            assert EDITS[edit](gateway, name, plan).status_code in (200, 201)
            third = httpx.post(
                gateway.url + "/v1/chat/completions",
                json={**body, "stream": False},
                headers=headers,
                timeout=30,
            )
            assert third.status_code == 402, third.text
        finally:
            StandIn.hold(hold).set()
            for response in opened:
                response.read()
            for s in streams:
                s.__exit__(None, None, None)
    spent = sum(money(r["revenue_usd"]) for r in gateway.events(key_prefix=key[:11]))
    assert spent <= Decimal("1.00")
