"""One test per hook spec, plus a meta-test that each hook is documented and tested (as datasette does)."""

from __future__ import annotations

import inspect
from decimal import Decimal
from pathlib import Path

import click
import pluggy
import pytest
from click.testing import CliRunner

from verticals import hookimpl, hookspecs
from verticals.adapters import AdapterError, DataAdapter
from verticals.cli import add_plugin_commands
from verticals.evaluation import Evaluation, Threshold
from verticals.models import Backend, ModelSpec, Task, Unit
from verticals.plugins import get_plugin_manager, hook_calls

REPO = Path(__file__).resolve().parents[2]


def hook_names() -> list[str]:
    return [
        name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")
    ]


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_documented_in_the_readme(hook: str) -> None:
    assert f"`{hook}(" in (REPO / "README.md").read_text(), f"document {hook} in README.md's Hooks section"


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_test(hook: str) -> None:
    assert f"test_{hook}" in globals(), f"write test_{hook} in {__file__}"


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_docstring(hook: str) -> None:
    assert len(inspect.getdoc(getattr(hookspecs, hook)) or "") > 200


class Plugin:
    name = "ex"

    @hookimpl
    def register_models(self, register):
        register(
            ModelSpec(
                name="ex/chat",
                task=Task.CHAT,
                backend=Backend.VLLM,
                source="hf://org/model",
                unit=Unit.TOKENS,
                price_per_unit_usd=Decimal("0.000001"),
            )
        )

    @hookimpl
    def register_data_adapters(self, register):
        def read(source):
            if not isinstance(source, str) or not source.strip():
                raise AdapterError("expected a non-empty string: pass the question text")
            return [source.strip()]

        register(DataAdapter(name="ex/text", formats=("txt",), read_payload=read))

    @hookimpl
    def register_evaluations(self, register):
        def score(records, predict):
            answers = predict(records)
            return {
                "exact": sum(a == r.upper() for a, r in zip(answers, records, strict=True)) / len(records)
            }

        register(
            Evaluation(
                name="ex/upper",
                model="ex/chat",
                dataset="inline",
                adapter="ex/text",
                metrics=("exact",),
                thresholds={"exact": Threshold(min=0.9)},
                score=score,
            )
        )

    @hookimpl
    def register_commands(self, cli):
        @cli.command()
        @click.argument("who")
        def greet(who):
            """Say hello."""
            click.echo(f"hello {who}")


def test_register_models(make_registry) -> None:
    registry = make_registry(Plugin())
    spec = registry.model("ex/chat")
    assert (spec.task, spec.backend, spec.unit, spec.plugin) == ("chat", "vllm", "tokens", "ex")
    assert registry.models["ex/chat"].provenance.name == "ex"


def test_register_data_adapters(make_registry) -> None:
    adapter = make_registry(Plugin()).adapter("ex/text")
    assert adapter.read_payload is not None and adapter.read_source is None
    assert adapter.read_payload("  what is 2+2? ") == ["what is 2+2?"]
    with pytest.raises(AdapterError, match="non-empty string"):
        adapter.read_payload("")


def test_register_evaluations(make_registry) -> None:
    registry = make_registry(Plugin())
    [suite] = registry.evaluations_for("ex/chat")
    metrics = suite.score(["a", "b"], lambda batch: [x.upper() for x in batch])
    assert metrics == {"exact": 1.0}
    assert suite.thresholds["exact"].passes(metrics["exact"])
    assert not suite.thresholds["exact"].passes(0.5)


def test_register_commands(make_plugin_manager) -> None:
    group = click.Group("verticals")
    add_plugin_commands(group, make_plugin_manager(Plugin()))
    result = CliRunner().invoke(group, ["greet", "ada"])
    assert result.exit_code == 0
    assert result.output == "hello ada\n"


def test_register_commands_failure_is_isolated(make_plugin_manager) -> None:
    class Broken:
        name = "broken-cmd"

        @hookimpl
        def register_commands(self, cli):
            raise RuntimeError("bad command")

    pm = make_plugin_manager(Broken(), Plugin())
    group = click.Group("verticals")
    add_plugin_commands(group, pm)
    assert "greet" in group.commands
    assert [(f.name, f.error) for f in pm.failures] == [("broken-cmd", "RuntimeError: bad command")]


class FutureSpecs:
    """``register_models`` as it may grow one day, the way llm's gained ``model_aliases``."""

    @pluggy.HookspecMarker("verticals")
    def register_models(self, register, model_aliases):
        """Register models, and aliases for them."""


class OlderPlugin:
    """Written against today's spec: names ``register`` only."""

    @hookimpl
    def register_models(self, register):
        register("old/model")


class NewerPlugin:
    @hookimpl
    def register_models(self, register, model_aliases):
        register("new/model")
        model_aliases["new"] = "new/model"


def test_each_implementation_gets_only_the_arguments_it_names() -> None:
    pm = pluggy.PluginManager("verticals")
    pm.add_hookspecs(FutureSpecs)
    pm.register(OlderPlugin(), name="older")
    pm.register(NewerPlugin(), name="newer")
    registered: list[str] = []
    aliases: dict[str, str] = {}
    called = []
    for plugin_name, call in hook_calls(pm, "register_models"):
        call(register=registered.append, model_aliases=aliases)
        called.append(plugin_name)
    assert sorted(called) == ["newer", "older"]
    assert sorted(registered) == ["new/model", "old/model"]
    assert aliases == {"new": "new/model"}
    # the same as pluggy's own call over every plugin at once
    everyone: list[str] = []
    pm.hook.register_models(register=everyone.append, model_aliases={})
    assert sorted(everyone) == sorted(registered)
    # calling the function with every argument, as the registry once did, breaks the older plugin
    [older] = [impl for impl in pm.hook.register_models.get_hookimpls() if impl.plugin_name == "older"]
    with pytest.raises(TypeError, match="model_aliases"):
        older.function(register=registered.append, model_aliases=aliases)


def test_registry_calls_a_hookimpl_that_names_fewer_arguments_than_the_spec(make_registry) -> None:
    calls: list[str] = []

    class Sparse:
        name = "sparse"

        @hookimpl
        def register_models(self, register):
            register(
                ModelSpec(
                    name="sparse/chat",
                    task=Task.CHAT,
                    backend=Backend.VLLM,
                    source="hf://org/model",
                    unit=Unit.TOKENS,
                    price_per_unit_usd=Decimal("0.000001"),
                )
            )

        @hookimpl
        def register_evaluations(self):  # no suite yet: it names none of the spec's arguments
            calls.append("register_evaluations")

        @hookimpl
        def register_commands(self):
            calls.append("register_commands")

    registry = make_registry(Sparse())
    assert registry.plugin_manager is not None
    add_plugin_commands(click.Group("verticals"), registry.plugin_manager)
    assert [f for f in registry.failures if f.name == "sparse"] == []
    assert calls == ["register_evaluations", "register_commands"]
    assert registry.models["sparse/chat"].provenance.name == "sparse"


def test_core_commands_come_from_default_plugins_through_register_commands() -> None:
    group = click.Group("verticals", commands=[click.Group("models")])
    add_plugin_commands(group, get_plugin_manager(load_entry_points=False))
    assert {"serve", "dashboard", "demo", "up", "eval", "train", "customers", "usage"} <= set(group.commands)
    models = group.commands["models"]
    assert isinstance(models, click.Group) and {"pull", "promote"} <= set(models.commands)
    bare = click.Group("verticals")
    add_plugin_commands(bare, get_plugin_manager(load_defaults=False, load_entry_points=False))
    assert bare.commands == {}
