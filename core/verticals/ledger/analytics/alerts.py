"""The alerts the gateway raised (budget thresholds, cost anomalies, backends down, failing evaluations)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from verticals.ledger._time import to_db
from verticals.ledger.analytics._query import connection_of, utc

_COLUMNS = (
    "raised_at",
    "kind",
    "severity",
    "subject",
    "text",
    "status",
    "attempts",
    "last_error",
    "delivered_at",
    "key",
    "fields",
)


def recent_alerts(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The latest ``limit`` alerts raised in [``since``, ``until``), newest first.

    Keys: ``raised_at`` and ``delivered_at`` (UTC; None while pending), ``kind`` (budget, cost_anomaly,
    backend_down, evaluation_failed), ``severity``, ``subject`` (customer or model), ``text``, ``status``
    (pending, sent, dead: every webhook attempt failed, recorded: no webhook configured), ``attempts``
    (webhook calls made), ``last_error``, ``key`` (the event's dedup key) and ``fields`` (a dict).
    """
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("raised_at >= ?")
        params.append(to_db(since))
    if until is not None:
        clauses.append("raised_at < ?")
        params.append(to_db(until))
    where = " AND ".join(clauses) or "true"
    sql = (
        f"SELECT {', '.join(_COLUMNS)} FROM alerts WHERE {where} "  # noqa: S608
        "ORDER BY raised_at DESC, key LIMIT ?"
    )
    rows = connection_of(source).execute(sql, [*params, max(int(limit), 0)]).fetchall()
    out = []
    for row in rows:
        item = dict(zip(_COLUMNS, row, strict=True))
        item["raised_at"], item["delivered_at"] = utc(item["raised_at"]), utc(item["delivered_at"])
        item["fields"] = json.loads(item["fields"])
        out.append(item)
    return out
