"""One test per hook spec, plus a meta-test that each hook is documented and tested (as datasette does)."""

from __future__ import annotations

import inspect
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from verticals import hookimpl, hookspecs
from verticals.adapters import AdapterError, DataAdapter
from verticals.cli import add_plugin_commands
from verticals.evaluation import Evaluation, Threshold
from verticals.models import Backend, ModelSpec, Task, Unit

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
