"""What every analytics function shares: the connection behind a ledger, and the usual filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger._time import as_utc, from_db, to_db, utc_now

NANO = Decimal("0.000000001")

# The gateway records a request that named no model, or no customer (a refused key), with "-": shown as
# these labels, which no model, plugin or customer name can take (names have no spaces).
NONE_MARK = "-"
NONE_LABELS = {"model": "no model", "plugin": "no plugin", "customer": "no customer"}


def label(dimension: str, value: Any) -> Any:
    """``value`` of ``dimension`` as analytics show it: the "-" mark as "no model" (plugin, customer)."""
    if value == NONE_MARK and dimension in NONE_LABELS:
        return NONE_LABELS[dimension]
    return value


def connection_of(source: Any) -> Any:
    """Accept a ``Ledger`` or a DuckDB connection (for example a read-only one)."""
    return getattr(source, "connection", source)


def now_of(source: Any) -> datetime:
    """Now (aware UTC) for ``source``: a ``Ledger``'s own clock (a test's, a back-fill's), else the wall's."""
    clock = getattr(source, "_clock", None)
    return as_utc(clock()) if callable(clock) else utc_now()


def end_of(source: Any, until: datetime | None) -> datetime:
    """Where device time stops counting: ``until``, but never later than now (a device still up costs
    nothing in the future)."""
    now = now_of(source)
    return now if until is None else min(as_utc(until), now)


@dataclass(frozen=True)
class Filters:
    """Which usage events a figure covers: ``since`` inclusive, ``until`` exclusive, exact matches."""

    since: datetime | None = None
    until: datetime | None = None
    customer: str | None = None
    plugin: str | None = None
    model: str | None = None

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        """The filters as a SQL condition and its parameters, for ``WHERE``: ``(sql, params)``.

        ``alias`` prefixes the columns (``ts``, ``customer``, ``plugin``, ``model``) with ``alias.``; no
        filter set gives ``"true"`` and no parameters. A label such as "no model" matches the "-" mark.
        Times are passed as naive UTC, as the ledger stores them.
        """
        prefix = f"{alias}." if alias else ""
        clauses: list[str] = []
        params: list[Any] = []
        if self.since is not None:
            clauses.append(f"{prefix}ts >= ?")
            params.append(to_db(self.since))
        if self.until is not None:
            clauses.append(f"{prefix}ts < ?")
            params.append(to_db(self.until))
        for column in ("customer", "plugin", "model"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{prefix}{column} = ?")
                params.append(NONE_MARK if value == NONE_LABELS[column] else value)
        return (" AND ".join(clauses) or "true"), params


def ratio(numerator: Decimal | float | int, denominator: Decimal | float | int) -> float | None:
    """``numerator / denominator`` as a float, None where the denominator is zero."""
    if not denominator:
        return None
    return (
        float(Decimal(numerator) / Decimal(denominator))
        if isinstance(numerator, Decimal)
        else (float(numerator) / float(denominator))
    )


def money(value: Any) -> Decimal:
    """A DuckDB sum (None for no rows) as an exact Decimal."""
    return Decimal(0) if value is None else Decimal(value)


def utc(value: datetime | None) -> datetime | None:
    """A DuckDB timestamp as aware UTC (see ``from_db``); None stays None."""
    return None if value is None else from_db(value)
