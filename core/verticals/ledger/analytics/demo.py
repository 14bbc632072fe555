"""Demo history: how much of the ledger is synthetic, back-filled by ``verticals demo --backfill-days``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from verticals.ledger.analytics._query import Filters, connection_of, utc

DEMO_REQUEST_PREFIX = "backfill-"
"""Every back-filled event's request id starts with this; the gateway's ids never do (they are UUIDs or
the client's ``x-request-id``, which a client could set to anything, so the mark is a demo's honesty,
not a security boundary)."""


def demo_history(
    source: Any, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """The back-filled (synthetic) events in ``[since, until)``: ``events`` (count), ``first_at`` and
    ``last_at`` (UTC datetimes, None without any). The dashboard says the data is demo data when
    ``events`` is above 0.
    """
    where, params = Filters(since, until).where()
    count, first, last = (
        connection_of(source)
        .execute(
            "SELECT count(*), min(ts), max(ts) FROM usage_events "  # noqa: S608
            f"WHERE {where} AND starts_with(request_id, ?)",
            [*params, DEMO_REQUEST_PREFIX],
        )
        .fetchone()
    )
    return {"events": int(count), "first_at": utc(first), "last_at": utc(last)}
