"""Finding and loading plugins: default plugins shipped in the package, then installed ones.

Loading is isolated: a plugin whose import fails is recorded as a ``PluginFailure`` and every other
plugin still loads, so one broken distribution never takes the CLI or the gateway down.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from typing import Any

import pluggy

from verticals import __version__, hookspecs

ENTRY_POINT_GROUP = "verticals"
LOAD_PLUGINS_ENV = "VERTICALS_LOAD_PLUGINS"

# Loaded before any installed plugin, each named after its module's last part. echo and tabular serve
# models; commands adds the core's own commands through ``register_commands``, as an installed plugin
# adds its own (as pytest's and datasette's built-in plugins do).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "verticals.default_plugins.echo",
    "verticals.default_plugins.tabular",
    "verticals.default_plugins.commands",
)


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from."""

    name: str
    distribution: str | None
    version: str | None


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or whose hook raised, and why."""

    name: str
    distribution: str | None
    version: str | None
    error: str


class VerticalsPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers each plugin's distribution and any load failures."""

    def __init__(self) -> None:
        super().__init__("verticals")
        self.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self.failures: list[PluginFailure] = []

    def add_plugin(self, plugin: object, name: str, distribution: str | None, version: str | None) -> None:
        """Register ``plugin`` (a module or object of hook implementations) under ``name`` and remember its
        distribution and version for provenance. pluggy raises ValueError when the name is already
        registered.
        """
        self.register(plugin, name=name)
        self.info[name] = PluginInfo(name, distribution, version)

    def record_failure(self, name: str, error: BaseException | str) -> None:
        """Record that plugin ``name`` failed (``error``: an exception, kept as ``Type: message``, or a
        message), with its distribution and version when known; ``verticals plugins list`` shows it.
        """
        info = self.info.get(name)
        cause = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.failures.append(
            PluginFailure(name, info.distribution if info else None, info.version if info else None, cause)
        )


def allowed_plugins() -> set[str] | None:
    """The plugin names ``VERTICALS_LOAD_PLUGINS`` allows; ``None`` when unset (all allowed)."""
    raw = os.environ.get(LOAD_PLUGINS_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def get_plugin_manager(
    *, load_defaults: bool = True, load_entry_points: bool = True
) -> VerticalsPluginManager:
    """Build a new plugin manager; no global state, so tests can build as many as they like."""
    pm = VerticalsPluginManager()
    if load_defaults:
        for module_name in DEFAULT_PLUGINS:
            module = importlib.import_module(module_name)
            pm.add_plugin(module, module_name.rsplit(".", 1)[1], "verticals", __version__)
    if load_entry_points:
        load_entry_point_plugins(pm, allowed_plugins())
    pm.check_pending()
    return pm


def load_entry_point_plugins(pm: VerticalsPluginManager, allowed: set[str] | None) -> None:
    """Import every plugin in the ``verticals`` entry-point group that ``allowed`` permits."""
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        name = entry_point.name
        # A distribution reachable through two sys.path entries shows up twice: keep the first.
        if name in pm.info or any(f.name == name for f in pm.failures):
            continue
        if allowed is not None and name not in allowed:
            continue
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        dist_version = dist.version if dist is not None else None
        try:
            plugin = entry_point.load()
        except BaseException as error:  # a plugin's import may raise anything, SystemExit included
            if isinstance(error, KeyboardInterrupt):
                raise
            pm.failures.append(
                PluginFailure(name, dist_name, dist_version, f"{type(error).__name__}: {error}")
            )
            continue
        try:
            pm.add_plugin(plugin, name, dist_name, dist_version)
        except (ValueError, pluggy.PluginValidationError) as error:
            pm.failures.append(
                PluginFailure(name, dist_name, dist_version, f"{type(error).__name__}: {error}")
            )


def hook_calls(pm: pluggy.PluginManager, hook_name: str) -> Iterator[tuple[str, Callable[..., Any]]]:
    """``(plugin name, call)`` for each implementation of the hook ``hook_name``, in pluggy's order.

    ``call(**kwargs)`` calls that one implementation the way pluggy's own hook call does: with only the
    arguments the implementation names. ``kwargs`` holds every argument of the spec, so a plugin written
    against an older spec keeps working the day the spec gains an argument (as llm's
    ``register_models(register)`` became ``register_models(register, model_aliases)``); calling
    ``impl.function(**kwargs)`` instead would raise ``TypeError`` in it. ``call`` raises ``KeyError``
    when ``kwargs`` lacks an argument the implementation names, and whatever the plugin raises.

    One call per plugin, rather than one ``pm.hook.<name>(...)`` for all, lets the caller record a
    plugin whose hook raises and go on with the others. For the same reason hook wrappers are skipped:
    they wrap one call over every plugin, which isolated calls do not make.
    """
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue
        yield impl.plugin_name, partial(_call_as_pluggy_does, impl)


def _call_as_pluggy_does(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
    # pluggy's _multicall: positional arguments, in the implementation's order, by the names it takes.
    return impl.function(*(kwargs[name] for name in impl.argnames))
