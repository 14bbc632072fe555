"""``commands``: the core's own commands, added through ``register_commands`` like any plugin's.

Each feature keeps its commands beside it, in a module whose ``attach(cli)`` adds them to the root
group. This plugin imports those modules only when the CLI asks for commands, so loading the plugins
(the gateway does, on every start) imports no command code.
"""

from __future__ import annotations

import importlib

import click

from verticals import hookimpl

# In the order `verticals --help` has always listed them; each keeps its heavy imports inside its
# command functions, so importing it costs next to nothing.
FEATURE_MODULES: tuple[str, ...] = (
    "verticals.store.commands",
    "verticals.evaluate.commands",
    "verticals.serving.commands",
    "verticals.ledger.commands",
    "verticals.billing.invoice_commands",
    "verticals.training.commands",
    "verticals.dashboard.command",
    "verticals.demo.commands",
    "verticals.up",
    "verticals.config_commands",
)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add every feature's commands to ``cli``, the root group.

    ``models pull`` and ``models promote`` join ``cli``'s ``models`` group when it has one. Raises what
    a feature's ``attach`` raises; the CLI then records this plugin as failed, as it would any plugin.
    """
    for module_name in FEATURE_MODULES:
        importlib.import_module(module_name).attach(cli)
