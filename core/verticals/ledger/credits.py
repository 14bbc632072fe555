"""Credit grants: money a customer may spend on usage before it is invoiced (promotions, prepaid
commitments, goodwill).

A grant is written once and never edited. What a grant has covered is what finalized, non-void invoices
applied from it (``invoice_credits``, written with each stored invoice), so its balance is a sum and a
voided invoice gives its credit back. The billing engine applies credits oldest-expiring first, to usage
charges only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger._time import as_utc, from_db, to_db
from verticals.ledger._values import parse_money
from verticals.ledger.errors import LedgerError


@dataclass(frozen=True)
class CreditGrant:
    """``amount_usd`` (Decimal USD) granted to ``customer`` at ``granted_at`` (UTC) for ``reason``, usable
    until ``expires_at`` (UTC, exclusive; None: never expires). ``id`` is the row's key."""

    id: int
    customer: str
    amount_usd: Decimal
    reason: str
    granted_at: datetime
    expires_at: datetime | None

    def usable_at(self, when: datetime) -> bool:
        """Whether the grant is usable at ``when`` (aware UTC): granted by then and not yet expired."""
        return self.granted_at <= when and (self.expires_at is None or when < self.expires_at)


_COLUMNS = "id, customer, amount_usd, reason, granted_at, expires_at"


def _grant(row: tuple[Any, ...]) -> CreditGrant:
    return CreditGrant(
        row[0], row[1], row[2], row[3], from_db(row[4]), from_db(row[5]) if row[5] is not None else None
    )


class Credits:
    """The ``credit_grants`` table over the ledger's connection (shared under ``lock``); ``clock`` returns
    aware UTC. Callers check that the customer exists."""

    def __init__(self, conn: Any, lock: threading.RLock, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock

    def grant(
        self,
        customer: str,
        amount_usd: Decimal | str | int,
        *,
        reason: str = "",
        expires_at: datetime | None = None,
        granted_at: datetime | None = None,
    ) -> CreditGrant:
        """Grant ``amount_usd`` (USD above 0, Decimal/str/int, up to 6 places) to ``customer`` from
        ``granted_at`` (UTC; None: now) until ``expires_at`` (None: no expiry); returns the grant.

        Raises LedgerError for a bad or zero amount, or an expiry not after the grant.
        """
        amount = parse_money(amount_usd, "credit amount", places=6)
        if amount == 0:
            raise LedgerError("a credit grant must be above $0: give an amount such as '10'")
        granted = as_utc(granted_at) if granted_at is not None else as_utc(self._clock())
        expires = as_utc(expires_at) if expires_at is not None else None
        if expires is not None and expires <= granted:
            raise LedgerError(
                f"the credit would expire ({expires.isoformat()}) before it is granted "
                f"({granted.isoformat()}): give an expiry after the grant, or none"
            )
        with self._lock:
            row = self._conn.execute(
                "INSERT INTO credit_grants (customer, amount_usd, reason, granted_at, expires_at, "  # noqa: S608
                f"created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                [
                    customer,
                    amount,
                    reason,
                    to_db(granted),
                    None if expires is None else to_db(expires),
                    to_db(self._clock()),
                ],
            ).fetchone()
        return _grant(row)

    def list(self, customer: str | None = None) -> list[CreditGrant]:
        """Every grant, or only ``customer``'s, ordered by customer, grant time and id."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM credit_grants WHERE ? IS NULL OR customer = ? "  # noqa: S608
                "ORDER BY customer, granted_at, id",
                [customer, customer],
            ).fetchall()
        return [_grant(row) for row in rows]

    def applied(self, grant_id: int) -> Decimal:
        """USD applied from grant ``grant_id`` by finalized, non-void invoices (0 when none)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT coalesce(sum(c.amount_usd), 0) FROM invoice_credits c "
                "JOIN invoices i ON i.id = c.invoice_id WHERE c.grant_id = ? AND i.voided_at IS NULL",
                [grant_id],
            ).fetchone()
        return Decimal(row[0])

    def balance(self, customer: str, at: datetime) -> Decimal:
        """USD ``customer`` may still draw at ``at`` (UTC): each grant usable then, less what finalized,
        non-void invoices applied from it (never below 0 per grant)."""
        when = to_db(as_utc(at))
        with self._lock:
            row = self._conn.execute(
                "SELECT coalesce(sum(greatest(g.amount_usd - coalesce(a.applied, 0), 0)), 0) "
                "FROM credit_grants g LEFT JOIN ("
                "  SELECT c.grant_id, sum(c.amount_usd) AS applied FROM invoice_credits c "
                "  JOIN invoices i ON i.id = c.invoice_id WHERE i.voided_at IS NULL GROUP BY c.grant_id"
                ") a ON a.grant_id = g.id "
                "WHERE g.customer = ? AND g.granted_at <= ? AND (g.expires_at IS NULL OR g.expires_at > ?)",
                [customer, when, when],
            ).fetchone()
        return Decimal(row[0])
