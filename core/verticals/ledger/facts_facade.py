"""The facts half of the ``Ledger`` facade: devices (capacity), evaluation runs, alerts, the audit log.

``Ledger`` inherits these methods; each write refuses a read-only or closed ledger and runs the SQL of its
module (``facts``, ``alerts``, ``audit``) under the ledger's lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from verticals.ledger import alerts, audit, facts
from verticals.ledger.alerts import AlertRow
from verticals.ledger.audit import AuditEntry
from verticals.ledger.books import Books


class FactsFacade:
    """Device, evaluation, alert and audit methods of ``Ledger`` (see the module)."""

    _conn: Any
    _lock: threading.RLock
    _clock: Callable[[], datetime]
    _books: Books

    def _writable(self) -> Any:
        raise NotImplementedError  # Ledger's: raises LedgerError on a closed or read-only ledger

    # capacity and evaluations

    def record_device(
        self,
        device_id: str,
        device_class: str,
        models: Sequence[str],
        up_at: datetime,
        down_at: datetime | None = None,
    ) -> None:
        """Record a device (a machine's CPUs, one GPU) coming up with the models it serves (UTC times); call
        again with the same ``up_at`` and a ``down_at`` to close it. It is paid for once, however many
        models it serves. Raises LedgerError when read-only, without a cost rate for ``device_class`` at
        ``up_at``, or as ``facts.record_device`` does.
        """
        self._writable()
        self._books.cost_rate(device_class, up_at)
        with self._lock:
            facts.record_device(self._conn, device_id, device_class, models, up_at, down_at)

    def record_capacity(
        self,
        instance_id: str,
        model: str,
        device_class: str,
        up_at: datetime,
        down_at: datetime | None = None,
    ) -> None:
        """``record_device`` of a device serving only ``model``, as callers did before devices."""
        self._writable()
        self._books.cost_rate(device_class, up_at)
        with self._lock:
            facts.record_capacity(self._conn, instance_id, model, device_class, up_at, down_at)

    def record_evaluation(
        self,
        model: str,
        version: str,
        suite: str,
        metrics: dict[str, float],
        thresholds: dict[str, dict[str, float | None]],
        passed: bool,
        at: datetime | None = None,
    ) -> str:
        """Store one evaluation run and its metrics; returns the run id."""
        self._writable()
        when = at if at is not None else self._clock()
        with self._lock:
            return facts.record_evaluation(
                self._conn, model, version, suite, metrics, thresholds, passed, when
            )

    def claim_alert(self, alert: AlertRow) -> bool:
        """Insert ``alert`` as pending (see ``ledger.alerts``); False when its event was claimed before."""
        self._writable()
        with self._lock:
            return alerts.claim(self._conn, alert)

    def finish_alert(self, key: str, status: str, attempts: int, error: str | None) -> None:
        """Record how delivering alert ``key`` ended (sent, dead or recorded), now."""
        self._writable()
        with self._lock:
            alerts.finish(self._conn, key, status, attempts, error, self._clock())

    def pending_alerts(self) -> list[AlertRow]:
        """Alerts claimed but not delivered (the gateway stopped while sending them), oldest first."""
        with self._lock:
            return alerts.pending(self._conn)

    def record_admin_action(self, entry: AuditEntry) -> int:
        """Append ``entry`` to the admin audit log (``ledger.audit``; secrets masked), now; its row id."""
        self._writable()
        with self._lock:
            return audit.record(self._conn, entry, self._clock())
