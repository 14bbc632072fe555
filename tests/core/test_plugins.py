"""Plugin loading: default plugins, entry points, the allowlist and failure isolation."""

from __future__ import annotations

import shutil
import sys

import pytest

from verticals.plugins import get_plugin_manager
from verticals.registry import Registry

GOOD_PLUGIN = """
from decimal import Decimal
from verticals import hookimpl
from verticals.models import Backend, ModelSpec, Predictor, Task, Unit


class Double(Predictor):
    def predict(self, batch):
        return [2 * x for x in batch]


@hookimpl
def register_models(register):
    register(ModelSpec(name="{name}/double", task=Task.TABULAR_SCORING, backend=Backend.TORCH,
                       source="builtin://double", unit=Unit.ROWS, price_per_unit_usd=Decimal("0.01"),
                       predictor=Double))
"""


def test_default_plugins_load_with_provenance() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    assert list(pm.info) == ["echo", "tabular", "commands"]
    assert all(info.distribution == "verticals" for info in pm.info.values())
    assert pm.failures == []


def test_entry_point_plugin_is_found_with_its_distribution(site_packages) -> None:
    site_packages.add(
        "verticals-good", "good_plugin", GOOD_PLUGIN.format(name="good"), entry_point="good", version="2.3"
    )
    registry = Registry.load(get_plugin_manager())
    registered = registry.models["good/double"]
    assert (
        registered.provenance.name,
        registered.provenance.distribution,
        registered.provenance.version,
    ) == ("good", "verticals-good", "2.3")
    assert registered.item.predictor is not None
    assert registered.item.predictor().predict([1, 2]) == [2, 4]


def test_plugin_that_raises_on_import_is_recorded_and_others_load(site_packages) -> None:
    site_packages.add(
        "verticals-broken",
        "broken_plugin",
        "raise RuntimeError('missing licence file')",
        entry_point="broken",
    )
    site_packages.add("verticals-good", "good_plugin", GOOD_PLUGIN.format(name="good"), entry_point="good")
    pm = get_plugin_manager()
    [failure] = pm.failures
    assert failure.name == "broken"
    assert failure.distribution == "verticals-broken"
    assert failure.error == "RuntimeError: missing licence file"
    assert {"echo", "tabular", "good"} <= set(pm.info)
    assert "good/double" in Registry.load(pm).models


def test_plugin_that_exits_on_import_is_isolated(site_packages) -> None:
    site_packages.add("verticals-exits", "exits_plugin", "import sys\nsys.exit(3)", entry_point="exits")
    pm = get_plugin_manager()
    assert [f.name for f in pm.failures] == ["exits"]


def test_plugin_that_raises_in_a_hook_is_recorded_and_registers_nothing(site_packages) -> None:
    source = (
        GOOD_PLUGIN.format(name="half")
        + """

@hookimpl
def register_evaluations(register):
    raise ValueError("suite file not found")
"""
    )
    site_packages.add("verticals-half", "half_plugin", source, entry_point="half")
    registry = Registry.load(get_plugin_manager())
    [failure] = registry.failures
    assert failure.name == "half"
    assert failure.error == "ValueError: suite file not found"
    assert "echo/chat" in registry.models


def test_invalid_registration_is_a_failure_naming_the_plugin(site_packages) -> None:
    site_packages.add("verticals-bad", "bad_plugin", GOOD_PLUGIN.format(name="Not A Name"), entry_point="bad")
    registry = Registry.load(get_plugin_manager())
    [failure] = registry.failures
    assert failure.name == "bad"
    assert "invalid model" in failure.error and "<plugin>/<model>" in failure.error


@pytest.mark.parametrize(
    ("allow", "expected"),
    [("good", {"good"}), ("", set()), ("good,other", {"good"}), (" other , good ", {"good"})],
)
def test_allowlist_selects_installed_plugins(site_packages, monkeypatch, allow, expected) -> None:
    site_packages.add("verticals-good", "good_plugin", GOOD_PLUGIN.format(name="good"), entry_point="good")
    site_packages.add("verticals-broken", "broken_plugin", "raise ImportError('nope')", entry_point="broken")
    monkeypatch.setenv("VERTICALS_LOAD_PLUGINS", allow)
    pm = get_plugin_manager()
    assert set(pm.info) - {"echo", "tabular", "commands"} == expected
    assert pm.failures == []


def test_distribution_reachable_twice_is_registered_once(site_packages, tmp_path, monkeypatch) -> None:
    site_packages.add("verticals-good", "good_plugin", GOOD_PLUGIN.format(name="good"), entry_point="good")
    # the same distribution installed in two places on sys.path (a user site and a venv, say), and the
    # first place reached again through a second spelling of its path
    copy = tmp_path / "second-site"
    shutil.copytree(site_packages.root, copy)
    monkeypatch.syspath_prepend(str(copy))
    monkeypatch.syspath_prepend(str(site_packages.root) + "/.")
    pm = get_plugin_manager()
    assert list(pm.info).count("good") == 1
    assert pm.failures == []
    assert len(Registry.load(pm).models) == 3


def test_plugins_do_not_import_heavy_libraries(site_packages) -> None:
    code = (
        "import sys\n"
        "from verticals.registry import Registry\n"
        "Registry.load()\n"
        "heavy = ('torch', 'transformers', 'vllm', 'sentence_transformers', 'faster_whisper', 'streamlit')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
