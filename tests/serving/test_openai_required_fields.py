"""Every answer the gateway builds itself carries what OpenAI's OpenAPI spec marks required.

The table below is copied from ``openapi.yaml`` of github.com/openai/openai-openapi (the ``required``
lists of the named ``components.schemas``). Clients generated from the spec (Go, Java, TypeScript with
strict decoders) reject a body that lacks a required key, even one whose value may be null, so the
responses are checked on the raw JSON, key by key; the ``openai`` Python SDK would fill the gaps with
None and hide them. Proxied vLLM answers pass through as vLLM wrote them and are not checked here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Running

# Schema -> {path inside the body -> keys the spec requires there}. "" is the body itself, "x[]" every
# item of the list x. Names are components.schemas entries of openai-openapi's openapi.yaml.
REQUIRED: dict[str, dict[str, set[str]]] = {
    # CreateChatCompletionResponse; choices[].message is ChatCompletionResponseMessage, usage is
    # CompletionUsage. logprobs and refusal are required but nullable: null when unused.
    "CreateChatCompletionResponse": {
        "": {"id", "choices", "created", "model", "object"},
        "choices[]": {"finish_reason", "index", "message", "logprobs"},
        "choices[].message": {"role", "content", "refusal"},
        "usage": {"prompt_tokens", "completion_tokens", "total_tokens"},
    },
    # CreateChatCompletionStreamResponse; choices[].delta is ChatCompletionStreamResponseDelta (no
    # required keys). The last chunk with stream_options.include_usage has no choices and a usage.
    "CreateChatCompletionStreamResponse": {
        "": {"id", "choices", "created", "model", "object"},
        "choices[]": {"delta", "finish_reason", "index"},
    },
    # CreateCompletionResponse, also the shape of each streamed completion chunk.
    "CreateCompletionResponse": {
        "": {"id", "object", "created", "model", "choices"},
        "choices[]": {"finish_reason", "index", "logprobs", "text"},
    },
    # CompletionUsage: the usage of chat and completion answers and of the last streamed chunk.
    "CompletionUsage": {"": {"prompt_tokens", "completion_tokens", "total_tokens"}},
    # CreateEmbeddingResponse; data[] is Embedding.
    "CreateEmbeddingResponse": {
        "": {"object", "model", "data", "usage"},
        "data[]": {"index", "object", "embedding"},
        "usage": {"prompt_tokens", "total_tokens"},
    },
    # ListModelsResponse; data[] is Model.
    "ListModelsResponse": {
        "": {"object", "data"},
        "data[]": {"id", "object", "created", "owned_by"},
    },
}


@pytest.fixture(scope="module")
def gateway_server(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, launch_gateway: Callable[..., Any]
) -> Iterator[Running]:
    """The shared gateway's models on a port of this module's own, so runs of this file and of the
    shared fixture's files can overlap."""
    server, running = launch_gateway(
        tmp_path_factory.mktemp("required-fields-home"),
        18265,
        models=("echo/chat", "tabular/linear", "nlp/embed"),
        settings_overrides={"model_cache": model_cache},
    )
    yield running
    server.stop()
    running.ledger.close()


@pytest.fixture
def new_customer(gateway_server: Running) -> Callable[[], str]:
    """``new_customer() -> key`` with a fresh customer per call."""
    return lambda: gateway_server.customer(f"cust-{time.monotonic_ns()}")


