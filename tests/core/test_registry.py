"""The registry: provenance, lookups and name collisions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from verticals import hookimpl
from verticals.adapters import DataAdapter
from verticals.models import Backend, ModelSpec, Task, Unit
from verticals.registry import UnknownNameError


def chat_spec(name: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        task=Task.CHAT,
        backend=Backend.VLLM,
        source="hf://org/model",
        unit=Unit.TOKENS,
        price_per_unit_usd=Decimal("0.000002"),
    )


class FirstChat:
    name = "first"

    @hookimpl
    def register_models(self, register):
        register(chat_spec("shared/chat"))


class SecondChat:
    name = "second"

    @hookimpl
    def register_models(self, register):
        register(chat_spec("second/own"))
        register(chat_spec("shared/chat"))


def test_collision_names_both_plugins_and_keeps_the_first(make_registry) -> None:
    registry = make_registry(FirstChat(), SecondChat())
    [failure] = registry.failures
    assert failure.name in {"first", "second"}
    assert "'first'" in failure.error and "'second'" in failure.error
    assert "shared/chat" in failure.error
    winner = registry.models["shared/chat"].provenance.name
    assert winner != failure.name
    # all or nothing: the losing plugin registers none of its models
    assert ("second/own" in registry.models) == (winner == "second")


def test_collision_between_adapters(make_registry) -> None:
    class A:
        name = "a"

        @hookimpl
        def register_data_adapters(self, register):
            register(DataAdapter(name="tabular/rows", formats=("csv",), read_payload=lambda s: []))

    registry = make_registry(A())
    [failure] = registry.failures
    assert "'tabular'" in failure.error and "'a'" in failure.error


def test_provenance_of_default_plugins(make_registry) -> None:
    registry = make_registry()
    provenance = registry.models["echo/chat"].provenance
    assert (provenance.name, provenance.distribution) == ("echo", "verticals")
    assert registry.adapters["tabular/rows"].provenance.name == "tabular"


def test_unknown_model_lists_the_known_ones(make_registry) -> None:
    registry = make_registry()
    with pytest.raises(UnknownNameError) as error:
        registry.model("nlp/nope")
    assert "echo/chat" in str(error.value) and "verticals models list" in str(error.value)
