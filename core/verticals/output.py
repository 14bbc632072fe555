"""Printing results: JSON for scripts, rich tables for people.

JSON money is always a fixed-point decimal string (``money.decimal_text``). Tables fit the terminal (80
columns when it is not one, or ``COLUMNS``): cells fold onto a second line rather than being cut off, and
a command shows its ``wide_only`` columns only with ``--wide``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import click

from verticals.money import decimal_text, money_short, percent

# rich lays out a --wide table at its natural width when the console is at least this wide
_UNBOUNDED = 10_000


def json_default(value: Any) -> str:
    """What ``json.dumps`` writes for a value JSON cannot hold: a Decimal as a fixed-point string (never
    "1.45E-7"), anything else (datetime, date, Path) as ``str``."""
    return decimal_text(value) if isinstance(value, Decimal) else str(value)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON to stdout; Decimals as fixed-point strings, other values JSON cannot
    hold (datetime) with ``str``.
    """
    click.echo(json.dumps(data, indent=2, default=json_default))


def cell(value: Any) -> str:
    """A value as table text: None blank, lists comma-joined, Decimals in fixed point, else ``str``."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return json_default(value)


@dataclass(frozen=True)
class Column:
    """One column of a table: the rows' ``key``, its ``header`` (the key when empty), how a value ``shows``
    as text, whether it is ``numeric`` (right-aligned) and whether only ``--wide`` shows it."""

    key: str
    header: str = ""
    shows: Callable[[Any], str] = cell
    numeric: bool = False
    wide_only: bool = False


def money(key: str, header: str, *, wide_only: bool = False) -> Column:
    """A USD column, abbreviated ("$98.8k", "<$0.01"); JSON and CSV keep the exact amount."""
    return Column(key, header, money_short, numeric=True, wide_only=wide_only)


def ratio(key: str, header: str, *, wide_only: bool = False) -> Column:
    """A ratio column (0.9994) shown as a percentage ("99.9%")."""
    return Column(key, header, percent, numeric=True, wide_only=wide_only)


def moment(key: str, header: str, *, wide_only: bool = False) -> Column:
    """A UTC time column to the minute ("2026-11-30 17:35"); JSON keeps the full ISO 8601 time."""
    return Column(
        key, header, lambda when: "" if when is None else f"{when:%Y-%m-%d %H:%M}", wide_only=wide_only
    )


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str | Column],
    title: str | None = None,
    *,
    wide: bool = False,
) -> None:
    """Print ``rows`` as a rich table of ``columns`` (a key, or a ``Column`` saying how to show it) under
    ``title``; ``no <title>`` when there are no rows.

    Without ``wide`` the table fits the terminal: ``wide_only`` columns are left out (a caption says
    ``--wide`` shows them) and long cells fold. With ``wide`` every column is shown at its natural width.
    """
    if not rows:
        click.echo(f"no {title.lower() if title else 'rows'}")
        return
    from rich.console import Console  # rich costs ~50 ms to import: only when a table is printed
    from rich.table import Table

    specs = [column if isinstance(column, Column) else Column(column) for column in columns]
    shown = [spec for spec in specs if wide or not spec.wide_only]
    hidden = len(specs) - len(shown)
    caption = f"{hidden} more column{'s' if hidden > 1 else ''}: --wide" if hidden else None
    table = Table(title=title, caption=caption)
    for spec in shown:
        table.add_column(
            spec.header or spec.key, justify="right" if spec.numeric else "left", overflow="fold"
        )
    for row in rows:
        table.add_row(*(spec.shows(row.get(spec.key)) for spec in shown))
    Console(width=_UNBOUNDED if wide else None).print(table)
