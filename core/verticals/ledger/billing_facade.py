"""The billing half of the ``Ledger`` facade: prices with charge models, allowances, subscriptions, credits,
usage totals and the invoice store.

``Ledger`` inherits these methods; each checks what it names exists, refuses writes on a read-only or
closed ledger, and delegates to its module (``books``, ``allowances``, ``subscriptions``, ``credits``,
``billing_usage``, ``invoices_store``), which holds the SQL. Errors are ``LedgerError`` naming the fix.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.billing.model import ChargeModel, Invoice, InvoiceStatus, Tier
from verticals.ledger._time import as_utc
from verticals.ledger.allowances import Allowance, Allowances
from verticals.ledger.billing_usage import UsageTotal, usage_totals, usage_totals_many
from verticals.ledger.books import Books, PriceRow, Span
from verticals.ledger.control import Control, Customer
from verticals.ledger.credits import CreditGrant, Credits
from verticals.ledger.invoices_store import InvoiceStore
from verticals.ledger.subscriptions import Subscription, Subscriptions


class BillingFacade:
    """Billing methods of ``Ledger`` (see the module); ``_init_billing`` must run in its constructor."""

    _conn: Any
    shared: bool
    _lock: threading.RLock
    _clock: Callable[[], datetime]
    _control: Control
    _books: Books

    def _writable(self) -> Any:
        raise NotImplementedError  # Ledger's: raises LedgerError on a closed or read-only ledger

    def flush(self) -> None:
        raise NotImplementedError  # Ledger's

    @property
    def read_only(self) -> bool:
        raise NotImplementedError  # Ledger's

    def _init_billing(self) -> None:
        self._allowances = Allowances(self._conn, self._lock, self._clock)
        self._subscriptions = Subscriptions(self._conn, self._lock, self._clock, shared=self.shared)
        self._credits = Credits(self._conn, self._lock, self._clock)
        self._invoices = InvoiceStore(self._conn, self._lock, self._clock)

    def _now(self) -> datetime:
        return as_utc(self._clock())

    # prices

    def set_price(
        self,
        plan: str,
        unit: str,
        price_per_unit_usd: Decimal | str | int,
        *,
        model: str | None = None,
        plugin: str | None = None,
        task: str | None = None,
        effective_from: datetime | None = None,
        note: str = "",
        charge_model: ChargeModel | str = ChargeModel.PER_UNIT,
        package_size: Decimal | str | int | None = None,
        tiers: Sequence[Tier] | None = None,
    ) -> PriceRow:
        """Append a price of ``price_per_unit_usd`` (USD, Decimal/str/int, up to 12 places) for ``plan``,
        optionally narrowed to ``model`` or ``plugin``/``task``, from ``effective_from`` (UTC; None: now) on,
        charged by ``charge_model``; returns the new row.

        ``package``: ``price_per_unit_usd`` is the price of one package of ``package_size`` units.
        ``graduated`` / ``volume``: ``tiers`` carry the prices, ``price_per_unit_usd`` is the first tier's.
        (Examples in ``verticals.ledger.price_models``.) Raises LedgerError when the ledger is closed or
        read-only, the plan is unknown, or the books refuse the row (see ``Books.set_price``).
        """
        self._writable()
        self._control.get_plan(plan)
        return self._books.set_price(
            plan,
            unit,
            price_per_unit_usd,
            model=model,
            plugin=plugin,
            task=task,
            effective_from=effective_from,
            note=note,
            charge_model=charge_model,
            package_size=package_size,
            tiers=tiers,
        )

    def price_row(
        self, plan: str, model: str, plugin: str, task: str | None, unit: str, at: datetime | None = None
    ) -> PriceRow | None:
        """The price row in force for ``plan`` at ``at`` (UTC; None: now), by the precedence of
        ``price_per_unit`` (model, plugin+task, plugin, task); None: the model's list price applies."""
        return self._books.price_row(plan, model, plugin, task, unit, at)  # type: ignore[arg-type]

    def plan_at(self, customer: str, at: datetime | None = None) -> str:
        """The plan ``customer`` is on at ``at`` (UTC; None: now): its subscription in force then, else
        (before its history, or after a cancellation) ``customers.plan``. LedgerError for an unknown
        customer."""
        current = self._control.get_customer(customer).plan
        when = as_utc(at) if at is not None else self._now()
        return self._subscriptions.plan_at(customer, when) or current

    def price_per_unit(
        self, customer: str, model: str, plugin: str, task: str, unit: str, at: datetime | None = None
    ) -> Decimal | None:
        """USD per unit in force for the plan the customer is on at ``at`` (see ``plan_at``), or None: then
        the model's own list price applies. A package price counts as its price over its size."""
        return self._books.price_for_plan(self.plan_at(customer, at), model, plugin, task, unit, at)

    def price_span(
        self, customer: str, model: str, plugin: str, task: str, unit: str, at: datetime | None = None
    ) -> Span:
        """``price_per_unit`` and the interval ``[since, until)`` it stays in force (see ``Span``): it ends at
        the next price change or the next change of the customer's subscription, whichever is first."""
        when = as_utc(at) if at is not None else self._now()
        span = self._books.price_span(self.plan_at(customer, when), model, plugin, task, unit, when)
        change = self._subscriptions.next_change(customer, when)
        if change is not None and (span.until is None or change < span.until):
            span = dataclasses.replace(span, until=change)
        return span

    # allowances

    def set_allowance(
        self, plan: str, unit: str, quantity: Decimal | str | int, *, model: str | None = None
    ) -> Allowance:
        """Include ``quantity`` (0 or more) ``unit`` a month in ``plan``'s fee, for ``model`` (a model name,
        a ``plugin/*`` pattern, or None: every model in the unit), replacing that row if set; returns it.
        Raises LedgerError when the ledger is closed or read-only, the plan is unknown, or the input is
        bad."""
        self._writable()
        self._control.get_plan(plan)
        return self._allowances.set(plan, unit, quantity, model)

    def allowances(self, plan: str | None = None) -> list[Allowance]:
        """Every allowance, or only ``plan``'s (LedgerError for an unknown plan), by plan, unit and target."""
        if plan is not None:
            self._control.get_plan(plan)
        return self._allowances.list(plan)

    # subscriptions

    def set_subscription(self, customer: str, plan: str, starts_at: datetime | None = None) -> Subscription:
        """Move ``customer`` to ``plan`` from ``starts_at`` (UTC; None: now; past or future), ending the
        previous subscription there; ``customers.plan`` follows when the change has started. Returns the new
        subscription. Raises LedgerError when the ledger is closed or read-only, the customer or plan is
        unknown, or the date is not after the latest subscription's start."""
        self._writable()
        self._control.get_customer(customer)
        self._control.get_plan(plan)
        subscription = self._subscriptions.start(customer, plan, starts_at)
        self._sync_plan(customer)
        return subscription

    def cancel_subscription(self, customer: str, at: datetime | None = None) -> Subscription:
        """End ``customer``'s open subscription at ``at`` (UTC; None: now): its fee stops there. Returns it.
        Raises LedgerError when the ledger is closed or read-only, or as ``Subscriptions.cancel`` does."""
        self._writable()
        self._control.get_customer(customer)
        return self._subscriptions.cancel(customer, at)

    def subscriptions(self, customer: str | None = None) -> list[Subscription]:
        """Every subscription, or only ``customer``'s (LedgerError for an unknown one), by customer and
        start."""
        if customer is not None:
            self._control.get_customer(customer)
        return self._subscriptions.list(customer)

    def _start_history(self, customer: Customer) -> None:
        """Give a new customer its first subscription, from its ``created_at``."""
        self._subscriptions.start(customer.name, customer.plan, customer.created_at)

    def _sync_plan(self, customer: str) -> None:
        """Set ``customers.plan`` to the plan in force now, when a subscription is."""
        plan = self._subscriptions.plan_at(customer, self._now())
        if plan is not None and plan != self._control.get_customer(customer).plan:
            self._control.update_customer(customer, plan=plan)

    # credits

    def grant_credit(
        self,
        customer: str,
        amount_usd: Decimal | str | int,
        *,
        reason: str = "",
        expires_at: datetime | None = None,
        granted_at: datetime | None = None,
    ) -> CreditGrant:
        """Grant ``customer`` ``amount_usd`` (USD above 0) of credit from ``granted_at`` (None: now) until
        ``expires_at`` (None: no expiry), for ``reason``; returns the grant. Raises LedgerError when the
        ledger is closed or read-only, the customer is unknown, or the amount or dates are bad."""
        self._writable()
        self._control.get_customer(customer)
        return self._credits.grant(
            customer, amount_usd, reason=reason, expires_at=expires_at, granted_at=granted_at
        )

    def credit_grants(self, customer: str | None = None) -> list[CreditGrant]:
        """Every credit grant, or only ``customer``'s (LedgerError for an unknown one), by customer and
        time."""
        if customer is not None:
            self._control.get_customer(customer)
        return self._credits.list(customer)

    def credit_balance(self, customer: str, at: datetime | None = None) -> Decimal:
        """USD of credit ``customer`` still has at ``at`` (UTC; None: now): grants usable then, less what
        finalized, non-void invoices applied. LedgerError for an unknown customer."""
        self._control.get_customer(customer)
        return self._credits.balance(customer, at if at is not None else self._now())

    def applied_credits(self, grant_id: int) -> Decimal:
        """USD applied from credit grant ``grant_id`` by finalized, non-void invoices."""
        return self._credits.applied(grant_id)

    # usage

    def usage_totals(self, customer: str, since: datetime, until: datetime) -> list[UsageTotal]:
        """``customer``'s billed usage in ``[since, until)`` (UTC) per (model, plugin, task, unit): billed
        units, compute cost and requests (see ``billing_usage``); events recorded so far are included.
        LedgerError for an unknown customer."""
        self._control.get_customer(customer)
        if not self.read_only:
            self.flush()
        with self._lock:
            return usage_totals(self._conn, customer, since, until)

    def usage_totals_many(self, windows: Sequence[tuple[str, datetime, datetime]]) -> list[list[UsageTotal]]:
        """``usage_totals`` of each (customer, since, until) window, in order, in one scan of the period they
        span (billing every customer's month at once; see ``billing_usage.usage_totals_many``). An unknown
        customer's window is empty."""
        if not self.read_only:
            self.flush()
        with self._lock:
            return usage_totals_many(self._conn, windows)

    # invoices

    def store_invoice(self, invoice: Invoice) -> Invoice:
        """Finalize ``invoice``: the next sequential number (``VRT-000001``), ``issued_at`` now, its JSON
        snapshot stored and never edited; returns it as stored. Raises LedgerError when the ledger is closed
        or read-only, the customer is unknown, or as ``InvoiceStore.store`` does."""
        self._writable()
        self._control.get_customer(invoice.customer)
        return self._invoices.store(invoice)

    def list_invoices(
        self,
        *,
        customer: str | None = None,
        status: InvoiceStatus | str | None = None,
        month: str | None = None,
    ) -> list[Invoice]:
        """Stored invoices by number, filtered by customer, status (finalized, void) and month (YYYY-MM)."""
        if customer is not None:
            self._control.get_customer(customer)
        return self._invoices.list(customer=customer, status=status, month=month)

    def get_invoice(self, id_or_number: int | str) -> Invoice:
        """The stored invoice with this id or number, as issued (status void once voided); LedgerError when
        there is none."""
        return self._invoices.get(id_or_number)

    def invoice_snapshot(self, id_or_number: int | str) -> str:
        """The JSON an invoice was stored with, byte for byte (``invoice_json.loads`` reads it)."""
        return self._invoices.snapshot(id_or_number)

    def void_invoice(self, number: str, at: datetime | None = None) -> Invoice:
        """Void invoice ``number`` at ``at`` (None: now); it stays stored as issued, its credit is given back.
        Raises LedgerError when the ledger is closed or read-only, there is no such invoice, or it is void."""
        self._writable()
        return self._invoices.void(number, at)
