"""Writers of a shared ledger taking turns: ``serialize`` inside a transaction.

On PostgreSQL many processes write the same tables, so a read-then-write (the next invoice number, the
latest subscription) must not interleave with another writer's: ``serialize`` takes a transaction-level
advisory lock (``pg_advisory_xact_lock``), released at COMMIT or ROLLBACK. On DuckDB one process writes,
under the ledger's lock, and there is nothing to take.
"""

from __future__ import annotations

from typing import Any


def serialize(conn: Any, *names: str) -> None:
    """Within the transaction open on ``conn``, wait until no other transaction holds the lock named by
    ``names`` (e.g. ``"invoices"``, or ``"subscriptions", customer``), then hold it until this one ends."""
    take = getattr(conn, "serialize", None)  # PostgresConnection's; a DuckDB connection has none
    if take is not None:
        take(":".join(names))
