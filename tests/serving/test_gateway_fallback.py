"""Without vLLM, a vllm model is answered by transformers in process, metered the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from .conftest import CAPITAL_QUESTION


@pytest.fixture(scope="module")
def fallback_gateway(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, launch_gateway: Callable[..., Any]
) -> Iterator[Any]:
    from verticals.registry import Registry
    from verticals.serving.backends.transformers import TransformersBackend
    from verticals.store import ModelStore

    registry = Registry.load()
    if "nlp/chat" not in registry.models:
        pytest.skip("the verticals-nlp plugin is not installed")
    spec = registry.model("nlp/chat")
    folder = ModelStore(model_cache).pull(spec)
    server, running = launch_gateway(
        tmp_path_factory.mktemp("fallback-home"),
        18204,
        models=("nlp/chat",),
        registry=registry,
        backends={"nlp/chat": TransformersBackend(spec, folder)},
    )
    yield running
    server.stop()
    running.ledger.close()


@pytest.mark.slow
def test_transformers_fallback_answers_streams_and_meters(fallback_gateway: Any) -> None:
    sdk = openai.OpenAI(
        base_url=fallback_gateway.url + "/v1",
        api_key=fallback_gateway.customer("fb"),
        max_retries=0,
        timeout=300,
    )
    raw = sdk.chat.completions.with_raw_response.create(
        model="nlp/chat",
        messages=CAPITAL_QUESTION,
        max_tokens=12,
    )
    reply = raw.parse()
    assert "Paris" in (reply.choices[0].message.content or "")
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 12
    [event] = fallback_gateway.events(request_id=raw.headers["x-request-id"])
    assert event["units_out"] == reply.usage.completion_tokens and event["compute_seconds"] > 0
    assert event["revenue_usd"] == Decimal(raw.headers["x-verticals-cost-usd"]) > 0
    chunks = list(
        sdk.chat.completions.create(
            model="nlp/chat",
            messages=[{"role": "user", "content": "Say hi."}],
            max_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 3
