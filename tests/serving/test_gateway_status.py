"""The status a client receives is the status its ledger event records; non-finite numbers are refused.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999``; no model can score them and no JSON
response can carry them. A request holding one gets a 400 naming the tensor, and every failure,
including one raised while the response is being built after the model answered, is recorded with
the status the client got and is not billed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import Any as Running

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from verticals import hookimpl
from verticals.models import Backend, ModelSpec, Predictor, Task, TensorSpec, Unit

PORT = 18256
LINEAR = "/v2/models/tabular/linear/infer"


def post_raw(url: str, key: str, body: str) -> httpx.Response:
    """A body sent as written: ``NaN`` and ``Infinity`` are what a Python client's json.dumps emits."""
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    return httpx.post(url, content=body.encode(), headers=headers)


def assert_refused(running: Running, response: httpx.Response, status: int, *words: str) -> None:
    """The client got ``status`` with the words, and the request's one ledger event says the same."""
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for word in words:
        assert word in message, message
    [event] = running.events(request_id=response.headers["x-request-id"])
    assert event["status"] == status
    assert Decimal(str(event["revenue_usd"])) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_input_is_a_400_naming_the_tensor(
    gateway_server: Running, new_customer: Callable[..., str], literal: str
) -> None:
    body = (
        '{"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", '
        f'"data": [{literal}, 1, 2, 3]}}]}}'
    )
    response = post_raw(gateway_server.url + LINEAR, new_customer(), body)
    assert_refused(gateway_server, response, 400, "'features'", "not a finite number")
    assert response.json()["code"] == "invalid_tensor"


@pytest.mark.parametrize(
    "extra",
    [
        '"temperature": NaN',
        '"top_p": Infinity',
        '"logit_bias": {"50256": -Infinity}',
        '"stop": ["x"], "seed": 1e999',
    ],
)
def test_non_finite_openai_parameters_are_a_400_naming_the_field(
    gateway_server: Running, new_customer: Callable[..., str], extra: str
) -> None:
    """Fields the gateway passes on to vLLM as sent: a non-finite number never reaches the engine."""
    body = f'{{"model": "echo/chat", "messages": [{{"role": "user", "content": "hi"}}], {extra}}}'
    response = post_raw(gateway_server.url + "/v1/chat/completions", new_customer(), body)
    field = extra.split(":")[0].strip('"') if "seed" not in extra else "seed"
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert f"`{field}`" in message and "not finite" in message, message
    [event] = gateway_server.events(request_id=response.headers["x-request-id"])
    assert event["status"] == 400 and Decimal(str(event["revenue_usd"])) == 0


