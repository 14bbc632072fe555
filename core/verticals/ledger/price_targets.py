"""What a price row may name: a registered model in the unit it is metered in, or a plugin and/or task
default in a unit one of their models is metered in.

The price book is append-only, so a row for a mistyped model ("nlp/chta") or a unit the model never
meters (images for a chat model) would stay in it forever, charging nothing. The CLI's ``prices set``
and the admin API's ``POST /admin/prices`` run ``check_price_target`` against the models the plugins
registered before writing; ``--force`` (``"force": true``) skips it for a plugin installed later.
"""

from __future__ import annotations

from collections.abc import Iterable

from verticals.ledger.errors import LedgerError
from verticals.models import ModelSpec, Task, Unit
from verticals.suggest import unknown

FORCE_HINT = 'if the plugin that registers it is installed later, give --force (admin API: "force": true)'


def check_price_target(
    models: Iterable[ModelSpec], unit: str, model: str | None, plugin: str | None, task: str | None
) -> None:
    """Refuse a price whose ``unit`` is no metering unit, whose ``model`` nobody registered or is metered in
    another unit, or whose ``plugin``/``task`` default matches no registered model metered in ``unit``.

    ``models`` are the registered models (``Registry.models`` items). Raises LedgerError naming the closest
    known names ("did you mean"), the unit the model is metered in, and ``--force`` where a plugin may
    come later. Says nothing about the plan, the price or the charge model (the ledger checks those).
    """
    units = [str(u) for u in Unit]
    if unit not in units:
        raise LedgerError(unknown("unit", unit, units, "a model is metered in one of these"))
    specs = list(models)
    if model is not None:
        by_name = {spec.name: spec for spec in specs}
        spec = by_name.get(model)
        if spec is None:
            raise LedgerError(unknown("model", model, by_name, f"see `verticals models list`; {FORCE_HINT}"))
        if str(spec.unit) != unit:
            raise LedgerError(
                f"{model} is metered in {spec.unit}, not {unit}: a price per {unit} would never charge; "
                f"give the price per {spec.unit}"
            )
        return
    if plugin is not None and plugin not in {spec.plugin for spec in specs}:
        plugins = {spec.plugin for spec in specs}
        raise LedgerError(unknown("plugin", plugin, plugins, f"see `verticals plugins list`; {FORCE_HINT}"))
    if task is not None and task not in [str(t) for t in Task]:
        raise LedgerError(unknown("task", task, [str(t) for t in Task], "a model does one of these"))
    matching = [s for s in specs if plugin in (None, s.plugin) and task in (None, str(s.task))]
    target = " and ".join(
        part for part in (f"plugin {plugin!r}" if plugin else "", f"task {task!r}" if task else "") if part
    )
    if not matching:
        raise LedgerError(f"no registered model has {target}: the price would never charge; {FORCE_HINT}")
    metered = sorted({str(s.unit) for s in matching})
    if unit not in metered:
        raise LedgerError(
            f"no model of {target} is metered in {unit} (they are metered in {', '.join(metered)}): "
            f"a price per {unit} would never charge; {FORCE_HINT}"
        )
