"""Open Inference Protocol v2 through the stock ``tritonclient[http]`` and plain JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from typing import Any as Running

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from verticals.default_plugins.tabular import BIAS, WEIGHTS

ROWS = [[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [-1.0, 0.5, 0.25, -0.5]]


def expected(row: list[float]) -> float:
    return 1 / (1 + math.exp(-(sum(w * x for w, x in zip(WEIGHTS, row, strict=True)) + BIAS)))


@pytest.fixture
def key(new_customer: Callable[..., str]) -> str:
    return new_customer()


def triton_client(gateway_server: Running) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(gateway_server.url.removeprefix("http://"))


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infers_the_torch_model(gateway_server: Running, key: str, binary: bool) -> None:
    client = triton_client(gateway_server)
    headers = {"Authorization": f"Bearer {key}"}
    assert client.is_server_live()
    assert client.is_model_ready("tabular/linear", headers=headers)
    meta = client.get_model_metadata("tabular/linear", headers=headers)
    assert meta["inputs"][0]["shape"] == [-1, 4]
    tensor = triton.InferInput("features", [len(ROWS), 4], "FP32")
    tensor.set_data_from_numpy(np.array(ROWS, dtype=np.float32), binary_data=binary)
    outputs = [triton.InferRequestedOutput("score", binary_data=binary)]
    result = client.infer("tabular/linear", [tensor], outputs=outputs, headers=headers)
    scores = result.as_numpy("score")
    assert scores.shape == (3,)
    assert scores.tolist() == pytest.approx([expected(r) for r in ROWS], rel=1e-6)
    # No outputs named: tritonclient asks for binary outputs by default.
    default = client.infer("tabular/linear", [tensor], headers=headers).as_numpy("score")
    assert default.tolist() == pytest.approx(scores.tolist())


def test_tritonclient_without_key_is_refused(gateway_server: Running) -> None:
    from tritonclient.utils import InferenceServerException

    tensor = triton.InferInput("features", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="API key"):
        triton_client(gateway_server).infer("tabular/linear", [tensor])


@pytest.mark.parametrize("path", ["tabular/linear", "tabular%2Flinear", "tabular/linear/versions/1"])
def test_a_name_with_a_slash_works_both_ways(gateway_server: Running, key: str, path: str) -> None:
    body = {
        "id": "r1",
        "inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": ROWS[0]}],
    }
    response = httpx.post(
        f"{gateway_server.url}/v2/models/{path}/infer", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["id"] == "r1" and data["model_name"] == "tabular/linear"
    assert data["outputs"][0]["data"] == pytest.approx([expected(ROWS[0])], rel=1e-6)
    [event] = gateway_server.events(request_id=response.headers["x-request-id"])
    assert event["units_in"] == 1 and event["endpoint"] == "/v2/infer"


def test_bytes_json_elements_reach_the_predictor_decoded(gateway_server: Running, key: str) -> None:
    """BYTES elements that parse as JSON are decoded: here two message lists for echo/chat."""
    chats = [[{"role": "user", "content": "first"}], [{"role": "user", "content": "second answer"}]]
    body = {
        "inputs": [
            {"name": "text", "shape": [2], "datatype": "BYTES", "data": [json.dumps(c) for c in chats]}
        ]
    }
    response = httpx.post(
        gateway_server.url + "/v2/models/echo/chat/infer",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    out = response.json()["outputs"][0]
    assert out["datatype"] == "BYTES" and out["data"] == ["first", "second answer"]


def test_v2_health_and_metadata(gateway_server: Running) -> None:
    assert httpx.get(gateway_server.url + "/v2/health/live").json() == {"live": True}
    assert httpx.get(gateway_server.url + "/v2/health/ready").status_code == 200
    assert httpx.get(gateway_server.url + "/v2").json()["name"] == "verticals"


@pytest.mark.parametrize("binary", [True, False])
def test_a_bytes_column_of_shape_n_1_gives_n_items(gateway_server: Running, key: str, binary: bool) -> None:
    """tritonclient sends a column of JSON records as shape [N, 1]: N items, as shape [N] gives."""
    chats = [[{"role": "user", "content": "first"}], [{"role": "user", "content": "second answer"}]]
    tensor = triton.InferInput("text", [2, 1], "BYTES")
    tensor.set_data_from_numpy(
        np.array([[json.dumps(c).encode()] for c in chats], dtype=object), binary_data=binary
    )
    result = triton_client(gateway_server).infer(
        "echo/chat", [tensor], headers={"Authorization": f"Bearer {key}"}
    )
    assert [v.decode() for v in result.as_numpy("text").tolist()] == ["first", "second answer"]


@pytest.mark.parametrize("shape", [[2], [2, 1], [2, 1, 1]])
def test_bytes_rows_of_one_element_are_that_element(
    gateway_server: Running, key: str, shape: list[int]
) -> None:
    chats = [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b c"}]]
    data = [json.dumps(c) for c in chats]
    body = {"inputs": [{"name": "text", "shape": shape, "datatype": "BYTES", "data": data}]}
    response = httpx.post(
        gateway_server.url + "/v2/models/echo/chat/infer",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == ["a", "b c"]


@pytest.fixture(scope="module")
def fraud_gateway(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, launch_gateway: Callable[..., Any]
) -> Iterator[Running]:
    pytest.importorskip("verticals_finance")
    with pytest.MonkeyPatch.context() as patch:
        # The fraud predictor reads its threshold from the settings, which find the cache here.
        patch.setenv("VERTICALS_MODEL_CACHE", str(model_cache))
        home = tmp_path_factory.mktemp("fraud-v2-home")
        server, running = launch_gateway(
            home, 18255, models=("finance/fraud",), settings_overrides={"model_cache": model_cache}
        )
        yield running
        server.stop()
        running.ledger.close()


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_column_of_transactions_is_scored_per_row(fraud_gateway: Running, binary: bool) -> None:
    """The issue's example: finance/fraud, two JSON transactions shaped [2, 1] give two scores, as [2]."""
    from verticals_finance.generator import generate

    customer = f"fraud-column-{'binary' if binary else 'json'}"
    key = fraud_gateway.customer(customer)
    records = [json.dumps(r).encode() for r in generate(2, seed=3)]
    client = triton.InferenceServerClient(fraud_gateway.url.removeprefix("http://"))
    headers = {"Authorization": f"Bearer {key}"}
    scores = []
    for array in (np.array(records, dtype=object), np.array([[r] for r in records], dtype=object)):
        tensor = triton.InferInput("transaction", list(array.shape), "BYTES")
        tensor.set_data_from_numpy(array, binary_data=binary)
        scores.append(client.infer("finance/fraud", [tensor], headers=headers).as_numpy("score").tolist())
    column, flat = scores
    assert len(column) == 2 and column == flat
    assert [e["units_in"] for e in fraud_gateway.events(customer=customer)] == [2, 2]


