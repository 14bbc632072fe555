"""Every error is OpenAI-shaped JSON with a message that names the problem, and each is metered."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import Any as Running

import httpx
import pytest

from verticals import hookimpl
from verticals.adapters import AdapterError, DataAdapter
from verticals.models import Backend, ModelSpec, Predictor, Task, Unit


def check_error(response: httpx.Response, status: int, *words: str) -> dict[str, object]:
    """OpenAI's error shape, or under /v2/ the v2 protocol's (``error`` is the message)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if response.url.path.startswith("/v2/"):
        assert isinstance(body["error"], str)
        message = body.pop("error")
        error = {**body, "message": message}
    else:
        error = body["error"]
    assert set(error) == {"type", "message", "param", "code"}
    for word in words:
        assert word in str(error["message"]), error
    return dict(error)


@pytest.fixture
def auth(new_customer: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {new_customer()}"}


def test_malformed_json(gateway_server: Running, auth: dict[str, str]) -> None:
    response = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        content=b'{"model": "echo/chat", ',
        headers={**auth, "content-type": "application/json"},
    )
    error = check_error(response, 400, "not valid JSON")
    assert error["code"] == "invalid_json"


def test_body_that_is_not_an_object(gateway_server: Running, auth: dict[str, str]) -> None:
    response = httpx.post(gateway_server.url + "/v1/chat/completions", json=[1, 2], headers=auth)
    check_error(response, 400, "JSON object")


def test_unknown_model_names_the_models_served(gateway_server: Running, auth: dict[str, str]) -> None:
    response = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        headers=auth,
        json={"model": "nope/nope", "messages": [{"role": "user", "content": "x"}]},
    )
    error = check_error(response, 404, "nope/nope", "echo/chat")
    assert error["code"] == "model_not_found" and error["param"] == "model"


def test_a_mistyped_model_gets_a_suggestion(gateway_server: Running, auth: dict[str, str]) -> None:
    response = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        headers=auth,
        json={"model": "echo/chta", "messages": [{"role": "user", "content": "x"}]},
    )
    check_error(response, 404, "did you mean 'echo/chat'?")


def test_missing_field_is_named(gateway_server: Running, auth: dict[str, str]) -> None:
    response = httpx.post(
        gateway_server.url + "/v1/chat/completions", json={"model": "echo/chat"}, headers=auth
    )
    error = check_error(response, 400, "messages")
    assert error["param"] == "messages"


def test_bad_role_is_400(gateway_server: Running, auth: dict[str, str]) -> None:
    response = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        headers=auth,
        json={"model": "echo/chat", "messages": [{"role": "wizard", "content": "x"}]},
    )
    check_error(response, 400, "role")


def test_oversized_body_is_413(gateway_server: Running, auth: dict[str, str]) -> None:
    big = "word " * 300_000  # 1.5 MB against the test gateway's 1 MiB limit
    response = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        headers=auth,
        json={"model": "echo/chat", "messages": [{"role": "user", "content": big}]},
    )
    error = check_error(response, 413, "1048576 bytes", "--max-body-mb")
    assert error["code"] == "body_too_large"
    [event] = gateway_server.events(request_id=response.headers["x-request-id"])
    assert event["status"] == 413


