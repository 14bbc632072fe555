"""The ``verticals`` command-line tool: the root group and the plugin and model commands.

Feature commands (ledger, store, serving, ...) live beside their feature; the default plugin
``verticals.default_plugins.commands`` adds them through the ``register_commands`` hook, as installed
plugins add theirs.
"""

from __future__ import annotations

import subprocess
import sys

import click

from verticals import __version__
from verticals.output import Column, print_json, print_table
from verticals.plugins import VerticalsPluginManager, get_plugin_manager, hook_calls


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

    rows = Registry.load().plugin_rows()
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["name", "distribution", "version", "status", "models", "error"], title="Plugins")


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


@plugins.command(name="reload")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def plugins_reload(as_json: bool) -> None:
    """Load plugins installed since the running gateway started, without a restart: the models they add
    are served once their backends start; requests in flight are not touched."""
    from verticals.client import AdminError, running_server
    from verticals.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    client = running_server(settings)
    if client is None:
        raise click.ClickException(
            f"no gateway runs for {settings.home}; `verticals serve` (or `make up`) loads every installed "
            "plugin when it starts"
        )
    client.timeout = 900.0  # a new model's files may be pulled and its server booted first
    try:
        report = client.post("/admin/plugins/reload")
    except AdminError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        print_json(report)
        return
    added = ", ".join(report["added"]) or "no new models"
    click.echo(f"{added} now served by the gateway at {client.base_url}")
    for name, why in sorted(report["failed"].items()):
        click.echo(f"warning: {name} is not served: {why}", err=True)


@cli.group()
def models() -> None:
    """List the models the installed plugins serve."""


@models.command(name="list")
@click.option("--wide", is_flag=True, help="Show every column (plugin, backend, version, source).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def models_list(wide: bool, as_json: bool) -> None:
    """Show every registered model: task, backend, source, metering unit and whether it is pulled."""
    from verticals.config import ConfigError, load_settings
    from verticals.model_settings import check_model_settings
    from verticals.registry import Registry
    from verticals.store import ModelStore
    from verticals.store.commands import store_columns

    registry = Registry.load()
    try:
        settings = load_settings()
        warnings = check_model_settings(settings, registry)
        store = ModelStore.from_settings(settings)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
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
        print_table(rows, _MODEL_COLUMNS, title="Models", wide=wide)


# the name, what it does, what it is metered in and whether it is here fit 80 columns; the rest with --wide
_MODEL_COLUMNS = [
    Column("name"),
    Column("task"),
    Column("unit"),
    Column("pulled"),
    *(Column(key, wide_only=True) for key in ("plugin", "backend", "version", "source")),
]


def add_plugin_commands(group: click.Group, pm: VerticalsPluginManager) -> None:
    """Let each plugin add commands; a plugin whose hook raises is recorded, the rest still load.

    The core's own commands come the same way, first: from the default plugin ``commands``.
    """
    for plugin_name, call in hook_calls(pm, "register_commands"):
        try:
            call(cli=group)
        except Exception as error:
            pm.record_failure(plugin_name, error)


def attach_core_commands(group: click.Group) -> None:
    """Add only the core's own commands (its default plugins') to ``group``, no installed plugin's."""
    add_plugin_commands(group, get_plugin_manager(load_entry_points=False))


def main() -> None:
    """The ``verticals`` console script: add the commands plugins contribute, then run the CLI (click exits
    the process). A ``ConfigError`` a command did not catch is printed as one message and exits 1.
    """
    from verticals.config_sources import ConfigError

    add_plugin_commands(cli, get_plugin_manager())
    try:
        cli()
    except ConfigError as error:  # a command that let one through: its message, not a traceback
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
