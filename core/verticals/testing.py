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

Every adapter's payload reader (the gateway's door for customer data) must read the payload and
nothing else. One line gives a plugin the test that checks it, against paths of existing and missing
files, DuckDB tables, ``file://`` and ``http://`` URLs::

    import verticals_myplugin
    from verticals.testing import payload_reader_test

    test_payload_readers_read_only_the_payload = payload_reader_test(verticals_myplugin)

``assert_payload_reader_reads_no_files(adapter, tmp_path)`` runs the same check on one adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from verticals.payload_probe import assert_payload_reader_reads_no_files
from verticals.plugins import VerticalsPluginManager, get_plugin_manager
from verticals.registry import Registry

__all__ = [
    "assert_payload_reader_reads_no_files",
    "make_plugin_manager",
    "make_registry",
    "payload_reader_test",
    "plugin_manager_with",
    "verticals_home",
]

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

    return plugin_manager_with


def plugin_manager_with(
    *plugins: object, defaults: bool = True, installed: bool = False
) -> VerticalsPluginManager:
    """A plugin manager with ``plugins`` (modules or objects with hook implementations) registered."""
    pm = get_plugin_manager(load_defaults=defaults, load_entry_points=installed)
    for index, plugin in enumerate(plugins):
        name = getattr(plugin, "name", None) or getattr(plugin, "__name__", None) or f"test-plugin-{index}"
        pm.add_plugin(plugin, str(name), "test", None)
    pm.check_pending()
    return pm


@pytest.fixture
def make_registry(make_plugin_manager: PluginManagerFactory) -> RegistryFactory:
    """Load a registry from the default plugins plus the given temporary plugins."""

    def make(*plugins: object, defaults: bool = True, installed: bool = False) -> Registry:
        return Registry.load(make_plugin_manager(*plugins, defaults=defaults, installed=installed))

    return make


def payload_reader_test(*plugins: object, text_is_data: tuple[str, ...] = ()) -> Callable[[Path], None]:
    """A test checking every payload reader that ``plugins`` register (see ``payload_probe``).

    Bind it to a ``test_*`` name in a test module. ``plugins`` are loaded alone (no default or
    installed plugins); ``text_is_data`` names adapters whose payload is free text, which may take a
    path-like string as text rather than refuse it. The test fails when a plugin fails to load.
    """

    def test(tmp_path: Path) -> None:
        registry = Registry.load(plugin_manager_with(*plugins, defaults=False, installed=False))
        assert not registry.failures, f"the plugins failed to load: {registry.failures}"
        for name, registered in sorted(registry.adapters.items()):
            if registered.item.read_payload is None:
                continue  # an operator-only adapter: the registry keeps it off every model's input
            workdir = tmp_path / name.replace("/", "-")
            workdir.mkdir()
            assert_payload_reader_reads_no_files(registered.item, workdir, text_is_data=name in text_is_data)

    test.__doc__ = "Every payload reader reads only its payload: no path, table or URL in it is opened."
    return test