def test_oversized_chunked_body_is_413(gateway_server: Running, auth: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "echo/chat", "messages": [{"role": "user", "content": "'
        for _ in range(200):
            yield b"x" * 10_000
        yield b'"}]}'

    response = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        content=chunks(),
        headers={**auth, "content-type": "application/json"},
    )
    check_error(response, 413, "larger than")


def test_unknown_route_and_method(gateway_server: Running) -> None:
    check_error(httpx.get(gateway_server.url + "/v1/nothing"), 404, "/v1/nothing")
    check_error(httpx.get(gateway_server.url + "/v1/chat/completions"), 405, "GET")


def test_bad_v2_tensor_is_400(gateway_server: Running, auth: dict[str, str]) -> None:
    url = gateway_server.url + "/v2/models/tabular/linear/infer"
    short = {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}
    check_error(httpx.post(url, json=short, headers=auth), 400, "3 elements", "[1, 4]")
    words = {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": ["a", 1, 2, 3]}]}
    check_error(httpx.post(url, json=words, headers=auth), 400, "send numbers")
    narrow = {
        "inputs": [{"name": "features", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]
    }
    check_error(httpx.post(url, json=narrow, headers=auth), 400, "4 numbers")  # the model's AdapterError
    check_error(httpx.post(url, json={"inputs": []}, headers=auth), 400, "inputs")


def test_every_error_is_one_ledger_event(gateway_server: Running, auth: dict[str, str]) -> None:
    ids = []
    for body in ({"model": "echo/chat"}, {"model": "x/y", "messages": [{"role": "user", "content": "x"}]}):
        ids.append(
            httpx.post(gateway_server.url + "/v1/chat/completions", json=body, headers=auth).headers[
                "x-request-id"
            ]
        )
    for request_id in ids:
        [event] = gateway_server.events(request_id=request_id)
        assert event["status"] >= 400 and event["revenue_usd"] == Decimal(0)


class Base64Predictor(Predictor):
    """Counts the bytes of each decoded payload; the adapter does the decoding.

    Like a trained model's predictor, it reports the stored version it loaded, which differs from
    the spec's version: the gateway must record the one it serves.
    """

    def load(self, model_dir: Path | None) -> None:
        self.served_version = "20261128T120000Z-trained"

    def predict(self, batch: list[bytes]) -> list[int]:  # type: ignore[override]
        return [len(item) for item in batch]


def decode_base64(item: object) -> list[bytes]:
    if not isinstance(item, str):
        raise AdapterError(f"expected a base64 string, got {type(item).__name__}")
    try:
        return [base64.b64decode(item, validate=True)]
    except binascii.Error as error:
        raise AdapterError(
            f"the payload is not valid base64 ({error}); encode the file with base64"
        ) from None


class Base64Plugin:
    name = "b64"

    @hookimpl
    def register_models(self, register: Callable[[ModelSpec], None]) -> None:
        register(
            ModelSpec(
                name="b64/size",
                task=Task.TABULAR_SCORING,
                backend=Backend.TORCH,
                source="builtin://b64",
                unit=Unit.CALLS,
                price_per_unit_usd=Decimal("0.01"),
                predictor=Base64Predictor,
                input_adapter="b64/decode",
            )
        )

    @hookimpl
    def register_data_adapters(self, register: Callable[[DataAdapter], None]) -> None:
        register(DataAdapter(name="b64/decode", formats=("base64",), read_payload=decode_base64))


@pytest.fixture(scope="module")
def adapter_gateway(
    tmp_path_factory: pytest.TempPathFactory, launch_gateway: Callable[..., Any]
) -> Iterator[Running]:
    from verticals.plugins import get_plugin_manager
    from verticals.registry import Registry

    pm = get_plugin_manager(load_entry_points=False)
    pm.add_plugin(Base64Plugin(), "b64", "test", None)
    registry = Registry.load(pm)
    home: Path = tmp_path_factory.mktemp("adapter-home")
    server, running = launch_gateway(home, 18203, models=("b64/size",), registry=registry)
    yield running
    server.stop()
    running.ledger.close()


def test_adapter_errors_become_400_with_their_message(adapter_gateway: Running) -> None:
    key = adapter_gateway.customer("adapter-user")
    url = adapter_gateway.url + "/v2/models/b64/size/infer"
    headers = {"Authorization": f"Bearer {key}"}
    good = {
        "inputs": [
            {"name": "x", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(b"hello").decode()]}
        ]
    }
    answer = httpx.post(url, json=good, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [5.0]
    assert answer.json()["model_version"] == "20261128T120000Z-trained"
    [event] = adapter_gateway.events(request_id=answer.headers["x-request-id"])
    assert event["model_version"] == "20261128T120000Z-trained"
    bad = {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["%%% not base64 %%%"]}]}
    error = check_error(httpx.post(url, json=bad, headers=headers), 400, "not valid base64")
    assert error["code"] == "invalid_input"
