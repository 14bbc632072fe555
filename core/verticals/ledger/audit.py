"""The ``admin_audit`` table: who changed what through the admin API, and when.

The gateway writes one row per mutating admin call (``verticals.serving.admin.audit``), refused ones
included, and never edits one. ``actor`` is who the caller said it was: the dashboard sends its signed-in
user in the ``x-verticals-actor`` header, other callers are recorded as "admin token". It is for people to
read; access is decided by the admin token alone. Secrets never reach the table: any field whose name
says key, token, password or secret is masked before the row is written, whoever writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from verticals.ledger._time import to_db

MASK = "***"
_SECRET_WORDS = ("key", "token", "password", "secret")
# What one row may hold: an admin body is small; a larger one is cut, never refused (the call went through).
MAX_DETAIL_CHARS = 4000
MAX_ACTOR_CHARS = 200


@dataclass(frozen=True)
class AuditEntry:
    """One admin call: ``actor`` (who said it called), ``action`` (the route's name, e.g. ``create_key``),
    ``method`` and ``path`` (``POST /admin/keys``), ``subject`` (the customer, key prefix or plan it is
    about; None when it names none), ``detail`` (the JSON body and anything the route added, e.g. the new
    key's prefix), ``status`` (the HTTP status answered) and ``error`` (the refusal's message, None when it
    succeeded).
    """

    actor: str
    action: str
    method: str
    path: str
    status: int
    subject: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def masked(value: Any) -> Any:
    """``value`` (JSON-shaped) with every field whose name contains key, token, password or secret replaced
    by ``***``, at any depth. ``key_prefix`` and ``prefix`` stay: a prefix is the key's public name."""
    if isinstance(value, dict):
        return {str(name): MASK if _is_secret(str(name)) else masked(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [masked(inner) for inner in value]
    return value


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    if lowered in ("prefix", "key_prefix"):
        return False
    return any(word in lowered for word in _SECRET_WORDS)


def printable(text: str, limit: int = MAX_ACTOR_CHARS) -> str:
    """``text`` without control characters (a header cannot forge a second log line), stripped, cut to
    ``limit`` characters."""
    return "".join(ch for ch in text if ch.isprintable()).strip()[:limit]


def record(conn: Any, entry: AuditEntry, at: datetime) -> int:
    """Insert ``entry`` as happening ``at`` (aware UTC) with its detail masked; returns the row's id."""
    detail = json.dumps(masked(entry.detail), default=str, sort_keys=True)
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
    row = conn.execute(
        "INSERT INTO admin_audit (acted_at, actor, action, method, path, subject, detail, status, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            to_db(at),
            printable(entry.actor) or "unknown",
            entry.action,
            entry.method,
            entry.path,
            entry.subject,
            detail,
            entry.status,
            entry.error,
        ],
    ).fetchone()
    return int(row[0])
