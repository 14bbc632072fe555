"""Plugins installed while the gateway runs: the 404 that says so, and loading them without a restart.

A gateway reads the installed plugins once, at start. A model whose plugin came later is unknown to
it, so the 404 for it names the plugin installed since and the two ways to serve it: restart the
gateway, or ``POST /admin/plugins/reload`` (``verticals plugins reload``).

Reloading reads the plugins again, builds and starts a backend for each new model, then swaps the
registry and the backends in one step on the event loop. Models already served keep their backend
and spec: a request in flight holds its backend and finishes on it, and nothing it uses is stopped.
A plugin upgraded in place (new models of a loaded plugin are served; changed ones are not) or
uninstalled still needs a restart; the reload's answer lists what it kept.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from verticals.plugins import ENTRY_POINT_GROUP, allowed_plugins
from verticals.registry import Registry
from verticals.serving.backends import ModelBackend
from verticals.serving.gateway import Gateway

log = logging.getLogger("verticals.serving")

RELOAD_HINT = (
    "restart the gateway, or load {} into this one with POST /admin/plugins/reload "
    "(`verticals plugins reload`)"
)
_installed: dict[tuple[tuple[str, float], ...], frozenset[str]] = {}


def installed_plugins() -> frozenset[str]:
    """The names of the plugins installed now (the ``verticals`` entry points ``VERTICALS_LOAD_PLUGINS``
    allows). Read again only when a folder on ``sys.path`` changed (an install adds a ``.dist-info``
    folder to one), so a burst of 404s costs a few ``stat`` calls, not a scan of every distribution.
    """
    allowed = allowed_plugins()
    key = (("allowed", hash(frozenset(allowed)) if allowed is not None else 0), *_path_stamps())
    cached = _installed.get(key)
    if cached is None:
        names = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
        cached = frozenset(names if allowed is None else names & allowed)
        _installed.clear()
        _installed[key] = cached
    return cached


def _path_stamps() -> list[tuple[str, float]]:
    stamps = []
    for entry in sys.path:
        try:
            stamps.append((entry, os.stat(entry or ".").st_mtime))
        except OSError:
            stamps.append((entry, -1.0))
    return stamps


def plugins_installed_since(registry: Registry) -> list[str]:
    """The plugins installed after ``registry`` was loaded (neither loaded nor failed then), sorted."""
    pm = registry.plugin_manager
    if pm is None:
        return []
    seen = set(pm.info) | {failure.name for failure in pm.failures}
    return sorted(installed_plugins() - seen)


def unknown_model_hint(gateway: Gateway, name: str) -> str:
    """What to add to the 404 for model ``name`` nobody registered in this gateway: empty when no plugin
    was installed since it started; else which were, and how to serve them (restart or reload).
    """
    since = plugins_installed_since(gateway.registry)
    if not since:
        return ""
    plugin = name.partition("/")[0]
    if plugin in since:
        return f"; its plugin {plugin!r} was installed after this gateway started: {RELOAD_HINT.format('it')}"
    listed = ", ".join(repr(p) for p in since)
    return (
        f"; plugins installed after this gateway started and not loaded yet: {listed}; "
        f"to serve their models, {RELOAD_HINT.format('them')}"
    )


@dataclass
class PluginReloader:
    """Loads plugins installed since start into ``gateway`` (``reload``), one reload at a time, and closes
    the capacity records of the backends it started when the gateway stops (``close``)."""

    gateway: Gateway
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closers: list[Callable[[], None]] = field(default_factory=list)

    async def reload(self) -> dict[str, Any]:
        """Read the plugins again and serve the models that are new since start.

        Returns ``{"added": [names now served], "failed": {name: why it is not served}, "kept": [names
        served before, on their old backend], "plugins_installed": [plugins loaded by this reload]}``. A
        second reload waits for the first. A plugin that fails to load is in ``GET /admin/plugins``.
        """
        async with self.lock:
            gateway = self.gateway
            old = gateway.registry
            importlib.invalidate_caches()  # a package installed since start is not in the finders' caches
            fresh = await asyncio.to_thread(Registry.load)
            wanted = gateway.options.models
            new_names = [
                name
                for name in sorted(fresh.models)
                if name not in old.models and (wanted is None or name in wanted)
            ]
            # Adapters first (a new model's backend reads payloads through them), models last: until the
            # swap below, a request for a new model is answered as before.
            gateway.registry = _merged(old, fresh, models=old.models)
            started, failed = await self._start(new_names, fresh)
            gateway.registry = _merged(old, fresh, models={**fresh.models, **old.models})
            gateway.backends = {**gateway.backends, **started}
            gateway.forget()
            self.closers.append(_record_capacity(gateway, started))
            before = set(old.plugin_manager.info) if old.plugin_manager else set()
            loaded = sorted(set(fresh.plugin_manager.info) - before) if fresh.plugin_manager else []
            if started:
                log.warning("plugins reloaded: now serving %s", ", ".join(sorted(started)))
            return {
                "added": sorted(started),
                "failed": failed,
                "kept": sorted(old.models),
                "plugins_installed": loaded,
            }

    async def _start(
        self, names: list[str], fresh: Registry
    ) -> tuple[dict[str, ModelBackend], dict[str, str]]:
        """Build and start a backend for each model in ``names`` (specs from ``fresh``): the started ones
        by name, and why each other one is not served."""
        from verticals.config import ConfigError
        from verticals.model_settings import table_problems
        from verticals.serving.backends.build import build_backend

        gateway = self.gateway
        started: dict[str, ModelBackend] = {}
        failed: dict[str, str] = {}
        first_index = len(gateway.registry.models)  # past every vLLM port the models at start took
        for offset, name in enumerate(names):
            try:
                # building may pull the model's files: off the event loop
                spec = fresh.models[name].item
                # its [models."NAME"] keys could not be checked at start, before its plugin was loaded
                problems = table_problems(gateway.settings, name, spec.settings)
                if problems:
                    raise ConfigError("\n".join(problems))
                backend = await asyncio.to_thread(build_backend, gateway, spec, first_index + offset)
                await backend.start()
            except Exception as error:
                log.error("model %s will not be served: %s", name, error)
                failed[name] = f"{type(error).__name__}: {error}"
                continue
            gateway.metrics.backend_up.labels(name).set(1)
            started[name] = backend
        return started, failed

    def close(self) -> None:
        """Close the capacity records the reloads opened (at shutdown, after the backends stopped)."""
        for close in self.closers:
            close()


def _merged(old: Registry, fresh: Registry, *, models: dict[str, Any]) -> Registry:
    """``fresh``'s adapters, evaluations and plugin list with ``models``; what ``old`` registered wins a
    name both hold, since the backends already serving were built from it."""
    return Registry(
        models=dict(models),
        adapters={**fresh.adapters, **old.adapters},
        evaluations={**fresh.evaluations, **old.evaluations},
        plugin_manager=fresh.plugin_manager,
    )


def _record_capacity(gateway: Gateway, started: dict[str, ModelBackend]) -> Callable[[], None]:
    from verticals.serving.capacity import record_gateway_capacity

    return record_gateway_capacity(gateway, only=set(started))
