"""Usage for billing: a customer's billed units per (model, plugin, task, unit) over a period.

Billed units are what the gateway charged for: prompt plus completion for ``tokens``, the units sent in
for every other unit (images, audio-seconds, rows, calls), of the events it billed
(``events.billed_status``: below 400, and 499 for a stream the client left, billed for what it got).
Failed requests and requests for no model are left out. Plain SQL (no DuckDB-only functions), so it runs
on any ledger engine.

Events do not carry the model's task (the registry knows it: ``ModelSpec.task``), so ``task`` is ``""``
here, which no task-scoped price row matches; a caller that prices by task looks it up by model, as the
what-if analytics do with ``model_tasks``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger._time import as_utc, to_db
from verticals.ledger.events import billed_status, billed_units

# Units are stored as DOUBLE; summing them as decimals to the micro-unit keeps a month of 0.1-second audio
# exact, where a float sum would drift.
_BILLED_UNITS = billed_units()


@dataclass(frozen=True)
class UsageTotal:
    """A customer's billed usage of one (``model``, ``plugin``, ``task``, ``unit``) over a period:
    ``quantity`` billed units (Decimal), ``compute_cost_usd`` (Decimal USD, what those requests' compute
    cost) and ``requests`` (their count). ``task`` is ``""``: events do not record it (see the module)."""

    model: str
    plugin: str
    task: str
    unit: str
    quantity: Decimal
    compute_cost_usd: Decimal
    requests: int
    #: what the gateway charged for those requests (Decimal USD): the invoice charges it, pro rata to the
    #: billable units, for a model without a price row (the model's own list price applied)
    revenue_usd: Decimal = Decimal(0)


def usage_totals(conn: Any, customer: str, since: datetime, until: datetime) -> list[UsageTotal]:
    """``customer``'s billed usage in ``[since, until)`` (UTC) from ``usage_events`` over DuckDB connection
    ``conn``, one row per (model, plugin, unit), ordered by them."""
    rows = conn.execute(
        f"SELECT model, plugin, unit, sum({_BILLED_UNITS}), sum(cost_usd), count(*), sum(revenue_usd) "  # noqa: S608
        f"FROM usage_events WHERE customer = ? AND ts >= ? AND ts < ? AND {billed_status()} "
        "AND model <> '-' "
        "GROUP BY model, plugin, unit ORDER BY model, plugin, unit",
        [customer, to_db(as_utc(since)), to_db(as_utc(until))],
    ).fetchall()
    return [
        UsageTotal(row[0], row[1], "", row[2], Decimal(row[3]), Decimal(row[4]), int(row[5]), Decimal(row[6]))
        for row in rows
    ]


#: windows per query of ``usage_totals_many``: each query scans the period once, so few and large
WINDOWS_PER_QUERY = 1000


def usage_totals_many(conn: Any, windows: Sequence[tuple[str, datetime, datetime]]) -> list[list[UsageTotal]]:
    """``usage_totals`` of many (customer, since, until) windows at once: one list per window, in order.

    Billing every customer's month is one scan of the month, not one per customer and plan segment: the
    windows are a VALUES list joined on the customer and the time range (plain SQL), a thousand a query.
    """
    out: list[list[UsageTotal]] = [[] for _ in windows]
    for first in range(0, len(windows), WINDOWS_PER_QUERY):
        chunk = windows[first : first + WINDOWS_PER_QUERY]
        bounds = [(customer, to_db(as_utc(since)), to_db(as_utc(until))) for customer, since, until in chunk]
        params: list[Any] = [value for index, bound in enumerate(bounds, first) for value in (index, *bound)]
        params += [min(bound[1] for bound in bounds), max(bound[2] for bound in bounds)]
        values = ", ".join("(?, ?, ?, ?)" for _ in chunk)
        rows = conn.execute(
            f"WITH windows(idx, customer, since, until) AS (VALUES {values}) "  # noqa: S608
            f"SELECT w.idx, e.model, e.plugin, e.unit, sum({_BILLED_UNITS}), "
            "sum(e.cost_usd), count(*), sum(e.revenue_usd) "
            "FROM usage_events e JOIN windows w "
            "ON e.customer = w.customer AND e.ts >= w.since AND e.ts < w.until "
            f"WHERE {billed_status('e.status')} AND e.model <> '-' AND e.ts >= ? AND e.ts < ? "
            "GROUP BY w.idx, e.model, e.plugin, e.unit ORDER BY w.idx, e.model, e.plugin, e.unit",
            params,
        ).fetchall()
        for row in rows:
            out[row[0]].append(
                UsageTotal(
                    row[1], row[2], "", row[3], Decimal(row[4]), Decimal(row[5]), int(row[6]), Decimal(row[7])
                )
            )
    return out
