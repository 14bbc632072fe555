"""Open Inference Protocol v2 through the stock ``tritonclient[http]`` and plain JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
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
