"""DuckDB SQL to PostgreSQL SQL: sqlglot's transpiler plus what it leaves in DuckDB's words.

sqlglot (https://github.com/tobymao/sqlglot) already maps DuckDB's ``median``, ``epoch``, ``strftime``,
``list``, ``INTERVAL 1 HOUR``, true division of integers and ``NULLS LAST`` ordering. This module adds:

- ``?`` placeholders become psycopg's ``%s`` and a literal ``%`` becomes ``%%``: parameters are bound on
  the client (``psycopg.ClientCursor``), because DuckDB infers a type for ``? IS NULL`` and PostgreSQL's
  server-side binding cannot;
- ``arg_max(value, key)`` / ``arg_min`` become ``(array_agg(value ORDER BY key DESC))[1]`` (``ASC``):
  PostgreSQL has no such aggregate; ties are arbitrary in both engines;
- ``GROUP BY ALL`` / ``ORDER BY ALL`` become the positions of the non-aggregate select items (all of them
  for ``ORDER BY``), DuckDB's definition of ``ALL``.

A statement sqlglot cannot read raises ``sqlglot.errors.ParseError``: a bug in our SQL, not user input.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres

_PARAMETER = re.compile(r"\$\d+\b")


def _arg_max(descending: bool) -> Any:
    def render(self: Any, expression: exp.Expression) -> str:
        order = exp.Ordered(this=expression.expression, desc=descending)
        aggregate = exp.ArrayAgg(this=exp.Order(this=expression.this, expressions=[order]))
        return f"({self.sql(aggregate)})[1]"

    return render


class _Postgres(Postgres):
    class Generator(Postgres.Generator):  # type: ignore[valid-type,misc]  # sqlglot's untyped nested class
        TRANSFORMS = {
            **Postgres.Generator.TRANSFORMS,
            exp.ArgMax: _arg_max(descending=True),
            exp.ArgMin: _arg_max(descending=False),
        }


def _positions(select: exp.Select, aggregates_only: bool) -> list[Any]:
    items: list[Any] = []
    for position, item in enumerate(select.expressions, start=1):
        if aggregates_only and item.find(exp.AggFunc) is not None:
            continue
        items.append(exp.Literal.number(position))
    return items


def _expand_all(tree: Any) -> Any:
    """``GROUP BY ALL`` / ``ORDER BY ALL`` spelled out as positions, in every SELECT of ``tree``."""
    for select in tree.find_all(exp.Select):
        group = select.args.get("group")
        if group is not None and group.args.get("all"):
            select.set("group", exp.Group(expressions=_positions(select, aggregates_only=True)))
        order = select.args.get("order")
        if order is not None and _is_order_all(order):
            select.set(
                "order", exp.Order(expressions=[exp.Ordered(this=p) for p in _positions(select, False)])
            )
    return tree


def _is_order_all(order: exp.Order) -> bool:
    items = order.expressions
    return (
        len(items) == 1
        and isinstance(items[0].this, exp.Column | exp.Var)
        and items[0].this.name.upper() == "ALL"
    )


def _number_placeholders(tree: Any) -> Any:
    counter = iter(range(1, 1_000_000))

    def number(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name in ("", "?"):
            return exp.Parameter(this=exp.Literal.number(next(counter)))
        return node

    return tree.transform(number, copy=False)


@functools.lru_cache(maxsize=4096)
def to_postgres(sql: str) -> str:
    """``sql`` (one or more DuckDB statements, ``?`` placeholders) as PostgreSQL SQL with ``%s`` placeholders
    (and ``%%`` for a literal ``%``), for ``psycopg.ClientCursor``.

    Cached per distinct text: parsing costs about a millisecond, and the ledger's statements are constants
    or a handful of filter combinations.
    """
    statements = sqlglot.parse(sql, read="duckdb")
    out = []
    for tree in statements:
        if tree is None:
            continue
        tree = _number_placeholders(_expand_all(tree))
        text = tree.sql(dialect=_Postgres).replace("%", "%%")
        # $n is what _number_placeholders made of each ``?``; no literal of the ledger's SQL holds a $
        out.append(_PARAMETER.sub("%s", text))
    return ";\n".join(out)