@pytest.mark.parametrize("shape", [[5], [5, 1]])
def test_a_bad_record_is_named_by_its_tensor_element(fraud_gateway: Running, shape: list[int]) -> None:
    """The issue's example: five transactions, the one at element 3 has hour 25. The 400 names input
    'transaction' element 3 and the field, not "row 0" (the record's place in a list of one)."""
    from verticals_finance.generator import generate

    key = fraud_gateway.customer(f"fraud-bad-element-{len(shape)}")
    records = generate(5, seed=4)
    records[3] = {**records[3], "hour": 25}
    data = [json.dumps(r) for r in records]
    body = {"inputs": [{"name": "transaction", "shape": shape, "datatype": "BYTES", "data": data}]}
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.post(fraud_gateway.url + "/v2/models/finance/fraud/infer", json=body, headers=headers)
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    where = "element 3" if shape == [5] else "element [3, 0]"
    assert message.startswith(f"input 'transaction' {where}: field 'hour' = 25"), message
    assert "row 0" not in message


def test_a_bad_row_of_a_bytes_tensor_is_named_by_its_element(gateway_server: Running, key: str) -> None:
    """tabular/linear's adapter refuses a row that is not 4 numbers; the 400 says which element held it."""
    rows = [[1, 2, 3, 4], [0, 0, 0, 0], [1, 1, 1, 1], [1, 2]]
    data = [json.dumps(r) for r in rows]
    body = {"inputs": [{"name": "rows", "shape": [4], "datatype": "BYTES", "data": data}]}
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.post(gateway_server.url + "/v2/models/tabular/linear/infer", json=body, headers=headers)
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert message.startswith("input 'rows' element 3: each row must be a list of 4"), message
