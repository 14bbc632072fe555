"""Control data: plans, customers and API keys, with in-memory caches for the gateway's hot path.

Keys are stored only as a sha256 hash plus a short display prefix; the plaintext is returned once by
``create_key`` and never written anywhere. On DuckDB the caches are coherent because one process writes
the ledger, and every write in that process goes through here. On PostgreSQL (``shared``) other processes
write too: the ledger reloads on each change it hears (``Ledger.on_change``), and here every write reads
the tables first and a name or key missing from the cache is looked up before it is called unknown.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger._time import from_db, to_db
from verticals.ledger._values import check_limit, check_name, parse_money
from verticals.ledger.errors import LedgerConflict, LedgerError
from verticals.suggest import unknown, unknown_customer

KEY_PREFIX_LEN = 11  # "vk_" + 8 characters: enough to tell keys apart in a list, useless to an attacker
# Hashes of presented keys the table did not hold, kept until the next reload (any change to the control
# tables): a flood of made-up keys then costs one lookup each, not one per request. No real key can be
# among them before it exists: its plaintext is random and shown only once, at its creation.
MISSING_KEYS_MAX = 65_536
CUSTOMER_STATUSES = ("active", "suspended")


@dataclass(frozen=True)
class Plan:
    """A billing plan: ``monthly_fee_usd`` (Decimal USD, up to 6 places) and ``included_units`` (a float,
    stored and listed with the plan).

    ``example`` marks plans a fresh ledger is seeded with; ``created_at`` is UTC.
    """

    name: str
    monthly_fee_usd: Decimal
    included_units: float
    description: str
    example: bool
    created_at: datetime


@dataclass(frozen=True)
class Customer:
    """A customer on ``plan``, with an optional monthly budget ``budget_usd`` (Decimal USD; None: no budget).

    ``status`` is ``"active"`` or ``"suspended"``; ``created_at`` is UTC.
    """

    name: str
    plan: str
    budget_usd: Decimal | None
    status: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored: only its display ``prefix`` (``vk_`` plus 8 characters), never the plaintext.

    ``rpm`` / ``tpm`` are the key's limits in requests / tokens per minute (None: none); ``revoked_at`` is
    UTC, None while the key is active.
    """

    prefix: str
    customer: str
    rpm: int | None
    tpm: int | None
    revoked_at: datetime | None
    created_at: datetime

    @property
    def active(self) -> bool:
        """True while the key has not been revoked."""
        return self.revoked_at is None


def hash_key(plaintext: str) -> str:
    """The hex SHA-256 (64 characters) of a plaintext key: the only form in which keys are stored and looked
    up.
    """
    return hashlib.sha256(plaintext.encode()).hexdigest()


