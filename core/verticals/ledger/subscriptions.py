"""Subscriptions: each customer's plan history, effective-dated, served from memory.

A customer is on one plan at a time; a change ends the current subscription where the next one starts, so
the history has no overlaps. History is appended, never rewritten: a change must start after the start of
the latest subscription (at the same instant it replaces that one's plan, which has covered no time). A
customer gets its first subscription from its ``created_at`` (schema v4 gave every existing customer one).
``customers.plan`` stays the current plan; prices at a time follow the plan in force then (``plan_at``), so
a change dated in the future takes effect on its date.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from verticals.ledger._serial import serialize
from verticals.ledger._time import as_utc, from_db, to_db
from verticals.ledger.errors import LedgerError


@dataclass(frozen=True)
class Subscription:
    """``customer`` on ``plan`` from ``starts_at`` (UTC, inclusive) until ``ends_at`` (UTC, exclusive; None:
    open-ended). ``id`` is the row's key, in the order subscriptions were written."""

    id: int
    customer: str
    plan: str
    starts_at: datetime
    ends_at: datetime | None

    def covers(self, when: datetime) -> bool:
        """Whether ``when`` (aware UTC) lies in ``[starts_at, ends_at)``."""
        return self.starts_at <= when and (self.ends_at is None or when < self.ends_at)


class Subscriptions:
    """The ``subscriptions`` table over the ledger's connection (shared under ``lock``), cached per customer
    in start order; ``clock`` returns aware UTC. Callers check that customers and plans exist."""

    def __init__(
        self, conn: Any, lock: threading.RLock, clock: Callable[[], datetime], *, shared: bool = False
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock
        self._shared = shared  # other processes write the table too (PostgreSQL): read it under the lock
        self._history: dict[str, list[Subscription]] = {}
        self.reload()

    def reload(self) -> None:
        """Rebuild the in-memory histories from the table; called after every write here."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, customer, plan, starts_at, ends_at FROM subscriptions "
                "ORDER BY customer, starts_at"
            ).fetchall()
        history: dict[str, list[Subscription]] = {}
        for row in rows:
            ends = from_db(row[4]) if row[4] is not None else None
            history.setdefault(row[1], []).append(Subscription(row[0], row[1], row[2], from_db(row[3]), ends))
        self._history = history

    def check_start(self, customer: str, plan: str, when: datetime) -> Subscription | None:
        """Refuse, with LedgerError, a change of ``customer`` to ``plan`` at ``when`` (aware UTC) that
        ``start`` would refuse; answer the latest subscription (None: none)."""
        latest = self.latest(customer)
        if latest is None:
            return None
        if when < latest.starts_at:
            raise LedgerError(
                f"{customer}'s subscription to {latest.plan} starts at {latest.starts_at.isoformat()}: a "
                "change must start after it, since the plan history is appended, never rewritten; give "
                "a later date (--from), or leave it out for now"
            )
        if latest.plan == plan and latest.ends_at is None:
            raise LedgerError(
                f"{customer} is already on plan {plan} since {latest.starts_at.isoformat()}: nothing to "
                "change"
            )
        return latest

    def start(self, customer: str, plan: str, starts_at: datetime | None = None) -> Subscription:
        """Put ``customer`` on ``plan`` from ``starts_at`` (UTC; None: now), ending the latest subscription
        there if it runs past it; returns the new subscription. A change at the very instant the latest
        subscription starts replaces that one's plan (it has covered no time yet).

        Raises LedgerError when ``starts_at`` is before the latest subscription's start (history is never
        rewritten), or the customer is already on ``plan`` with no end.
        """
        when = as_utc(starts_at) if starts_at is not None else as_utc(self._clock())
        latest = self.check_start(customer, plan, when)
        with self._lock:
            self._conn.execute("BEGIN TRANSACTION")
            try:
                serialize(self._conn, "subscriptions", customer)
                if self._shared:  # another writer may have changed the history since we looked
                    self.reload()
                    latest = self.check_start(customer, plan, when)
                if latest is not None and latest.starts_at == when:
                    self._conn.execute("UPDATE subscriptions SET plan = ? WHERE id = ?", [plan, latest.id])
                    row_id = latest.id
                else:
                    if latest is not None and (latest.ends_at is None or latest.ends_at > when):
                        self._conn.execute(
                            "UPDATE subscriptions SET ends_at = ? WHERE id = ?", [to_db(when), latest.id]
                        )
                    row_id = self._conn.execute(
                        "INSERT INTO subscriptions (customer, plan, starts_at, ends_at, created_at) "
                        "VALUES (?, ?, ?, NULL, ?) RETURNING id",
                        [customer, plan, to_db(when), to_db(self._clock())],
                    ).fetchone()[0]
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        self.reload()
        return next(s for s in self._history[customer] if s.id == row_id)

    def cancel(self, customer: str, at: datetime | None = None) -> Subscription:
        """End ``customer``'s open subscription at ``at`` (UTC; None: now); its fee stops there. Returns the
        ended subscription.

        Raises LedgerError when the customer has no open subscription, or ``at`` is not after its start.
        """
        when = as_utc(at) if at is not None else as_utc(self._clock())
        latest = self.latest(customer)
        if latest is None or latest.ends_at is not None:
            ended = (
                "" if latest is None or latest.ends_at is None else f" (the last ended at {latest.ends_at})"
            )
            raise LedgerError(
                f"{customer} has no open subscription to cancel{ended}: start one with "
                f"`verticals subscriptions set {customer} PLAN`"
            )
        if when <= latest.starts_at:
            raise LedgerError(
                f"{customer}'s subscription to {latest.plan} starts at {latest.starts_at.isoformat()}: "
                "cancel it at a later time"
            )
        with self._lock:
            self._conn.execute("UPDATE subscriptions SET ends_at = ? WHERE id = ?", [to_db(when), latest.id])
        self.reload()
        return next(s for s in self._history[customer] if s.id == latest.id)

    def latest(self, customer: str) -> Subscription | None:
        """The subscription of ``customer`` that starts last, or None when it has none."""
        history = self._history.get(customer)
        return history[-1] if history else None

    def list(self, customer: str | None = None) -> list[Subscription]:
        """Every subscription, or only ``customer``'s, ordered by customer and start."""
        if customer is not None:
            return list(self._history.get(customer, []))
        return [s for name in sorted(self._history) for s in self._history[name]]

    def plan_at(self, customer: str, at: datetime) -> str | None:
        """The plan of ``customer``'s subscription in force at ``at`` (aware UTC), or None when none is."""
        history = self._history.get(customer)
        if not history:
            return None
        index = bisect.bisect_right([s.starts_at for s in history], at)
        if index and history[index - 1].covers(at):
            return history[index - 1].plan
        return None

    def next_change(self, customer: str, at: datetime) -> datetime | None:
        """The first start or end of one of ``customer``'s subscriptions after ``at``, or None: a price looked
        up through ``plan_at`` may be cached until then."""
        times = [
            t
            for s in self._history.get(customer, [])
            for t in (s.starts_at, s.ends_at)
            if t is not None and t > at
        ]
        return min(times, default=None)
