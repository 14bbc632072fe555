"""Invoices: a customer's bill for a calendar month (UTC), computed from the ledger.

- ``preview(ledger, customer, month)``: the draft, recomputed from the ledger on every call: one fee line
  per subscription segment (prorated by second, ``verticals.billing.proration``), one usage line per
  (segment, model, unit) after the segment's allowances and priced by the row in force at the segment's
  start (``verticals.billing.lines``), then credits, oldest-expiring first, on the usage charges only
  (``verticals.billing.credits``). Every line is rounded to cents half-even once; ``subtotal_usd`` is
  the sum of the fee and usage lines, ``total_usd`` the subtotal less the credit lines, with no further
  rounding.
- ``preview_all(ledger, month)``: every customer's draft that bills anything, the month's usage read
  in one scan for all of them (``Ledger.usage_totals_many``), as ``finalize_month`` does.
- ``finalize_month(ledger, month)``: once the month has ended, each customer's invoice, numbered and
  stored as a snapshot that later price, plan or allowance edits never change; customers that already
  have one for the month, and customers with nothing to bill (no usage, no fee above $0), are skipped.
- ``void_and_reissue(ledger, number)``: a correction: the invoice is voided (never edited) and a new one,
  recomputed from the ledger as it is now, is issued with ``replaces`` naming it and ``credit_note_usd``
  what it had charged.

Usage outside every subscription after the first one started (after a cancellation, say) is billed on
the plan of the subscription before it, with no fee and no allowance, and a note says so; a customer's
history starts when it is created, so nothing it used comes before. Billing reads the ledger only
through ``Ledger``'s methods (``BillingLedger``), never SQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from verticals.billing import credits as credit_rules
from verticals.billing.errors import BillingError
from verticals.billing.lines import (
    AllowanceLike,
    PriceRowLike,
    Segment,
    UsageTotalLike,
    fee_line,
    usage_lines,
)
from verticals.billing.model import FeeLine, Invoice, InvoiceStatus, UsageLine
from verticals.billing.proration import covered, month_bounds
from verticals.ledger._time import utc_now

_ZERO = Decimal(0)


class _Plan(Protocol):
    @property
    def monthly_fee_usd(self) -> Decimal: ...


class _Customer(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def plan(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class _Subscription(Protocol):
    @property
    def customer(self) -> str: ...
    @property
    def plan(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime | None: ...


class BillingLedger(Protocol):
    """The part of ``verticals.ledger.Ledger`` billing uses: its interface, so billing runs on any ledger
    engine that offers it."""

    def get_customer(self, name: str) -> _Customer: ...
    def list_customers(self) -> Sequence[_Customer]: ...
    def get_plan(self, name: str) -> _Plan: ...
    def subscriptions(self, customer: str | None = None) -> Sequence[_Subscription]: ...
    def allowances(self, plan: str | None = None) -> Sequence[AllowanceLike]: ...
    def price_row(
        self, plan: str, model: str, plugin: str, task: str | None, unit: str, at: datetime | None = None
    ) -> PriceRowLike | None: ...
    def usage_totals_many(
        self, windows: Sequence[tuple[str, datetime, datetime]]
    ) -> Sequence[Sequence[UsageTotalLike]]: ...
    def credit_grants(self, customer: str | None = None) -> Sequence[credit_rules.GrantLike]: ...
    def applied_credits(self, grant_id: int) -> Decimal: ...
    def store_invoice(self, invoice: Invoice) -> Invoice: ...
    def list_invoices(
        self, *, customer: str | None = None, status: str | None = None, month: str | None = None
    ) -> Sequence[Invoice]: ...
    def get_invoice(self, id_or_number: int | str) -> Invoice: ...
    def void_invoice(self, number: str, at: datetime | None = None) -> Invoice: ...
    def flush(self) -> None: ...


class _Reader:
    """One billing run's reads, each done once however many customers: plans, allowances, subscription
    histories and credit grants."""

    def __init__(self, ledger: BillingLedger, model_tasks: Mapping[str, str] | None) -> None:
        self.ledger = ledger
        self.model_tasks = model_tasks or {}
        self._fees: dict[str, Decimal] = {}
        self._allowances: dict[str, list[AllowanceLike]] = {}
        self._history: dict[str, list[_Subscription]] | None = None
        self._grants: dict[str, list[credit_rules.GrantLike]] | None = None

    def fee(self, plan: str) -> Decimal:
        if plan not in self._fees:
            self._fees[plan] = self.ledger.get_plan(plan).monthly_fee_usd
        return self._fees[plan]

    def allowances(self, plan: str) -> list[AllowanceLike]:
        if plan not in self._allowances:
            self._allowances[plan] = list(self.ledger.allowances(plan))
        return self._allowances[plan]

    def history(self, customer: str) -> list[_Subscription]:
        if self._history is None:
            self._history = {}
            for subscription in self.ledger.subscriptions():
                self._history.setdefault(subscription.customer, []).append(subscription)
        return sorted(self._history.get(customer, []), key=lambda s: s.starts_at)

    def grants(self, customer: str) -> list[credit_rules.GrantLike]:
        if self._grants is None:
            self._grants = {}
            for grant in self.ledger.credit_grants():
                self._grants.setdefault(grant.customer, []).append(grant)
        return self._grants.get(customer, [])

    def price_row(
        self, plan: str, model: str, plugin: str, task: str | None, unit: str, at: datetime | None = None
    ) -> PriceRowLike | None:
        # events do not record the task: the registry's mapping supplies it for task-level prices
        return self.ledger.price_row(plan, model, plugin, task or self.model_tasks.get(model), unit, at)


def segments(
    history: Sequence[_Subscription], month: str, customer: _Customer | None = None
) -> list[Segment]:
    """The plan segments of a customer with subscription ``history`` in ``month``, in time order: one per
    subscription overlapping it, and one (``subscribed`` False) per stretch of the month after the first
    subscription's start that no subscription covers. Without any history, ``customer`` counts as
    subscribed to its current plan since it was created (none: no segments)."""
    ordered = sorted(history, key=lambda s: s.starts_at)
    spans: list[tuple[str, datetime, datetime | None]] = [(s.plan, s.starts_at, s.ends_at) for s in ordered]
    if not spans:
        if customer is None:
            return []
        spans = [(customer.plan, customer.created_at, None)]
    first, last = month_bounds(month)
    out: list[Segment] = []
    cursor = max(first, spans[0][1])
    for index, (plan, start, end) in enumerate(spans):
        part = covered(start, end, month)
        if part is None:
            continue
        if part[0] > cursor:  # a stretch no subscription covers, billed on the previous plan
            out.append(Segment(spans[max(index - 1, 0)][0], cursor, part[0], month, subscribed=False))
        out.append(Segment(plan, part[0], part[1], month))
        cursor = max(cursor, part[1])
    if cursor < last:
        previous = next((plan for plan, start, _ in reversed(spans) if start < last), spans[0][0])
        out.append(Segment(previous, cursor, last, month, subscribed=False))
    return out


def _invoice(
    reader: _Reader,
    customer: str,
    month: str,
    usage_by_segment: Iterable[tuple[Segment, Sequence[UsageTotalLike]]],
    given_back: Mapping[int, Decimal] | None = None,
) -> Invoice:
    fees: list[FeeLine] = []
    usage: list[UsageLine] = []
    notes: list[str] = []
    for segment, totals in usage_by_segment:
        if segment.subscribed:
            fees.append(fee_line(segment, reader.fee(segment.plan)))
            lines = usage_lines(segment, totals, reader.allowances(segment.plan), reader.price_row)
        else:
            lines = usage_lines(segment, totals, (), reader.price_row)
            if lines:
                notes.append(
                    f"usage from {segment.start.isoformat()} to {segment.end.isoformat()} was outside any "
                    f"subscription: charged at plan {segment.plan}'s prices, with no fee and no allowance"
                )
        usage.extend(lines)
    usage_usd = sum((line.amount_usd for line in usage), _ZERO)
    _, month_end = month_bounds(month)
    credits = credit_rules.apply_credits(
        reader.grants(customer), reader.ledger.applied_credits, usage_usd, month_end, given_back
    )
    subtotal = sum((line.amount_usd for line in fees), usage_usd)
    credited = sum((line.amount_usd for line in credits), _ZERO)
    return Invoice(
        customer=customer,
        month=month,
        status=InvoiceStatus.DRAFT,
        fees=tuple(fees),
        usage=tuple(usage),
        credits=credits,
        subtotal_usd=subtotal,
        credits_usd=credited,
        total_usd=subtotal - credited,
        notes=tuple(notes),
    )


def _drafts(
    reader: _Reader,
    customers: Sequence[_Customer],
    month: str,
    given_back: Mapping[int, Decimal] | None = None,
) -> list[Invoice]:
    """The drafts of ``customers`` for ``month``, their usage read in one scan (``usage_totals_many``)."""
    planned = [(found.name, segments(reader.history(found.name), month, found)) for found in customers]
    windows = [(name, segment.start, segment.end) for name, parts in planned for segment in parts]
    totals = iter(reader.ledger.usage_totals_many(windows))
    return [
        _invoice(reader, name, month, [(segment, next(totals)) for segment in parts], given_back)
        for name, parts in planned
    ]


def preview(
    ledger: BillingLedger, customer: str, month: str, *, model_tasks: Mapping[str, str] | None = None
) -> Invoice:
    """``customer``'s invoice for ``month`` (``YYYY-MM``) as a draft, computed from the ledger now (see the
    module). ``model_tasks`` maps model names to their tasks, for prices set per task (events do not
    record it). Raises BillingError for a malformed month, LedgerError for an unknown customer."""
    month_bounds(month)
    (draft,) = _drafts(_Reader(ledger, model_tasks), [ledger.get_customer(customer)], month)
    return draft


def preview_all(
    ledger: BillingLedger, month: str, *, model_tasks: Mapping[str, str] | None = None
) -> list[Invoice]:
    """Every customer's draft for ``month`` that bills anything (usage, or a fee above $0), by customer:
    what ``finalize_month`` would issue, reading the month's usage once for all of them. Raises
    BillingError for a malformed month."""
    month_bounds(month)
    drafts = _drafts(_Reader(ledger, model_tasks), list(ledger.list_customers()), month)
    return [draft for draft in drafts if _bills_anything(draft)]


def _bills_anything(invoice: Invoice) -> bool:
    """Whether the invoice has usage or a fee above $0: a customer on a free plan that used nothing gets
    no invoice."""
    return bool(invoice.usage) or any(line.amount_usd for line in invoice.fees)


def finalize_month(
    ledger: BillingLedger,
    month: str,
    customer: str | None = None,
    *,
    now: datetime | None = None,
    model_tasks: Mapping[str, str] | None = None,
) -> list[Invoice]:
    """Finalize ``month``'s invoices, of every customer or only ``customer``: each is computed as
    ``preview`` does and stored with the next number; returns those stored, in customer order.

    ``now`` (aware UTC; None: the wall clock) decides whether the month has ended; events still in the
    ledger's spool are flushed into it first. Customers with a finalized invoice for the month already,
    and those with no usage and no fee above $0 in it (a free plan unused), are skipped. Raises
    BillingError while the month is open, or for a malformed month; LedgerError for an unknown customer.
    """
    _, end = month_bounds(month)
    if (now or utc_now()) < end:
        raise BillingError(
            f"{month} is still open (it ends {end.isoformat()}): finalize it once it has ended; "
            f"`verticals invoices preview CUSTOMER --month {month}` shows the draft meanwhile"
        )
    ledger.flush()
    done = {
        invoice.customer
        for invoice in ledger.list_invoices(month=month)
        if invoice.status is InvoiceStatus.FINALIZED
    }
    candidates = [ledger.get_customer(customer)] if customer is not None else ledger.list_customers()
    drafts = _drafts(_Reader(ledger, model_tasks), [c for c in candidates if c.name not in done], month)
    return [
        ledger.store_invoice(dataclasses.replace(draft, status=InvoiceStatus.FINALIZED))
        for draft in drafts
        if _bills_anything(draft)
    ]


def void_and_reissue(
    ledger: BillingLedger, number: str, *, model_tasks: Mapping[str, str] | None = None
) -> Invoice:
    """Correct finalized invoice ``number``: recompute its month from the ledger as it is now (the credit
    it applied counts as available again), void it, and store the new invoice with ``replaces=number`` and
    ``credit_note_usd`` its total; returns the new invoice.

    Raises BillingError when the invoice is not finalized (a void one was corrected already), LedgerError
    when there is no such invoice.
    """
    old = ledger.get_invoice(number)
    if old.status is not InvoiceStatus.FINALIZED:
        raise BillingError(
            f"invoice {number} is {old.status.value}: only a finalized invoice can be voided and reissued"
            + (" (look for the invoice that replaces it)" if old.status is InvoiceStatus.VOID else "")
        )
    given_back: dict[int, Decimal] = {}
    for line in old.credits:
        given_back[line.grant_id] = given_back.get(line.grant_id, _ZERO) + line.amount_usd
    (fresh,) = _drafts(
        _Reader(ledger, model_tasks), [ledger.get_customer(old.customer)], old.month, given_back
    )
    note = f"replaces {number} (voided); credit note for its total of ${old.total_usd}"
    reissued = dataclasses.replace(
        fresh,
        status=InvoiceStatus.FINALIZED,
        replaces=number,
        credit_note_usd=old.total_usd,
        notes=(note, *fresh.notes),
    )
    ledger.void_invoice(number)
    return ledger.store_invoice(reissued)