class Control:
    """Plans, customers and API keys over one DuckDB connection, cached in memory for the gateway's hot path.

    ``conn`` is shared with the ledger under ``lock``; ``clock`` returns aware UTC for ``created_at`` and
    ``revoked_at``; ``shared``: other processes write the tables too (see the module). Reads the tables at
    construction (``reload``).
    """

    def __init__(
        self, conn: Any, lock: threading.RLock, clock: Callable[[], datetime], *, shared: bool = False
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock
        self._shared = shared
        self._customers: dict[str, Customer] = {}
        self._keys_by_hash: dict[str, ApiKey] = {}
        self._missing_keys: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first
        self._plans: dict[str, Plan] = {}
        self.reload()

    def reload(self) -> None:
        """Rebuild the in-memory plans, customers and keys (by hash) from the ``plans``, ``customers`` and
        ``api_keys`` tables; called after every write here.
        """
        with self._lock:
            plans = self._conn.execute("SELECT * FROM plans ORDER BY name").fetchall()
            customers = self._conn.execute(
                "SELECT name, plan, budget_usd, status, created_at FROM customers ORDER BY name"
            ).fetchall()
            keys = self._conn.execute(
                "SELECT key_sha256, prefix, customer, rpm, tpm, revoked_at, created_at FROM api_keys"
            ).fetchall()
        self._plans = {row[0]: Plan(row[0], row[1], row[2], row[3], row[4], from_db(row[5])) for row in plans}
        self._customers = {
            row[0]: Customer(row[0], row[1], row[2], row[3], from_db(row[4])) for row in customers
        }
        self._keys_by_hash = {
            row[0]: ApiKey(
                row[1], row[2], row[3], row[4], from_db(row[5]) if row[5] else None, from_db(row[6])
            )
            for row in keys
        }
        self._missing_keys = {}

    def _fresh(self) -> None:
        """Before a write on a shared ledger: read the tables, so its checks see other writers' rows."""
        if self._shared:
            self.reload()

    def _missing(self, name: str, cache: Callable[[], dict[str, Any]]) -> bool:
        """True when ``name`` is not in ``cache()``, and on a shared ledger not there either after reading
        the tables again: another writer may have added the row a moment ago."""
        if name in cache():
            return False
        if self._shared:
            self.reload()
            return name not in cache()
        return True

    # plans

    def create_plan(
        self,
        name: str,
        monthly_fee_usd: Decimal | str | int = 0,
        included_units: float = 0,
        description: str = "",
    ) -> Plan:
        """Create the plan ``name`` with ``monthly_fee_usd`` (Decimal, str or int USD, up to 6 places) and
        ``included_units`` (0 or more), and return it.

        Raises LedgerError for a bad name, a bad fee (float, negative, not a number), negative included units,
        or a plan of that name that exists.
        """
        check_name(name, "plan")
        fee = parse_money(monthly_fee_usd, "monthly fee", places=6)
        if included_units < 0:
            raise LedgerError(f"included units {included_units!r} must be zero or more")
        self._fresh()
        exists = f"plan {name!r} already exists: pick another name (see `verticals plans list`)"
        if name in self._plans:
            raise LedgerError(exists)
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO plans VALUES (?, ?, ?, ?, false, ?)",
                    [name, fee, float(included_units), description, to_db(self._clock())],
                )
            except LedgerConflict:  # another writer created it since we looked
                raise LedgerError(exists) from None
        self.reload()
        return self._plans[name]

    def list_plans(self) -> list[Plan]:
        """Every plan, by name."""
        return list(self._plans.values())

    def get_plan(self, name: str) -> Plan:
        """The plan ``name``; raises LedgerError listing the known plans when there is none of that name."""
        if self._missing(name, lambda: self._plans):
            raise LedgerError(
                unknown("plan", name, self._plans, "or create it with `verticals plans create`")
            )
        return self._plans[name]

    # customers

    def create_customer(
        self, name: str, plan: str, budget_usd: Decimal | str | int | None = None
    ) -> Customer:
        """Create the customer ``name`` on ``plan``, active, with an optional monthly budget (USD,
        Decimal/str/int, up to 6 places; None: no budget), and return it.

        Raises LedgerError for a bad name, an unknown plan, a bad budget, or a customer of that name that
        exists.
        """
        check_name(name, "customer")
        self._fresh()
        self.get_plan(plan)
        budget = None if budget_usd is None else parse_money(budget_usd, "budget", places=6)
        exists = f"customer {name!r} already exists: pick another name (`verticals customers list`)"
        if name in self._customers:
            raise LedgerError(exists)
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO customers VALUES (?, ?, ?, 'active', ?)",
                    [name, plan, budget, to_db(self._clock())],
                )
            except LedgerConflict:  # another writer created it since we looked
                raise LedgerError(exists) from None
        self.reload()
        return self._customers[name]

    def update_customer(
        self,
        name: str,
        *,
        plan: str | None = None,
        budget_usd: Decimal | str | int | None = None,
        clear_budget: bool = False,
        status: str | None = None,
    ) -> Customer:
        """Change the plan, budget (USD) and/or status (``"active"``/``"suspended"``) of customer ``name``;
        what is left as None keeps its value, ``clear_budget`` removes the budget. Returns the updated
        customer.

        Raises LedgerError for an unknown customer or plan, a bad budget, or an unknown status. Only the
        fields given are written, so concurrent changes of different fields by two writers both hold.
        """
        self._fresh()
        self.get_customer(name)
        new_plan = None if plan is None else self.get_plan(plan).name
        budget = None if budget_usd is None or clear_budget else parse_money(budget_usd, "budget", places=6)
        if status is not None and status not in CUSTOMER_STATUSES:
            raise LedgerError(f"status {status!r} is not one of {', '.join(CUSTOMER_STATUSES)}")
        with self._lock:
            self._conn.execute(
                "UPDATE customers SET plan = coalesce(?, plan), "
                "budget_usd = CASE WHEN ? THEN NULL ELSE coalesce(?, budget_usd) END, "
                "status = coalesce(?, status) WHERE name = ?",
                [new_plan, clear_budget, budget, status, name],
            )
        self.reload()
        return self._customers[name]

    def list_customers(self) -> list[Customer]:
        """Every customer, by name."""
        return list(self._customers.values())

    def get_customer(self, name: str) -> Customer:
        """The customer ``name``; raises LedgerError naming the command that creates it when there is none."""
        if self._missing(name, lambda: self._customers):
            raise LedgerError(unknown_customer(name, self._customers))
        return self._customers[name]

    # keys

    def create_key(self, customer: str, rpm: int | None = None, tpm: int | None = None) -> tuple[str, ApiKey]:
        """Create an API key for ``customer`` with optional limits ``rpm`` (requests per minute) and ``tpm``
        (tokens per minute); returns ``(plaintext, ApiKey)``.

        The plaintext (``vk_`` + 43 URL-safe characters, 32 random bytes) is returned only here; the ledger
        keeps its SHA-256 and an 11-character prefix, unique among the keys. Raises LedgerError for an unknown
        customer or a limit that is not a whole number above 0.
        """
        self._fresh()
        self.get_customer(customer)
        check_limit(rpm, "rpm (requests per minute)")
        check_limit(tpm, "tpm (tokens per minute)")
        prefixes = {key.prefix for key in self._keys_by_hash.values()}
        while True:
            plaintext = "vk_" + secrets.token_urlsafe(32)
            if plaintext[:KEY_PREFIX_LEN] not in prefixes:
                break
        prefix = plaintext[:KEY_PREFIX_LEN]
        digest = hash_key(plaintext)
        with self._lock:
            self._conn.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                [prefix, digest, customer, rpm, tpm, to_db(self._clock())],
            )
        self.reload()
        return plaintext, self._keys_by_hash[digest]

    def find_key(self, plaintext: str) -> ApiKey | None:
        """The key for a presented plaintext, revoked or not (the caller checks ``revoked_at``).

        Served from memory; on a shared ledger a miss asks the table (one indexed lookup), so a key made
        by another replica a moment ago works at once, and a hash the table did not hold is remembered
        until the next reload (``MISSING_KEYS_MAX`` of them), so that made-up keys do not reach the
        database on every request.
        """
        digest = hash_key(plaintext)
        key = self._keys_by_hash.get(digest)
        if key is not None or not self._shared or digest in self._missing_keys:
            return key
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM api_keys WHERE key_sha256 = ?", [digest]).fetchone()
        if row is None:
            if len(self._missing_keys) >= MISSING_KEYS_MAX:
                del self._missing_keys[next(iter(self._missing_keys))]
            self._missing_keys[digest] = None
            return None
        self.reload()
        return self._keys_by_hash.get(digest)

    def revoke_key(self, prefix: str) -> None:
        """Revoke the key with display prefix ``prefix`` (``revoked_at`` = now, UTC).

        Raises LedgerError when no key has that prefix or it was already revoked.
        """
        self._fresh()
        match = next((key for key in self._keys_by_hash.values() if key.prefix == prefix), None)
        if match is None:
            raise LedgerError(f"no key with prefix {prefix!r}: see `verticals keys list` for the prefixes")
        if match.revoked_at is not None:
            raise LedgerError(f"key {prefix!r} was already revoked at {match.revoked_at.isoformat()}")
        with self._lock:
            self._conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL",
                [to_db(self._clock()), prefix],
            )
        self.reload()

    def list_keys(self, customer: str | None = None) -> list[ApiKey]:
        """Every key, or only ``customer``'s, ordered by customer, creation time and prefix; raises
        LedgerError for an unknown customer.
        """
        if customer is not None:
            self.get_customer(customer)
        keys = [k for k in self._keys_by_hash.values() if customer is None or k.customer == customer]
        return sorted(keys, key=lambda k: (k.customer, k.created_at, k.prefix))
