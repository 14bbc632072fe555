"""Pytest fixtures for plugin authors, installed as a pytest11 plugin with verticals.

Use ``make_registry`` to load a temporary plugin without installing it::

    from verticals import hookimpl

    class MyPlugin:
        @hookimpl
        def register_models(self, register):
            register(ModelSpec(...))

    def test_my_model(make_registry):
        registry = make_registry(MyPlugin())
        assert "my/model" in registry.models
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from verticals.plugins import VerticalsPluginManager, get_plugin_manager
from verticals.registry import Registry

PluginManagerFactory = Callable[..., VerticalsPluginManager]
RegistryFactory = Callable[..., Registry]


@pytest.fixture
def verticals_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh, empty data directory, set as ``VERTICALS_HOME`` for the test."""
    home = tmp_path / "verticals-home"
    home.mkdir()
    monkeypatch.setenv("VERTICALS_HOME", str(home))
    yield home


@pytest.fixture
def make_plugin_manager() -> PluginManagerFactory:
    """Build a plugin manager with the given temporary plugins registered.

    ``make_plugin_manager(plugin, ..., defaults=True, installed=False)``: the default plugins are
    loaded unless ``defaults=False``; installed entry-point plugins only with ``installed=True``.
    """

    def make(*plugins: object, defaults: bool = True, installed: bool = False) -> VerticalsPluginManager:
        pm = get_plugin_manager(load_defaults=defaults, load_entry_points=installed)
        for index, plugin in enumerate(plugins):
            name = (
                getattr(plugin, "name", None) or getattr(plugin, "__name__", None) or f"test-plugin-{index}"
            )
            pm.add_plugin(plugin, str(name), "test", None)
        pm.check_pending()
        return pm

    return make


@pytest.fixture
def make_registry(make_plugin_manager: PluginManagerFactory) -> RegistryFactory:
    """Load a registry from the default plugins plus the given temporary plugins."""

    def make(*plugins: object, defaults: bool = True, installed: bool = False) -> Registry:
        return Registry.load(make_plugin_manager(*plugins, defaults=defaults, installed=installed))

    return make
