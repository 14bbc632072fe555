"""``verticals config check``: the effective settings and where each came from.

Reads the settings as every command does (``verticals.toml`` or ``VERTICALS_CONFIG``, ``VERTICALS_*``
variables, defaults), loads the plugins and checks each ``[models."NAME"]`` table against the core's keys
and those its plugin declares; prints one row per setting (``setting``, ``value``, ``source``: ``default``,
``FILE:LINE`` or ``env VERTICALS_X``), or the problems, one a line, and exits 1.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click
from pydantic import BaseModel

if TYPE_CHECKING:
    from verticals.config import Settings

#: Settings whose values are secrets: shown as "(set)" only.
_SECRET = re.compile(r"token|password|secret|api_key", re.IGNORECASE)
#: user:password@ in a URL setting (a database or webhook URL).
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def setting_rows(settings: Settings) -> list[dict[str, Any]]:
    """One row per top-level setting (a table such as ``[alerts]`` one per key), except ``models``:
    ``setting``, ``value`` (None: unset) and ``source``."""
    rows: list[dict[str, Any]] = []
    origins = settings.origins
    for name in type(settings).model_fields:
        if name == "models":
            continue
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            table_source = origins.of((name,))
            for key in type(value).model_fields:
                if table_source.startswith("env ") or table_source == "argument":
                    source = table_source
                else:
                    source = origins.of((name, key)) if key in value.model_fields_set else "default"
                rows.append({"setting": f"{name}.{key}", "value": getattr(value, key), "source": source})
            continue
        rows.append({"setting": name, "value": value, "source": origins.of((name,))})
    return rows


def shown(setting: str, value: Any) -> str | None:
    """``value`` as printed: None stays None, secrets become ``(set)``, URL passwords ``***``, lists are
    comma-joined, the rest ``str``."""
    if value is None:
        return None
    if _SECRET.search(setting.rsplit(".", 1)[-1]):
        return "(set)"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return _URL_CREDENTIALS.sub("***@", str(value))


def attach(cli: click.Group) -> None:
    """Add the ``config`` group and its ``check`` command to ``cli``."""

    @cli.group()
    def config() -> None:
        """Check the settings (verticals.toml, VERTICALS_* variables)."""

    @config.command(name="check")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    def check(as_json: bool) -> None:
        """Check every setting, per-model ones included, and print each with where it came from."""
        from verticals.config import ConfigError, config_path, load_settings
        from verticals.model_settings import check_model_settings, effective_rows
        from verticals.output import print_json, print_table
        from verticals.registry import Registry

        try:
            settings = load_settings()
            registry = Registry.load()
            warnings = check_model_settings(settings, registry)
            rows = setting_rows(settings) + effective_rows(settings, registry)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        printable = [{**row, "value": shown(row["setting"], row["value"])} for row in rows]
        if as_json:
            print_json(printable)
        else:
            print_table(printable, ["setting", "value", "source"], title="Settings")
        document = settings.origins.document
        read = (
            f"read {document.path}" if document.exists else f"no {config_path()} (defaults and environment)"
        )
        click.echo(f"settings are valid ({read})", err=True)
