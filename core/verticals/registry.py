"""What the plugins registered: models, adapters and evaluations, each with its provenance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from verticals.adapters import DataAdapter, PayloadReader
from verticals.evaluation import Evaluation
from verticals.models import ModelSpec
from verticals.plugins import PluginInfo, VerticalsPluginManager, get_plugin_manager, hook_calls

T = TypeVar("T", ModelSpec, DataAdapter, Evaluation)


class RegistryError(Exception):
    """A registration the registry refuses, such as a name two plugins both claim."""


class UnknownNameError(KeyError):
    """A model, adapter or evaluation name nobody registered."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Registered(Generic[T]):
    """A registered model, adapter or evaluation (``item``) and the plugin that registered it
    (``provenance``).
    """

    item: T
    provenance: PluginInfo


@dataclass
class Registry:
    """Everything the plugins registered, by name: ``models``, ``adapters`` and ``evaluations``, each with its
    provenance; build it with ``Registry.load``.
    """

    models: dict[str, Registered[ModelSpec]] = field(default_factory=dict)
    adapters: dict[str, Registered[DataAdapter]] = field(default_factory=dict)
    evaluations: dict[str, Registered[Evaluation]] = field(default_factory=dict)
    plugin_manager: VerticalsPluginManager | None = None

    @classmethod
    def load(cls, pm: VerticalsPluginManager | None = None) -> Registry:
        """Call every plugin's ``register_*`` hooks; a hook that raises marks its plugin failed."""
        pm = pm if pm is not None else get_plugin_manager()
        registry = cls(plugin_manager=pm)
        for hook_name, table, kind in (
            ("register_models", registry.models, "model"),
            ("register_data_adapters", registry.adapters, "adapter"),
            ("register_evaluations", registry.evaluations, "evaluation"),
        ):
            # One plugin at a time, each given only the arguments its implementation names.
            for plugin_name, call in hook_calls(pm, hook_name):
                if any(f.name == plugin_name for f in pm.failures):
                    continue
                info = pm.info[plugin_name]
                pending: dict[str, Registered[Any]] = {}
                try:
                    call(register=_collector(pending, table, kind, info))
                except Exception as error:
                    if isinstance(error, ValidationError):
                        error = RegistryError(f"plugin {info.name!r} registered an invalid {kind}: {error}")
                    pm.record_failure(info.name, error)
                    continue
                table.update(pending)  # all or nothing: a hook that fails half way registers nothing
        registry._drop_models_without_payload_reader(pm)
        return registry

    def _drop_models_without_payload_reader(self, pm: VerticalsPluginManager) -> None:
        """A model whose ``input_adapter`` cannot read request payloads is not served at all.

        Checked once all plugins registered, since a model may name another plugin's adapter; the
        problem is recorded as a failure of the model's plugin, so `verticals plugins list` shows it.
        """
        for name, registered in list(self.models.items()):
            try:
                self._input_reader(registered.item)
            except RegistryError as error:
                del self.models[name]
                pm.record_failure(registered.provenance.name, error)

    @property
    def failures(self) -> list[Any]:
        """The plugins that failed to load or register, as the plugin manager recorded them; else empty."""
        return self.plugin_manager.failures if self.plugin_manager else []

    def model(self, name: str) -> ModelSpec:
        """The spec of model ``name``; raises UnknownNameError (a KeyError) naming ``verticals models list``
        when nobody registered it.
        """
        return _lookup(self.models, name, "model", "verticals models list").item

    def adapter(self, name: str) -> DataAdapter:
        """The data adapter ``name``; raises UnknownNameError (a KeyError) naming ``verticals plugins list``
        when nobody registered it.
        """
        return _lookup(self.adapters, name, "adapter", "verticals plugins list").item

    def payload_reader(self, spec: ModelSpec) -> PayloadReader | None:
        """The customer door of ``spec``'s ``input_adapter``; None when the model takes items as sent.

        Raises ``RegistryError`` when the adapter is unknown or reads only operator sources.
        """
        return self._input_reader(spec)

    def _input_reader(self, spec: ModelSpec) -> PayloadReader | None:
        if spec.input_adapter is None:
            return None
        registered = self.adapters.get(spec.input_adapter)
        if registered is None:
            raise RegistryError(
                f"model {spec.name!r} is not served: its input_adapter {spec.input_adapter!r} is not "
                "registered by any loaded plugin; install that plugin or fix the name"
            )
        reader = registered.item.read_payload
        if reader is None:
            raise RegistryError(
                f"model {spec.name!r} is not served: its input_adapter {spec.input_adapter!r} (plugin "
                f"{registered.provenance.name!r}) has no read_payload, so it cannot read request "
                "payloads; give the adapter a read_payload that reads only the payload, or name one "
                "that has"
            )
        return reader

    def evaluations_for(self, model: str) -> list[Evaluation]:
        """The evaluation suites registered for model ``model``, in registration order; empty when there are
        none.
        """
        return [r.item for r in self.evaluations.values() if r.item.model == model]

    def plugin_rows(self) -> list[dict[str, Any]]:
        """Every plugin, loaded or failed, and what it registered: `verticals plugins list` and the
        admin API's ``GET /admin/plugins`` both show these rows.

        One row per plugin, loaded plugins first in load order, then those that failed to import:
        ``{"name", "distribution", "version": str | None, "status": "ok" | "failed", "error": str | None,
        "models", "adapters", "evaluations": sorted names it registered}``. A plugin that failed after
        loading (a hook raised) shows its first error. Empty when the registry has no plugin manager.
        """
        pm = self.plugin_manager
        if pm is None:
            return []
        first_error: dict[str, str] = {}
        for failure in pm.failures:
            first_error.setdefault(failure.name, failure.error)
        loaded = [(info.name, info.distribution, info.version) for info in pm.info.values()]
        unloaded = [(f.name, f.distribution, f.version) for f in pm.failures if f.name not in pm.info]
        return [self._plugin_row(*plugin, first_error.get(plugin[0])) for plugin in loaded + unloaded]

    def _plugin_row(
        self, name: str, distribution: str | None, version: str | None, error: str | None
    ) -> dict[str, Any]:
        def mine(table: dict[str, Registered[Any]]) -> list[str]:
            return sorted(key for key, value in table.items() if value.provenance.name == name)

        return {
            "name": name,
            "distribution": distribution,
            "version": version,
            "status": "failed" if error else "ok",
            "error": error,
            "models": mine(self.models),
            "adapters": mine(self.adapters),
            "evaluations": mine(self.evaluations),
        }


def _collector(
    pending: dict[str, Registered[Any]], table: dict[str, Registered[Any]], kind: str, info: PluginInfo
) -> Callable[[Any], None]:
    def register(item: Any) -> None:
        name = item.name
        existing = table.get(name) or pending.get(name)
        if existing is not None:
            raise RegistryError(
                f"{kind} {name!r} is registered by both plugin {existing.provenance.name!r} "
                f"({existing.provenance.distribution} {existing.provenance.version}) and plugin "
                f"{info.name!r} ({info.distribution} {info.version}); uninstall one of them or rename "
                f"the {kind}"
            )
        pending[name] = Registered(item, info)

    return register


def _lookup(table: dict[str, Registered[T]], name: str, kind: str, hint: str) -> Registered[T]:
    try:
        return table[name]
    except KeyError:
        from verticals.suggest import unknown

        raise UnknownNameError(unknown(kind, name, table, f"see `{hint}`")) from None
