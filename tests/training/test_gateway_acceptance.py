"""The issue's acceptance, through a real gateway with a customer key: a PNG of a digit is classified
right, a fraud row and a FHIR bundle are scored with reason codes, each metered in its own unit.

The gateway runs in this process on a loopback port (18301); models load their default weights
from the shared test model cache, trained there once per clone.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

PORT = 18301
ADMIN = "vadm_plugins_acceptance_token"
MODELS = ("vision/digits", "finance/fraud", "health/diagnosis")


class Gateway:
    def __init__(self, url: str, ledger: Any, server: Any, thread: threading.Thread) -> None:
        self.url, self.ledger, self.server, self.thread = url, ledger, server, thread

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs)

    def events(self, model: str) -> list[dict[str, Any]]:
        self.ledger.flush()
        cursor = self.ledger.connection.cursor()
        rows = cursor.execute("SELECT * FROM usage_events WHERE model = ? ORDER BY ts", [model])
        names = [d[0] for d in rows.description]
        return [dict(zip(names, row, strict=True)) for row in rows.fetchall()]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Gateway]:
    import uvicorn

    from verticals.config import load_settings
    from verticals.ledger import Ledger
    from verticals.plugins import get_plugin_manager
    from verticals.registry import Registry
    from verticals.serving.app import create_app
    from verticals.serving.gateway import ServingOptions

    home = tmp_path_factory.mktemp("plugins-gateway")
    saved = os.environ.get("VERTICALS_MODEL_CACHE")
    os.environ["VERTICALS_MODEL_CACHE"] = str(model_cache)  # the predictors resolve weights from settings
    settings = load_settings(home=home, model_cache=model_cache)
    ledger = Ledger.open(home, fsync_ms=5)
    app = create_app(
        settings,
        Registry.load(get_plugin_manager()),
        ledger,
        admin_token=ADMIN,
        options=ServingOptions(models=MODELS, log_requests=False),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=PORT, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    yield Gateway(f"http://127.0.0.1:{PORT}", ledger, server, thread)
    server.should_exit = True
    thread.join(timeout=60)
    ledger.close()
    if saved is None:
        os.environ.pop("VERTICALS_MODEL_CACHE", None)
    else:
        os.environ["VERTICALS_MODEL_CACHE"] = saved


@pytest.fixture(scope="module")
def key(gateway: Gateway) -> str:
    assert (
        gateway.admin("POST", "/admin/customers", json={"name": "clinic-bank", "plan": "pro"}).status_code
        == 201
    )
    created = gateway.admin("POST", "/admin/keys", json={"customer": "clinic-bank"})
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def infer(gateway: Gateway, key: str, model: str, inputs: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v2/models/{model}/infer",
        json={"inputs": inputs},
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )


def digit_png(label: int) -> tuple[bytes, int]:
    from PIL import Image
    from verticals_vision.digits import holdout_records

    record = next(r for r in holdout_records() if r["label"] == label)
    ink = (255 - record["image"] / 16 * 255).astype(np.uint8)
    image = Image.fromarray(ink).resize((128, 128), Image.Resampling.BICUBIC).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue(), label


def test_png_digits_are_classified_and_metered_per_image(gateway: Gateway, key: str) -> None:
    import tritonclient.http as triton

    pngs = [digit_png(label) for label in (3, 7)]
    client = triton.InferenceServerClient(url=gateway.url.removeprefix("http://"))
    tensor = triton.InferInput("image", [2], "BYTES")
    tensor.set_data_from_numpy(np.array([png for png, _ in pngs], dtype=np.object_))
    result = client.infer("vision/digits", [tensor], headers={"Authorization": f"Bearer {key}"})
    # each declared output is its own tensor, as GET /v2/models/vision/digits says
    assert result.as_numpy("label").tolist() == [3, 7]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, 10) and probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    assert probabilities.argmax(axis=1).tolist() == [3, 7]
    only = client.infer(
        "vision/digits",
        [tensor],
        outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)],
        headers={"Authorization": f"Bearer {key}"},
    )
    assert only.as_numpy("label") is None and only.as_numpy("probabilities").shape == (2, 10)

    as_base64 = infer(gateway, key, "vision/digits", [
        {"name": "image", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(pngs[0][0]).decode()]}
    ])  # fmt: skip
    assert as_base64.status_code == 200, as_base64.text
    assert Decimal(as_base64.headers["x-verticals-cost-usd"]) == Decimal("0.0005")
    events = [e for e in gateway.events("vision/digits") if e["status"] == 200]
    assert [e["units_in"] for e in events] == [2, 2, 1]  # two tritonclient calls, one base64
    assert all(e["unit"] == "images" and e["revenue_usd"] > 0 and e["cost_usd"] >= 0 for e in events)


def test_a_corrupt_image_is_a_400_that_names_the_problem(gateway: Gateway, key: str) -> None:
    broken = base64.b64encode(b"GIF89a-broken").decode()
    response = infer(gateway, key, "vision/digits", [
        {"name": "image", "datatype": "BYTES", "shape": [1], "data": [broken]}
    ])  # fmt: skip
    assert response.status_code == 400
    assert "not a readable image" in response.json()["error"]


def test_asking_for_an_output_the_model_does_not_have_is_a_400_before_any_work(
    gateway: Gateway, key: str
) -> None:
    png, _ = digit_png(3)
    before = len(gateway.events("vision/digits"))
    response = httpx.post(
        f"{gateway.url}/v2/models/vision/digits/infer",
        json={
            "inputs": [
                {"name": "image", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(png).decode()]}
            ],
            "outputs": [{"name": "logits"}],
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 400
    assert "no output 'logits'; its outputs: label, probabilities" in response.json()["error"]
    [event] = gateway.events("vision/digits")[before:]
    assert event["status"] == 400 and event["revenue_usd"] == 0


def test_fraud_rows_are_scored_with_reason_codes_per_row(gateway: Gateway, key: str) -> None:
    from verticals_finance.generator import generate

    rows = generate(3, seed=8)
    rows[0].update(
        foreign=True, distance_km=6000.0, hour=3, card_present=False, txn_count_1h=5, new_merchant=True
    )
    response = infer(gateway, key, "finance/fraud", [
        {"name": "transaction", "datatype": "BYTES", "shape": [3], "data": [json.dumps(r) for r in rows]}
    ])  # fmt: skip
    assert response.status_code == 200, response.text
    outputs = {t["name"]: t for t in response.json()["outputs"]}
    assert [(t["datatype"], t["shape"]) for t in outputs.values()] == [
        ("FP32", [3]), ("BOOL", [3]), ("BYTES", [3]), ("BYTES", [3])
    ]  # fmt: skip
    assert outputs["flagged"]["data"][0] is True and outputs["score"]["data"][0] > 0.5
    assert json.loads(outputs["reason_codes"]["data"][0])[0]["contribution"] > 0
    assert outputs["transaction_id"]["data"] == [r["transaction_id"] for r in rows]
    assert Decimal(response.headers["x-verticals-cost-usd"]) == Decimal("0.003")
    event = gateway.events("finance/fraud")[-1]
    assert event["unit"] == "rows" and event["units_in"] == 3

    late = json.dumps({**rows[1], "hour": 31})
    bad = infer(gateway, key, "finance/fraud", [
        {"name": "transaction", "datatype": "BYTES", "shape": [1], "data": [late]}
    ])  # fmt: skip
    assert bad.status_code == 400 and "field 'hour' = 31" in bad.json()["error"]


def test_a_fhir_bundle_is_scored_with_reason_codes(gateway: Gateway, key: str) -> None:
    from verticals_health.evaluation import DATASET, read_holdout
    from verticals_health.fhir import make_bundle

    case = next(c for c in read_holdout(DATASET) if c["label"] == 1)
    bundle = make_bundle([case["features"]], subjects=["Patient/MRN-55120"])
    response = infer(gateway, key, "health/diagnosis", [
        {"name": "bundle", "datatype": "BYTES", "shape": [1], "data": [json.dumps(bundle)]}
    ])  # fmt: skip
    assert response.status_code == 200, response.text
    outputs = {t["name"]: t["data"] for t in response.json()["outputs"]}
    assert outputs["diagnosis"] == ["malignant"] and outputs["score"][0] > 0.5
    assert json.loads(outputs["reason_codes"][0])
    assert "55120" not in response.text
    assert gateway.events("health/diagnosis")[-1]["unit"] == "rows"

    observation = bundle["entry"][0]["resource"]
    observation["valueQuantity"]["code"] = "mm"
    mismatch = infer(gateway, key, "health/diagnosis", [
        {"name": "bundle", "datatype": "BYTES", "shape": [1], "data": [json.dumps(bundle)]}
    ])  # fmt: skip
    assert mismatch.status_code == 400
    assert "'mean radius' is in 'mm' but the model needs '{px}'" in mismatch.json()["error"]


def test_demo_traffic_is_answered_by_every_tensor_model(gateway: Gateway, key: str) -> None:
    # `verticals demo` (run by `make up`) makes up v2 tensors from each model's declared inputs;
    # a well-formed one must be answered, or the dashboard shows the model failing every request
    import random

    from verticals.demo import call, served_targets

    targets = served_targets([{"name": name} for name in MODELS])
    assert {t.name for t in targets} >= {"vision/digits", "health/diagnosis"}
    rng = random.Random(0)
    statuses = {t.name: call(None, t, key, gateway.url, rng, big=False, broken=False) for t in targets}
    assert statuses and set(statuses.values()) == {200}, statuses
