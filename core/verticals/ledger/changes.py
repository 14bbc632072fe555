"""What changed in a ledger that other processes write too (PostgreSQL, ``database_url``): ``Change``.

``Ledger.on_change`` callbacks receive one per burst of changes (``ledger.postgres.listener`` hears them).
Kept free of psycopg, so the DuckDB-only install imports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# the tables whose rows each cache is built from
CONTROL_TABLES = ("plans", "customers", "api_keys")
BOOK_TABLES = ("price_book", "price_tiers", "cost_book")


@dataclass(frozen=True)
class Change:
    """What changed in the shared ledger since the last ``Change``: ``tables`` (names, e.g. ``api_keys``)
    and ``customers`` (the customers the changed rows belong to). ``everything`` is True when changes may
    have been missed (the listener reconnected): then every cache is stale, whatever the sets say.
    """

    tables: frozenset[str] = frozenset()
    customers: frozenset[str] = frozenset()
    everything: bool = False

    def touches(self, *tables: str) -> bool:
        """Whether any of ``tables`` (or everything) changed."""
        return self.everything or not self.tables.isdisjoint(tables)

    @classmethod
    def of(cls, payloads: Iterable[str]) -> Change:
        """The ``Change`` of notification payloads ``<table>:<customer>`` (customer empty for none)."""
        tables: set[str] = set()
        customers: set[str] = set()
        for payload in payloads:
            table, _, customer = payload.partition(":")
            tables.add(table)
            if customer:
                customers.add(customer)
        return cls(frozenset(tables), frozenset(customers))


EVERYTHING = Change(everything=True)