def _at(body: Any, path: str, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every object at ``path`` in ``body`` with where it was found, e.g. ``choices[1].message``."""
    if not path:
        yield where or "<body>", body
        return
    head, _, rest = path.partition(".")
    name = head.removesuffix("[]")
    if not isinstance(body, dict) or name not in body:
        return  # the parent's own check reports the missing key
    value, here = body[name], f"{where}.{name}" if where else name
    if head.endswith("[]"):
        for i, item in enumerate(value):
            yield from _at(item, rest, f"{here}[{i}]")
    else:
        yield from _at(value, rest, here)


def missing(body: Any, schema: str) -> list[str]:
    """The required keys ``body`` lacks under ``schema``, as dotted paths; [] when it conforms."""
    gaps: list[str] = []
    for path, keys in REQUIRED[schema].items():
        for where, obj in _at(body, path):
            assert isinstance(obj, dict), f"{schema}: {where} is {obj!r}, not an object"
            gaps.extend(f"{where}.{key}" for key in sorted(keys - obj.keys()))
    return gaps


def post(server: Running, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(
        server.url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120
    )
    assert response.status_code == 200, response.text
    return response


def events(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON payloads of a server-sent event stream, up to ``[DONE]``."""
    datas = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    return [json.loads(d) for d in datas[:-1]]


def test_the_table_catches_the_fields_this_test_is_about() -> None:
    answer = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    }
    assert missing(answer, "CreateChatCompletionResponse") == [
        "choices[0].logprobs",
        "choices[0].message.refusal",
    ]


def test_chat_answer_has_every_required_field(
    gateway_server: Running, new_customer: Callable[[], str]
) -> None:
    body = post(
        gateway_server,
        new_customer(),
        "/v1/chat/completions",
        {"model": "echo/chat", "messages": [{"role": "user", "content": "one two"}]},
    ).json()
    assert missing(body, "CreateChatCompletionResponse") == []
    [choice] = body["choices"]
    assert choice["logprobs"] is None and choice["message"]["refusal"] is None  # unused: null
    assert body["object"] == "chat.completion" and choice["message"]["content"] == "one two"


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream_chunks_have_every_required_field(
    gateway_server: Running, new_customer: Callable[[], str], include_usage: bool
) -> None:
    request: dict[str, Any] = {
        "model": "echo/chat",
        "messages": [{"role": "user", "content": "three short words"}],
        "stream": True,
        "stream_options": {"include_usage": include_usage},
    }
    chunks = events(post(gateway_server, new_customer(), "/v1/chat/completions", request))
    for chunk in chunks:
        assert missing(chunk, "CreateChatCompletionStreamResponse") == [], chunk
        assert chunk["object"] == "chat.completion.chunk"
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert missing(chunks[-1]["usage"], "CompletionUsage") == []
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == (
        "three short words"
    )


@pytest.mark.parametrize("stream", [False, True])
def test_completion_answer_has_every_required_field(
    gateway_server: Running, new_customer: Callable[[], str], stream: bool
) -> None:
    request = {"model": "echo/chat", "prompt": ["first prompt", "second"], "stream": stream}
    response = post(gateway_server, new_customer(), "/v1/completions", request)
    bodies = events(response) if stream else [response.json()]
    for body in bodies:
        assert missing(body, "CreateCompletionResponse") == [], body
        assert all(choice["logprobs"] is None for choice in body["choices"])
    if not stream:
        assert missing(bodies[0]["usage"], "CompletionUsage") == []


def test_embedding_answer_has_every_required_field(
    gateway_server: Running, new_customer: Callable[[], str]
) -> None:
    if "nlp/embed" not in gateway_server.gateway.backends:
        pytest.skip("the verticals-nlp plugin is not installed")
    for encoding_format in ("float", "base64"):
        request = {"model": "nlp/embed", "input": ["a cat", "a dog"], "encoding_format": encoding_format}
        body = post(gateway_server, new_customer(), "/v1/embeddings", request).json()
        assert missing(body, "CreateEmbeddingResponse") == []
        assert [d["object"] for d in body["data"]] == ["embedding", "embedding"]


def test_model_list_has_every_required_field(
    gateway_server: Running, new_customer: Callable[[], str]
) -> None:
    response = httpx.get(
        gateway_server.url + "/v1/models", headers={"Authorization": f"Bearer {new_customer()}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert missing(body, "ListModelsResponse") == []
    assert body["object"] == "list" and {"echo/chat", "tabular/linear"} <= {m["id"] for m in body["data"]}
