"""``Ledger``: one object over the DuckDB file that holds the business - control data, books, usage.

DuckDB lets one process write a database file, so the gateway opens the ledger read-write and owns
it; everything else goes through the admin API, or opens the file with ``read_only=True`` when no
server runs. ``connection`` is a plain DuckDB connection for the analytics functions; like any
DuckDB connection it is for one thread at a time (take ``connection.cursor()`` in another thread).

With ``database_url`` the ledger lives in PostgreSQL instead and is ``shared``: any number of processes
(gateway replicas, the CLI, the dashboard) open it read-write at once. Each hears the others' changes to
control data within moments (``ledger.postgres.listener``), reloads its caches and tells ``on_change``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from verticals.ledger._time import month_start, next_month_start, to_db, utc_now
from verticals.ledger.billing_facade import BillingFacade
from verticals.ledger.books import Books, CostRow, PriceRow, Span
from verticals.ledger.changes import BOOK_TABLES, CONTROL_TABLES, Change
from verticals.ledger.control import ApiKey, Control, Customer, Plan
from verticals.ledger.errors import LedgerError
from verticals.ledger.events import UsageEvent
from verticals.ledger.facts_facade import FactsFacade
from verticals.ledger.opening import open_database
from verticals.ledger.sinks import EventSink
from verticals.ledger.writer import SpendTally, SpoolWriter

SPOOL_DIR = "ledger.spool"


class Ledger(BillingFacade, FactsFacade):
    """The business's DuckDB file: control data (plans, customers, keys), the price and cost books, usage,
    and billing (allowances, subscriptions, credits, invoices: ``BillingFacade``).

    Build it with ``Ledger.open``. ``writer`` is None for a read-only ledger, in which case every write raises
    LedgerError; ``clock`` returns aware UTC. Usable as a context manager, which closes it.
    """

    def __init__(
        self,
        path: Path | str,
        conn: Any,
        writer: SpoolWriter | None,
        clock: Callable[[], datetime],
        *,
        shared: bool = False,
    ) -> None:
        self.path = path
        self.shared = shared  # other processes write it too (PostgreSQL)
        self._conn = conn
        self._writer = writer
        self._clock = clock
        self._lock = threading.RLock()
        self._control = Control(conn, self._lock, clock, shared=shared)
        self._books = Books(conn, self._lock, clock, shared=shared)
        self._init_billing()
        self._spend_cache: dict[tuple[str, int, int], Decimal] = {}
        self._change_callbacks: list[Callable[[Change], None]] = []
        self._listener: Any = None  # a ledger.postgres.listener.ChangeListener on a shared ledger
        self._closed = False

    @classmethod
    def open(
        cls,
        home: Path,
        *,
        read_only: bool = False,
        fsync_ms: int | None = None,
        clock: Callable[[], datetime] | None = None,
        database_url: str | None = None,
    ) -> Ledger:
        """Open (or create) ``home/ledger.duckdb``, or with ``database_url`` the PostgreSQL ledger there,
        upgrade its schema and replay any spool left behind (``home/ledger.spool``, this process's own).

        ``fsync_ms`` is the machine-crash window of the spool (default: the ``spool_fsync_ms``
        setting); ``clock`` replaces the wall clock, for tests and back-fills. Raises LedgerError.
        """
        home = Path(home)
        clock = clock or utc_now
        path: Path | str
        if database_url is not None:
            from verticals.ledger.postgres.connection import redacted
            from verticals.ledger.postgres.opening import open_postgres

            path, conn = redacted(database_url), open_postgres(database_url, read_only=read_only)
        else:
            path, conn = open_database(home, read_only=read_only)
        shared = database_url is not None
        try:
            ledger = cls(path, conn, None, clock, shared=shared)
            if database_url is not None:
                ledger._listen(database_url)
        except BaseException:
            conn.close()
            raise
        if read_only:
            return ledger
        try:
            if fsync_ms is None:
                from verticals.config import load_settings

                fsync_ms = load_settings().spool_fsync_ms
            ledger._writer = SpoolWriter(
                None if database_url is not None else conn.cursor(),
                home / SPOOL_DIR,
                fsync_ms=fsync_ms,
                on_commit=ledger._forget_spend,
                sink=_postgres_sink(database_url),
            )
        except BaseException:
            ledger.close()
            raise
        return ledger

    def _listen(self, url: str) -> None:
        from verticals.ledger.postgres.listener import ChangeListener

        # listening before the caches are read again, so no change committed after this is missed
        self._listener = ChangeListener(url, self._changed)
        self._listener.start()
        self._changed(Change(everything=True), callbacks=False)

    def on_change(self, callback: Callable[[Change], None]) -> None:
        """Call ``callback(change)`` each time control data (customers, keys, plans, books, subscriptions,
        credits, invoices) changed in a shared ledger, by any writer - another replica, the CLI, psql, or
        this process - within about a second, after this ledger's own caches were read again. It runs in
        the listener's thread; an exception it raises is logged. A DuckDB ledger never calls it: one
        process writes, and it changes its caches as it writes.
        """
        self._change_callbacks.append(callback)

    def _changed(self, change: Change, *, callbacks: bool = True) -> None:
        if change.touches(*CONTROL_TABLES):
            self._control.reload()
        if change.touches(*BOOK_TABLES):
            self._books.reload()
        if change.touches("subscriptions"):
            self._subscriptions.reload()
        for callback in list(self._change_callbacks) if callbacks else ():
            callback(change)

    def close(self) -> None:
        """Flush and stop the spool writer (if any), then close the DuckDB connection; a second call does
        nothing.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._listener is not None:
                self._listener.close()
            if self._writer is not None:
                self._writer.close()
        finally:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def connection(self) -> Any:
        """The DuckDB connection, for the functions in ``verticals.ledger.analytics``."""
        return self._conn

    @property
    def read_only(self) -> bool:
        """True when the ledger was opened without a writer, so writes raise LedgerError."""
        return self._writer is None

    def _writable(self) -> SpoolWriter:
        if self._closed:
            raise LedgerError("the ledger is closed: open it again with Ledger.open(home)")
        if self._writer is None:
            raise LedgerError(
                f"the ledger at {self.path} was opened read-only: open it without read_only to change it"
            )
        return self._writer

    # control data

    def create_plan(
        self,
        name: str,
        monthly_fee_usd: Decimal | str | int = 0,
        included_units: float = 0,
        description: str = "",
    ) -> Plan:
        """Create a plan (see ``Control.create_plan``: fee in USD, Decimal/str/int). Raises LedgerError when
        the ledger is closed or read-only, or the plan is invalid or exists.
        """
        self._writable()
        return self._control.create_plan(name, monthly_fee_usd, included_units, description)

    def list_plans(self) -> list[Plan]:
        """Every plan, by name."""
        return self._control.list_plans()

    def get_plan(self, name: str) -> Plan:
        """The plan ``name``; raises LedgerError when there is none."""
        return self._control.get_plan(name)

    def create_customer(
        self, name: str, plan: str, budget_usd: Decimal | str | int | None = None
    ) -> Customer:
        """Create a customer on ``plan`` with an optional monthly budget in USD (see
        ``Control.create_customer``). Raises LedgerError when the ledger is closed or read-only, or the
        input is refused.
        """
        self._writable()
        customer = self._control.create_customer(name, plan, budget_usd)
        self._start_history(customer)
        return customer

    def update_customer(
        self,
        name: str,
        *,
        plan: str | None = None,
        budget_usd: Decimal | str | int | None = None,
        clear_budget: bool = False,
        status: str | None = None,
    ) -> Customer:
        """Change a customer's plan, budget (USD) or status (see ``Control.update_customer``). Raises
        LedgerError when the ledger is closed or read-only, or the input is refused.
        """
        self._writable()
        # a plan change is a subscription change from now; checked before anything is written
        change = plan is not None and plan != self.get_customer(name).plan
        if change and plan is not None:
            self._control.get_plan(plan)
            self._subscriptions.check_start(name, plan, self._now())
        customer = self._control.update_customer(
            name, plan=plan, budget_usd=budget_usd, clear_budget=clear_budget, status=status
        )
        if change and plan is not None:
            self._subscriptions.start(name, plan, self._now())
        return customer

    def list_customers(self) -> list[Customer]:
        """Every customer, by name, each with the plan it is on now (see ``get_customer``)."""
        return [self.get_customer(c.name) for c in self._control.list_customers()]

    def get_customer(self, name: str) -> Customer:
        """The customer ``name``, on the plan of its subscription in force now (a change dated in the future
        shows from its date); raises LedgerError when there is none."""
        customer = self._control.get_customer(name)
        plan = self._subscriptions.plan_at(name, self._now())
        return customer if plan is None or plan == customer.plan else dataclasses.replace(customer, plan=plan)

    def create_key(self, customer: str, rpm: int | None = None, tpm: int | None = None) -> tuple[str, ApiKey]:
        """A new key: returns the plaintext (show it once, it is stored nowhere) and its record."""
        self._writable()
        return self._control.create_key(customer, rpm, tpm)

    def find_key(self, plaintext: str) -> ApiKey | None:
        """The stored key whose SHA-256 matches ``plaintext``, revoked or not, or None when there is none."""
        return self._control.find_key(plaintext)

    def revoke_key(self, prefix: str) -> None:
        """Revoke the key with display prefix ``prefix``. Raises LedgerError when the ledger is closed or
        read-only, no key has that prefix, or it is already revoked.
        """
        self._writable()
        self._control.revoke_key(prefix)

    def list_keys(self, customer: str | None = None) -> list[ApiKey]:
        """Every key, or only ``customer``'s; raises LedgerError for an unknown customer."""
        return self._control.list_keys(customer)

    # books

    def list_prices(self, plan: str | None = None) -> list[PriceRow]:
        """Every price row, of ``plan`` only when given; raises LedgerError for an unknown plan."""
        if plan is not None:
            self._control.get_plan(plan)
        return self._books.list_prices(plan)

    def set_cost(
        self,
        device_class: str,
        usd_per_hour: Decimal | str | int,
        *,
        effective_from: datetime | None = None,
        note: str = "",
    ) -> CostRow:
        """Append a cost rate of ``usd_per_hour`` (USD per device-hour) for ``device_class`` from
        ``effective_from`` (UTC; None: now) on; returns the new row.

        Raises LedgerError when the ledger is closed or read-only, or the books refuse the row (see
        ``Books.set_cost``).
        """
        self._writable()
        return self._books.set_cost(device_class, usd_per_hour, effective_from=effective_from, note=note)

    def list_costs(self) -> list[CostRow]:
        """Every cost-book row, ordered by device class and effective date."""
        return self._books.list_costs()

    def cost_rate(self, device_class: str, at: datetime | None = None) -> Decimal:
        """USD per device-hour in force for ``device_class`` at ``at`` (default now)."""
        return self._books.cost_rate(device_class, at)

    def cost_span(self, device_class: str, at: datetime | None = None) -> Span:
        """The rate in force for ``device_class`` (None: no row) and the interval it stays in force."""
        return self._books.cost_span(device_class, at)

    # usage

    def record(self, event: UsageEvent) -> None:
        """Spool one event; returns once it is in the spool file (it then survives ``kill -9``)."""
        self._writable().record(event)

    def analytics(self, name: str, **filters: Any) -> Any:
        """Run ``verticals.ledger.analytics.<name>`` over this ledger.

        ``RemoteLedger`` has the same method and runs the function inside the server, so a command
        works the same whether or not ``verticals serve`` holds the ledger.
        """
        from verticals.ledger import analytics

        if name not in analytics.__all__:
            raise LedgerError(f"unknown analytics function {name!r}; known: {', '.join(analytics.__all__)}")
        return getattr(analytics, name)(self, **filters)

    def flush(self) -> None:
        """Wait until every event recorded so far is in DuckDB."""
        self._writable().flush()

    def month_spend(self, customer: str, at: datetime | None = None) -> Decimal:
        """Revenue from ``customer`` in the calendar month (UTC) holding ``at``, recorded events included.

        On a shared ledger the database's part is read every time: other replicas' events reach it
        without this process hearing of them, so a cached sum would only fall behind.
        """
        self._control.get_customer(customer)
        start = month_start(at if at is not None else self._clock())
        key = (customer, start.year, start.month)
        writer = self._writer
        if writer is None:
            return self._db_spend(customer, start)
        with writer.commit_lock:
            cached = self._spend_cache.get(key)
            if cached is None or self.shared:
                cached = self._spend_cache[key] = self._db_spend(customer, start)
            return cached + writer.unflushed_spend(customer, start)

    def _db_spend(self, customer: str, start: datetime) -> Decimal:
        with self._lock:
            row = self._conn.execute(
                "SELECT coalesce(sum(revenue_usd), 0) FROM usage_events "
                "WHERE customer = ? AND ts >= ? AND ts < ?",
                [customer, to_db(start), to_db(next_month_start(start))],
            ).fetchone()
        return Decimal(row[0])

    def _forget_spend(self, spend: SpendTally) -> None:
        # runs in the writer thread under commit_lock, right after the batch is in DuckDB
        for key in spend:
            self._spend_cache.pop(key, None)


def _postgres_sink(database_url: str | None) -> EventSink | None:
    """The sink that drains the spool into PostgreSQL at ``database_url``; None (DuckDB's) without one."""
    if database_url is None:
        return None
    from verticals.ledger.postgres.ingest import PostgresSink

    return PostgresSink(database_url)
