"""Allowances: the units a plan's monthly fee includes, per unit and optionally per model or plugin.

"1M tokens of nlp/*, 10k images" is two rows: (tokens, ``nlp/*``, 1000000) and (images, None, 10000).
``model`` is a model name (``nlp/chat``), a plugin pattern (``nlp/*``: every model of plugin nlp) or None
(every model billed in that unit). The billing engine matches a usage line to the most specific row
(model, then plugin pattern, then unit-wide) and prorates it with the fee. Setting a row again replaces
its quantity; quantity 0 includes nothing. ``plans.included_units`` (no unit) is kept readable, unused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger._time import to_db
from verticals.ledger.errors import LedgerError
from verticals.ledger.price_models import parse_quantity

# unit-wide rows store '' in ``model``: it is part of the key, which cannot be NULL
_ANY = ""


@dataclass(frozen=True)
class Allowance:
    """``plan``'s fee includes ``quantity`` (Decimal) ``unit`` a month of ``model`` (a model name, a
    ``plugin/*`` pattern, or None: any model in that unit)."""

    plan: str
    unit: str
    model: str | None
    quantity: Decimal

    def matches(self, model: str) -> bool:
        """Whether this allowance covers ``model`` (``plugin/name``): unit-wide, the same model, or the
        pattern ``plugin/*`` of its plugin."""
        if self.model is None or self.model == model:
            return True
        return self.model.endswith("/*") and model.startswith(self.model[:-1])

    @property
    def specificity(self) -> int:
        """2 for a model, 1 for a plugin pattern, 0 for unit-wide: the engine uses the highest that
        matches."""
        if self.model is None:
            return 0
        return 1 if self.model.endswith("/*") else 2


def check_target(model: str | None) -> str | None:
    """``model`` if it is None, a model name ``plugin/name`` or a pattern ``plugin/*``; LedgerError
    otherwise."""
    if model is None:
        return None
    plugin, slash, name = model.partition("/")
    if not slash or not plugin or not name or "*" in plugin or ("*" in name and name != "*") or " " in model:
        raise LedgerError(
            f"allowance target {model!r} is neither a model (plugin/name, e.g. nlp/chat) nor a plugin "
            "pattern (plugin/*, e.g. nlp/*); leave it out for every model in the unit"
        )
    return model


class Allowances:
    """The ``allowances`` table over the ledger's connection (shared under ``lock``); ``clock`` returns aware
    UTC. Callers check that the plan exists."""

    def __init__(self, conn: Any, lock: threading.RLock, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock

    def set(self, plan: str, unit: str, quantity: Decimal | str | int, model: str | None = None) -> Allowance:
        """Include ``quantity`` (0 or more, up to 6 places) ``unit`` of ``model`` (see ``check_target``) in
        ``plan``'s fee, replacing that row's quantity if set before; returns the row.

        Raises LedgerError for an empty unit, a bad quantity or a bad target.
        """
        if not unit or not unit.strip():
            raise LedgerError(
                "an allowance needs a unit, such as tokens, images, audio-seconds, rows or calls"
            )
        amount = parse_quantity(quantity, "allowance quantity")
        target = check_target(model)
        with self._lock:
            self._conn.execute(
                "INSERT INTO allowances VALUES (?, ?, ?, ?, ?) ON CONFLICT (plan, unit, model) "
                "DO UPDATE SET quantity = excluded.quantity, created_at = excluded.created_at",
                [plan, unit, target or _ANY, amount, to_db(self._clock())],
            )
        return Allowance(plan, unit, target, amount)

    def list(self, plan: str | None = None) -> list[Allowance]:
        """Every allowance, or only ``plan``'s, ordered by plan, unit and target (unit-wide first)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT plan, unit, model, quantity FROM allowances WHERE ? IS NULL OR plan = ? "
                "ORDER BY plan, unit, model",
                [plan, plan],
            ).fetchall()
        return [Allowance(row[0], row[1], row[2] or None, row[3]) for row in rows]