def test_non_finite_inside_a_bytes_record_is_a_400_naming_the_tensor(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    """A JSON record in a BYTES element holding NaN, and a record given inline holding Infinity."""
    key = new_customer()
    in_text = (
        '{"inputs": [{"name": "rows", "shape": [1], "datatype": "BYTES", '
        '"data": ["{\\"features\\": [NaN, 1, 2, 3]}"]}]}'
    )
    inline = (
        '{"inputs": [{"name": "rows", "shape": [1], "datatype": "BYTES", '
        '"data": [{"features": [1, Infinity, 2, 3]}]}]}'
    )
    for body in (in_text, inline):
        response = post_raw(gateway_server.url + LINEAR, key, body)
        assert_refused(gateway_server, response, 400, "'rows'", "not a finite number")


def test_non_finite_binary_input_from_tritonclient_is_refused(gateway_server: Running) -> None:
    key = gateway_server.customer("nan-binary")
    tensor = triton.InferInput("features", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.array([[math.nan, 1, 2, 3]], dtype=np.float32), binary_data=True)
    client = triton.InferenceServerClient(gateway_server.url.removeprefix("http://"))
    with pytest.raises(InferenceServerException, match="'features' holds NaN"):
        client.infer("tabular/linear", [tensor], headers={"Authorization": f"Bearer {key}"})
    [event] = gateway_server.events(customer="nan-binary")
    assert event["status"] == 400 and Decimal(str(event["revenue_usd"])) == 0


def test_the_text_nan_alone_is_still_text(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    """A BYTES element "NaN" is a word, not a number: echo/chat answers it."""
    body = '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["NaN"]}]}'
    response = post_raw(gateway_server.url + "/v2/models/echo/chat/infer", new_customer(), body)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == ["NaN"]


class NaNPredictor(Predictor):
    """A broken model: a NaN score for every row."""

    def load(self, model_dir: Path | None) -> None:
        pass

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        return [math.nan for _ in batch]


class WidePredictor(Predictor):
    """A model whose answer does not fit the INT32 output it declares: only packing it fails."""

    def load(self, model_dir: Path | None) -> None:
        pass

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        return [2**40 for _ in batch]


class LeakyPredictor(Predictor):
    """A model that fails with an exception quoting what it read, as a parser of a server file would."""

    def load(self, model_dir: Path | None) -> None:
        pass

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        raise ValueError("could not convert 'SECRET-42' from /srv/private/table.csv")


class OddModels:
    @hookimpl
    def register_models(self, register: Callable[[ModelSpec], None]) -> None:
        for name, predictor, datatype in (
            ("odd/nan", NaNPredictor, "FP32"),
            ("odd/wide", WidePredictor, "INT32"),
            ("odd/leaky", LeakyPredictor, "FP32"),
        ):
            register(
                ModelSpec(
                    name=name,
                    task=Task.TABULAR_SCORING,
                    backend=Backend.TORCH,
                    source="builtin://odd",
                    unit=Unit.ROWS,
                    price_per_unit_usd=Decimal("0.01"),
                    predictor=predictor,
                    outputs=(TensorSpec(name="value", datatype=datatype, shape=(-1,)),),
                )
            )


@pytest.fixture(scope="module")
def odd_gateway(
    tmp_path_factory: pytest.TempPathFactory, launch_gateway: Callable[..., Any]
) -> Iterator[Running]:
    from verticals.plugins import get_plugin_manager
    from verticals.registry import Registry

    pm = get_plugin_manager(load_defaults=False, load_entry_points=False)
    pm.add_plugin(OddModels(), "odd", "test", None)
    home = tmp_path_factory.mktemp("odd-home")
    models = ("odd/nan", "odd/wide", "odd/leaky")
    server, running = launch_gateway(home, PORT, models=models, registry=Registry.load(pm))
    yield running
    server.stop()
    running.ledger.close()


def one_row(binary_output: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}
    if binary_output:
        body["parameters"] = {"binary_data_output": True}
    return body


def test_a_model_answering_nan_is_a_500_and_not_billed(odd_gateway: Running) -> None:
    key = odd_gateway.customer("nan-model")
    response = httpx.post(
        odd_gateway.url + "/v2/models/odd/nan/infer",
        json=one_row(),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert_refused(odd_gateway, response, 500, "odd/nan", "not a finite number")
    assert response.json()["code"] == "model_error"


def test_a_failing_model_names_the_failure_without_quoting_it(
    odd_gateway: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """The exception's text may hold what the model read: the operator's log gets it, the customer not."""
    key = odd_gateway.customer("leaky-model")
    with caplog.at_level("ERROR", logger="verticals.serving"):
        response = httpx.post(
            odd_gateway.url + "/v2/models/odd/leaky/infer",
            json=one_row(),
            headers={"Authorization": f"Bearer {key}"},
        )
    assert_refused(odd_gateway, response, 500, "odd/leaky", "ValueError", "x-request-id")
    assert "SECRET-42" not in response.text and "/srv/private" not in response.text
    assert any("SECRET-42" in (record.exc_text or "") for record in caplog.records)


def test_the_ledger_records_the_status_sent_when_building_the_response_fails(odd_gateway: Running) -> None:
    """The model answers, then packing its INT32 output fails: the client's 500 is what is recorded.

    The budget fits one row ($0.01): a failed request must release its reservation, not spend it,
    so the next request is admitted, and the one after that is refused for the budget.
    """
    key = odd_gateway.customer("wide-model", budget="0.01")
    url, headers = odd_gateway.url + "/v2/models/odd/wide/infer", {"Authorization": f"Bearer {key}"}
    failed = httpx.post(url, json=one_row(binary_output=True), headers=headers)
    assert_refused(odd_gateway, failed, 500, "internal error")
    answered = httpx.post(url, json=one_row(), headers=headers)
    assert answered.status_code == 200, answered.text
    assert answered.json()["outputs"][0]["data"] == [2**40]
    over = httpx.post(url, json=one_row(), headers=headers)
    assert over.status_code == 402, over.text
    statuses = [
        (e["status"], Decimal(str(e["revenue_usd"]))) for e in odd_gateway.events(customer="wide-model")
    ]
    assert statuses == [(500, Decimal(0)), (200, Decimal("0.01")), (402, Decimal(0))]


@pytest.mark.parametrize("status", [200, 500, 400])
def test_an_event_metered_before_its_response_is_recorded_with_the_status_sent(
    tmp_path: Path, status: int
) -> None:
    """The meter on its own: a route meters its answer as a 200; the event waits for the response.

    Sent as a 200 it is billed and settles the reservation; sent as anything else (the response
    failed after the route metered it) it is recorded with that status, unbilled, reservation released.
    """
    from verticals.ledger import Ledger
    from verticals.serving.limits import InMemoryLimits
    from verticals.serving.metering import Meter, Principal, RequestContext
    from verticals.serving.metrics import Metrics

    from .stepped import at_once

    ledger = Ledger.open(tmp_path, fsync_ms=5)
    limits = InMemoryLimits()
    meter = Meter(ledger, limits, Metrics())
    spec = ModelSpec(
        name="odd/nan",
        task=Task.TABULAR_SCORING,
        backend=Backend.TORCH,
        source="builtin://odd",
        unit=Unit.ROWS,
        price_per_unit_usd=Decimal("0.01"),
        predictor=NaNPredictor,
    )
    ctx = RequestContext(request_id="req_held", endpoint="/v2/infer", unsent=True, price=Decimal("0.01"))
    ctx.principal = Principal(customer="acme", key_prefix="vk_acme", rpm=None, tpm=None)
    meter.start(ctx, spec)
    ctx.reservation = at_once(limits.reserve("acme", Decimal("1"), Decimal("0.01"), lambda: Decimal(0)))

    assert at_once(meter.finish(ctx, 200, units_in=1)) == Decimal("0.01")  # the cost the 200 would carry
    assert not ctx.recorded and meter.in_flight == 1  # held until the response starts
    at_once(meter.sent(ctx, status))
    at_once(meter.sent(ctx, 200))  # a second call records nothing more

    ledger.flush()
    rows = ledger.connection.cursor().execute("SELECT status, revenue_usd FROM usage_events").fetchall()
    billed = Decimal("0.01") if status == 200 else Decimal(0)
    assert [(row[0], Decimal(str(row[1]))) for row in rows] == [(status, billed)]
    assert limits.account("acme") == (billed, Decimal(0)) and meter.in_flight == 0
    ledger.close()
