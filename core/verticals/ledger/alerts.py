"""The ``alerts`` table: every alert the gateway raised, keyed by its event's dedup key.

An alert is claimed (inserted as ``pending``) before it is sent and finished (``sent``, ``dead`` or
``recorded``) after: the primary key makes a second claim of the same event a no-op, so each event is
sent once, across restarts too; a row still ``pending`` after a crash is sent again at the next start.
``verticals.alerts`` decides what to raise; the SQL lives here, beside the other ledger writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from verticals.ledger._time import from_db, to_db

PENDING = "pending"
SENT = "sent"
DEAD = "dead"
RECORDED = "recorded"  # no webhook configured: shown on the Risk page only


@dataclass(frozen=True)
class AlertRow:
    """One alert: ``key`` (the event's dedup key, e.g. ``budget:acme:2026-11:0.8``), ``kind`` (budget,
    cost_anomaly, backend_down, evaluation_failed), ``severity`` (info, warning, critical), ``subject``
    (the customer or model it is about), ``text`` (one line for a chat channel), ``fields`` (structured
    details, JSON-shaped), ``raised_at`` (aware UTC).
    """

    key: str
    kind: str
    severity: str
    subject: str
    text: str
    raised_at: datetime
    fields: dict[str, Any] = field(default_factory=dict)


def claim(conn: Any, alert: AlertRow) -> bool:
    """Insert ``alert`` as pending; False (nothing written) when its key was claimed before."""
    row = conn.execute(
        "INSERT INTO alerts (key, kind, severity, subject, text, fields, raised_at, status) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING key",
        [
            alert.key,
            alert.kind,
            alert.severity,
            alert.subject,
            alert.text,
            json.dumps(alert.fields, default=str, sort_keys=True),
            to_db(alert.raised_at),
            PENDING,
        ],
    ).fetchall()
    return bool(row)


def finish(conn: Any, key: str, status: str, attempts: int, error: str | None, at: datetime) -> None:
    """Record how delivering alert ``key`` ended: ``status`` (sent, dead, recorded), the webhook
    ``attempts`` made, the last ``error`` (None when it was delivered) and when (``at``)."""
    conn.execute(
        "UPDATE alerts SET status = ?, attempts = ?, last_error = ?, delivered_at = ? WHERE key = ?",
        [status, attempts, error, to_db(at), key],
    )


def pending(conn: Any) -> list[AlertRow]:
    """Alerts claimed but never finished (the gateway stopped while sending them), oldest first."""
    rows = conn.execute(
        "SELECT key, kind, severity, subject, text, raised_at, fields FROM alerts "
        "WHERE status = ? ORDER BY raised_at, key",
        [PENDING],
    ).fetchall()
    return [
        AlertRow(key, kind, severity, subject, text, from_db(raised), json.loads(fields))
        for key, kind, severity, subject, text, raised, fields in rows
    ]
