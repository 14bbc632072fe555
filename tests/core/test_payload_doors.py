"""The adapter contract's two doors: request payloads and operator sources, kept apart."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from verticals import hookimpl
from verticals.adapters import AdapterError, DataAdapter
from verticals.default_plugins import echo, tabular
from verticals.models import Backend, ModelSpec, Predictor, Task, Unit
from verticals.testing import payload_reader_test

test_default_plugins_read_only_the_payload = payload_reader_test(echo, tabular)


class Same(Predictor):
    def predict(self, batch):  # type: ignore[no-untyped-def]
        return list(batch)


def test_a_single_read_is_refused_naming_the_two_doors() -> None:
    with pytest.raises(ValidationError, match="DataAdapter has no `read`: give `read_payload`"):
        DataAdapter(name="x/old", formats=("csv",), read=lambda source: [])  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="reads nothing: give read_payload"):
        DataAdapter(name="x/none", formats=("csv",))


def test_the_source_door_is_refused_where_only_payloads_are_read() -> None:
    adapter = DataAdapter(name="x/payload", formats=("json",), read_payload=lambda payload: [payload])
    with pytest.raises(AdapterError, match="reads only request payloads"):
        adapter.source("/srv/data.csv")


class HoldoutAsInput:
    """A plugin that names its operator-only adapter as a model's input: the mistake of issue 14."""

    name = "holdin"

    @hookimpl
    def register_models(self, register):  # type: ignore[no-untyped-def]
        for model, adapter in (("holdin/bad", "holdin/holdout"), ("holdin/typo", "holdin/nope")):
            register(
                ModelSpec(
                    name=model,
                    task=Task.TABULAR_SCORING,
                    backend=Backend.TORCH,
                    source="builtin://x",
                    unit=Unit.ROWS,
                    price_per_unit_usd=Decimal("0.001"),
                    predictor=Same,
                    input_adapter=adapter,
                )
            )

    @hookimpl
    def register_data_adapters(self, register):  # type: ignore[no-untyped-def]
        register(DataAdapter(name="holdin/holdout", formats=("json",), read_source=lambda path: []))


def test_a_model_whose_input_adapter_reads_no_payloads_is_not_served(make_registry) -> None:  # type: ignore[no-untyped-def]
    registry = make_registry(HoldoutAsInput())
    assert "holdin/bad" not in registry.models and "holdin/typo" not in registry.models
    errors = sorted(f.error for f in registry.failures if f.name == "holdin")
    assert len(errors) == 2
    assert "input_adapter 'holdin/holdout' (plugin 'holdin') has no read_payload" in errors[0]
    assert "give the adapter a read_payload that reads only the payload" in errors[0]
    assert "input_adapter 'holdin/nope' is not registered" in errors[1]
    assert "holdin/holdout" in registry.adapters  # still there for `verticals eval`


def test_the_gateway_reads_items_through_the_payload_door_only(make_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from verticals.serving.backends.torch import TorchBackend
    from verticals.serving.errors import APIError

    class Both:
        name = "both"

        @hookimpl
        def register_models(self, register):  # type: ignore[no-untyped-def]
            register(
                ModelSpec(
                    name="both/m",
                    task=Task.TABULAR_SCORING,
                    backend=Backend.TORCH,
                    source="builtin://x",
                    unit=Unit.ROWS,
                    price_per_unit_usd=Decimal("0.001"),
                    predictor=Same,
                    input_adapter="both/rows",
                )
            )

        @hookimpl
        def register_data_adapters(self, register):  # type: ignore[no-untyped-def]
            def payload(item):  # type: ignore[no-untyped-def]
                if not isinstance(item, list):
                    raise AdapterError("send a JSON list")
                return item

            register(
                DataAdapter(
                    name="both/rows",
                    formats=("json",),
                    read_payload=payload,
                    read_source=lambda path: Path(path).read_text().split(),
                )
            )

    (tmp_path / "rows.txt").write_text("secret-row")
    registry = make_registry(Both())
    spec = registry.model("both/m")
    backend = TorchBackend(spec, None, reader=registry.payload_reader(spec))
    assert asyncio.run(backend.adapt([1, 2])) == [1, 2]
    with pytest.raises(APIError) as refused:
        asyncio.run(backend.adapt(str(tmp_path / "rows.txt")))
    assert refused.value.status == 400 and "secret-row" not in str(refused.value)
