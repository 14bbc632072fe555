"""Printing results: JSON for scripts, rich tables for people."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON to stdout; values JSON cannot hold (Decimal, datetime) are printed with
    ``str``.
    """
    click.echo(json.dumps(data, indent=2, default=str))


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    """Print ``rows`` as a rich table of ``columns`` (None as blank, lists comma-joined) under ``title``; ``no
    <title>`` when there are no rows.
    """
    if not rows:
        click.echo(f"no {title.lower() if title else 'rows'}")
        return
    from rich.console import Console  # rich costs ~50 ms to import: only when a table is printed
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
