"""The request log: recent requests one by one, newest first, as the ledger metered them.

The ledger keeps no prompt and no response: a usage event holds who called what, how it went (status,
latency, queue time), what it consumed (units) and what it was priced and cost. This is what a support
ticket's request id (the ``x-request-id`` header of the answer) is looked up in.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger.analytics._query import Filters, connection_of, label, utc

#: The status classes ``status_class`` accepts, with the statuses each covers (first, last).
STATUS_CLASSES: dict[str, tuple[int, int]] = {
    "2xx": (200, 299),
    "3xx": (300, 399),
    "4xx": (400, 499),
    "5xx": (500, 599),
}
MAX_LIMIT = 1000

_COLUMNS = (
    "request_id",
    "ts",
    "customer",
    "key_prefix",
    "plugin",
    "model",
    "model_version",
    "endpoint",
    "status",
    "latency_ms",
    "queue_ms",
    "ttft_ms",
    "units_in",
    "units_out",
    "unit",
    "device_class",
    "revenue_usd",
    "cost_usd",
)


def request_log(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    key_prefix: str | None = None,
    plugin: str | None = None,
    model: str | None = None,
    status_class: str | None = None,
    request_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """One page of the requests in ``[since, until)`` matching every filter given, newest first.

    Filters: ``customer``, ``plugin``, ``model`` exact ("no model" / "no customer" match requests that named
    none); ``key_prefix`` matches keys whose prefix starts with it (``vk_3f9a`` finds ``vk_3f9a1c2d``);
    ``status_class`` one of 2xx, 3xx, 4xx, 5xx; ``request_id`` exact (surrounding spaces ignored, as pasted
    from a ticket). ``limit`` rows (1 to 1000) from row ``offset`` (0 is the newest).

    Returns ``{"rows": [...], "total": n, "limit": limit, "offset": offset}``; ``total`` counts every
    matching request. Each row: request_id, ts (UTC), customer, key_prefix (None for a refused key),
    plugin, model, model_version, endpoint, status, latency_ms, queue_ms, ttft_ms (None but for streams),
    units_in, units_out, units (their sum), unit, device_class, price_usd (the list price in force times
    the billable units, Decimal; plan allowances, tiers and credits apply on the invoice) and cost_usd
    (compute cost, Decimal). No prompt or response: the ledger stores none.

    Raises ValueError for an unknown ``status_class`` or a ``limit``/``offset`` out of range.
    """
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise ValueError(f"limit={limit} is out of range; ask for 1 to {MAX_LIMIT} rows a page")
    if int(offset) < 0:
        raise ValueError(f"offset={offset} is negative; 0 is the newest request")
    where, params = Filters(since, until, customer, plugin, model).where()
    clauses = [where]
    if key_prefix:
        clauses.append("starts_with(key_prefix, ?)")
        params.append(str(key_prefix).strip())  # str: the admin API JSON-decodes a query value of digits
    if status_class is not None:
        if status_class not in STATUS_CLASSES:
            known = ", ".join(STATUS_CLASSES)
            raise ValueError(f"status_class={status_class!r} is not a status class; use one of {known}")
        clauses.append("status BETWEEN ? AND ?")
        params.extend(STATUS_CLASSES[status_class])
    if request_id is not None:
        clauses.append("request_id = ?")
        params.append(str(request_id).strip())
    condition = " AND ".join(clauses)
    conn = connection_of(source)
    (total,) = conn.execute(f"SELECT count(*) FROM usage_events WHERE {condition}", params).fetchone()  # noqa: S608
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM usage_events WHERE {condition} "  # noqa: S608
        # NULLS FIRST, though neither column holds a NULL: it is PostgreSQL's order for DESC, so its index on
        # ts (migration 0004), read backwards, gives the newest page without sorting every event of the range
        "ORDER BY ts DESC NULLS FIRST, request_id DESC NULLS FIRST LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    ).fetchall()
    return {
        "rows": [_row(dict(zip(_COLUMNS, row, strict=True))) for row in rows],
        "total": int(total),
        "limit": int(limit),
        "offset": int(offset),
    }


def _row(event: dict[str, Any]) -> dict[str, Any]:
    # the event's revenue_usd is the request's price: "price" here, since revenue is what invoices bill
    price, cost = Decimal(event.pop("revenue_usd")), Decimal(event.pop("cost_usd"))
    for dimension in ("customer", "plugin", "model"):
        event[dimension] = label(dimension, event[dimension])
    event["ts"] = utc(event["ts"])
    event["units"] = float(event["units_in"]) + float(event["units_out"])
    return {**event, "price_usd": price, "cost_usd": cost}
