"""The admin audit log (``verticals.ledger.audit``): who changed what through the admin API, and when."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from verticals.ledger._time import to_db
from verticals.ledger.analytics._query import connection_of, utc

_COLUMNS = ("id", "acted_at", "actor", "action", "method", "path", "subject", "detail", "status", "error")


def admin_audit(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    subject: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The latest ``limit`` admin actions in [``since``, ``until``), newest first, optionally only
    ``actor``'s or those about ``subject`` (a customer, key prefix or plan).

    Keys: ``id`` (increasing), ``acted_at`` (UTC), ``actor`` (who the caller said it was: the dashboard's
    user, or "admin token"), ``action`` (the admin route, e.g. ``create_key``), ``method`` and ``path``,
    ``subject`` (None when the call named none), ``detail`` (a dict: the request body with secrets masked,
    plus what the route added, e.g. the new key's ``prefix``), ``status`` (the HTTP status answered) and
    ``error`` (the refusal's message; None when the call succeeded).
    """
    clauses: list[str] = []
    params: list[Any] = []
    for column, operator, value in (
        ("acted_at", ">=", to_db(since) if since is not None else None),
        ("acted_at", "<", to_db(until) if until is not None else None),
        ("actor", "=", actor),
        ("subject", "=", subject),
    ):
        if value is not None:
            clauses.append(f"{column} {operator} ?")
            params.append(value)
    where = " AND ".join(clauses) or "true"
    sql = f"SELECT {', '.join(_COLUMNS)} FROM admin_audit WHERE {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
    rows = connection_of(source).execute(sql, [*params, max(int(limit), 0)]).fetchall()
    out = []
    for row in rows:
        item = dict(zip(_COLUMNS, row, strict=True))
        item["acted_at"] = utc(item["acted_at"])
        item["detail"] = json.loads(item["detail"])
        out.append(item)
    return out
