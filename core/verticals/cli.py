"""The ``verticals`` command-line tool: the root group and the plugin and model commands.

Feature commands (ledger, store, serving, ...) live beside their feature and are attached in
``main``; plugins add theirs through the ``register_commands`` hook.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import click

from verticals import __version__
from verticals.output import print_json, print_table
from verticals.plugins import VerticalsPluginManager, get_plugin_manager


@click.group()
@click.version_option(__version__, prog_name="verticals")
def cli() -> None:
    """verticals: serve vertical AI models to customers and meter every request."""


@cli.group()
def plugins() -> None:
    """List, install and uninstall plugins."""


@plugins.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def plugins_list(as_json: bool) -> None:
    """Show every plugin, loaded or failed, and what it registered."""
    from verticals.registry import Registry

    registry = Registry.load()
    pm = registry.plugin_manager
    assert pm is not None
    rows: list[dict[str, Any]] = []
    for info in pm.info.values():
        failure = next((f for f in pm.failures if f.name == info.name), None)
        rows.append(
            _plugin_row(
                info.name, info.distribution, info.version, failure.error if failure else None, registry
            )
        )
    for failure in pm.failures:
        if failure.name not in pm.info:
            rows.append(
                _plugin_row(failure.name, failure.distribution, failure.version, failure.error, registry)
            )
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["name", "distribution", "version", "status", "models", "error"], title="Plugins")


def _plugin_row(
    name: str, distribution: str | None, version: str | None, error: str | None, registry: Any
) -> dict[str, Any]:
    def mine(table: dict[str, Any]) -> list[str]:
        return sorted(key for key, value in table.items() if value.provenance.name == name)

    return {
        "name": name,
        "distribution": distribution,
        "version": version,
        "status": "failed" if error else "ok",
        "error": error,
        "models": mine(registry.models),
        "adapters": mine(registry.adapters),
        "evaluations": mine(registry.evaluations),
    }


@plugins.command(name="install")
@click.argument("packages", nargs=-1, required=True)
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade packages that are already installed.")
@click.option("-e", "--editable", is_flag=True, help="Install a local directory in editable mode.")
@click.option("--no-build-isolation", is_flag=True, help="Build with the build tools already installed.")
def plugins_install(
    packages: tuple[str, ...], upgrade: bool, editable: bool, no_build_isolation: bool
) -> None:
    """Install plugins with pip into the environment verticals runs in."""
    args = [sys.executable, "-m", "pip", "install"]
    if upgrade:
        args.append("--upgrade")
    if no_build_isolation:
        args.append("--no-build-isolation")
    for package in packages:
        args.extend(["-e", package] if editable else [package])
    sys.exit(subprocess.call(args))


@plugins.command(name="uninstall")
@click.argument("packages", nargs=-1, required=True)
def plugins_uninstall(packages: tuple[str, ...]) -> None:
    """Uninstall plugins from the environment verticals runs in."""
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "uninstall", "-y", *packages]))


@cli.group()
def models() -> None:
    """List the models the installed plugins serve."""


@models.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def models_list(as_json: bool) -> None:
    """Show every registered model: task, backend, source, metering unit and whether it is pulled."""
    from verticals.config import ConfigError
    from verticals.registry import Registry
    from verticals.store import ModelStore
    from verticals.store.commands import store_columns

    registry = Registry.load()
    try:
        store = ModelStore.from_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    rows = [
        {
            "name": name,
            "plugin": registered.provenance.name,
            "task": str(registered.item.task),
            "backend": str(registered.item.backend),
            "source": registered.item.source,
            "unit": str(registered.item.unit),
            **store_columns(store, registered.item),
        }
        for name, registered in sorted(registry.models.items())
    ]
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows, ["name", "plugin", "task", "backend", "unit", "pulled", "version", "source"], title="Models"
        )


def add_plugin_commands(group: click.Group, pm: VerticalsPluginManager) -> None:
    """Let each plugin add commands; a plugin whose hook raises is recorded, the rest still load."""
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=group)
        except Exception as error:
            pm.record_failure(impl.plugin_name, error)


# Core features that add commands; each module has ``attach(cli)`` and keeps heavy imports inside
# its command functions, so importing it costs next to nothing.
CORE_COMMAND_MODULES: tuple[str, ...] = (
    "verticals.store.commands",
    "verticals.evaluate.commands",
    "verticals.serving.commands",
    "verticals.ledger.commands",
    "verticals.training.commands",
    "verticals.dashboard.command",
    "verticals.demo",
    "verticals.up",
)


def attach_core_commands(group: click.Group) -> None:
    import importlib

    for module_name in CORE_COMMAND_MODULES:
        importlib.import_module(module_name).attach(group)


def main() -> None:
    attach_core_commands(cli)
    add_plugin_commands(cli, get_plugin_manager())
    cli()
