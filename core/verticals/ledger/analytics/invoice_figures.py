"""Invoices for the dashboard's Billing page: the month's invoices (drafts included) with their compute cost
and margin, counts by status, one invoice's lines with each line's compute cost and margin, and the
invoice itself for downloads.

An invoice is named by ``number`` (a finalized or void one, ``VRT-000001``) or by ``customer`` and
``month`` (its finalized invoice, else its draft recomputed now). Money is exact Decimal USD.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger.analytics._allocation import allocate
from verticals.ledger.analytics._billed import ZERO, billing_ledger, invoices_in
from verticals.ledger.analytics._query import NANO, connection_of, end_of, ratio
from verticals.ledger.errors import LedgerError


def _find(source: Any, number: str | None, customer: str | None, month: str | None) -> Any:
    from verticals.billing.proration import month_bounds

    ledger = billing_ledger(source)
    if number is not None:
        return ledger.get_invoice(number)
    if customer is None or month is None:
        raise LedgerError("name the invoice: its number, or a customer and a month (YYYY-MM)")
    start, end = month_bounds(month)
    found = [i for i in invoices_in(source, start, end, customer) if i.month == month]
    if not found:
        raise LedgerError(f"{customer} has no invoice for {month}: nothing to bill that month")
    return found[0]


def _cost(invoice: Any) -> Decimal:
    return sum((line.compute_cost_usd for line in invoice.usage), ZERO)


def invoice_summaries(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
) -> list[dict[str, Any]]:
    """Every invoice of the months ``[since, until)`` touches: the finalized and void ones stored, and a
    draft for each customer with something to bill and no finalized invoice yet (the month in progress
    always). Rows by month, then customer: ``number`` (None for a draft), ``customer``, ``month``,
    ``status``, ``fee_usd``, ``usage_usd``, ``credits_usd``, ``total_usd``, ``compute_cost_usd`` (what
    its usage lines' requests cost in compute, idle not included), ``margin_usd`` (total - compute cost),
    ``issued_at`` and ``replaces``."""
    from verticals.billing.model import InvoiceStatus

    ledger = billing_ledger(source)
    billed = invoices_in(source, since, until, customer)
    voided = [
        invoice
        for month in sorted({i.month for i in billed})
        for invoice in ledger.list_invoices(month=month, status=InvoiceStatus.VOID, customer=customer)
    ]
    out = []
    for invoice in sorted([*billed, *voided], key=lambda i: (i.month, i.customer, i.number or "~")):
        cost = _cost(invoice)
        out.append(
            {
                "number": invoice.number,
                "customer": invoice.customer,
                "month": invoice.month,
                "status": invoice.status.value,
                "fee_usd": sum((f.amount_usd for f in invoice.fees), ZERO),
                "usage_usd": sum((u.amount_usd for u in invoice.usage), ZERO),
                "credits_usd": invoice.credits_usd,
                "total_usd": invoice.total_usd,
                "compute_cost_usd": cost,
                "margin_usd": invoice.total_usd - cost,
                "issued_at": invoice.issued_at,
                "replaces": invoice.replaces,
            }
        )
    return out


def invoices_by_status(
    source: Any, *, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Invoices of the months ``[since, until)`` touches (``invoice_summaries``) per status (draft,
    finalized, void): ``status``, ``invoices`` (count), ``total_usd`` (their totals' sum)."""
    counts: dict[str, list[Any]] = {}
    for row in invoice_summaries(source, since=since, until=until):
        entry = counts.setdefault(row["status"], [0, ZERO])
        entry[0] += 1
        entry[1] += row["total_usd"]
    order = ["draft", "finalized", "void"]
    return [
        {"status": status, "invoices": counts[status][0], "total_usd": counts[status][1]}
        for status in order
        if status in counts
    ]


def invoice_lines(
    source: Any, *, number: str | None = None, customer: str | None = None, month: str | None = None
) -> list[dict[str, Any]]:
    """One invoice's lines, each with its compute cost and margin: fee lines (no compute: cost 0), usage
    lines, credit lines (negative amounts).

    A usage line's ``request_cost_usd`` is what its requests cost in compute (``UsageLine.compute_cost_usd``,
    their measured seconds at the cost book's rates); its ``idle_cost_usd`` is its share of the idle
    compute its customer's requests of that model were charged in the month (``usage_summary``'s rule),
    shared among the customer's lines of that model by request cost; ``cost_usd`` is their sum and
    ``margin_usd`` = ``amount_usd - cost_usd`` (a gross margin, idle included), ``margin_ratio`` its
    fraction of the amount. Rows: ``kind``, ``plan``, ``model``, ``unit``, ``period_start``,
    ``period_end``, ``quantity``, ``included``, ``billable``, ``charge_model``, ``amount_usd``,
    ``request_cost_usd``, ``idle_cost_usd``, ``cost_usd``, ``margin_usd``, ``margin_ratio``, ``description``.
    LedgerError when there is no such invoice."""
    from verticals.billing.proration import month_bounds

    invoice = _find(source, number, customer, month)
    start, end = month_bounds(invoice.month)
    spent = allocate(
        connection_of(source),
        ["customer", "model"],
        since=start,
        until=end,
        end=end_of(source, end),
        customer=invoice.customer,
    ).groups
    carried: dict[str, Decimal] = {}
    for line in invoice.usage:
        carried[line.model] = carried.get(line.model, ZERO) + line.compute_cost_usd
    rows: list[dict[str, Any]] = []
    for fee in invoice.fees:
        rows.append(
            _row(
                "fee",
                fee.plan,
                None,
                None,
                fee.period_start,
                fee.period_end,
                fee.amount_usd,
                ZERO,
                ZERO,
                description=f"{fee.plan} monthly fee ${fee.fee_usd:,.2f} x {fee.fraction:.4f} of the month",
            )
        )
    for line in invoice.usage:
        spend = spent.get((invoice.customer, line.model))
        idle = ZERO
        if spend is not None and carried[line.model]:
            idle = (spend.idle_cost * line.compute_cost_usd / carried[line.model]).quantize(NANO)
        elif spend is not None:
            idle = (spend.idle_cost / sum(1 for u in invoice.usage if u.model == line.model)).quantize(NANO)
        row = _row(
            "usage",
            line.plan,
            line.model,
            line.unit,
            line.period_start,
            line.period_end,
            line.amount_usd,
            line.compute_cost_usd,
            idle,
            description=f"{line.model}: {line.billable.normalize():,f} of "
            f"{line.quantity.normalize():,f} {line.unit} billable",
        )
        row.update(
            quantity=line.quantity,
            included=line.included,
            billable=line.billable,
            charge_model=line.charge_model.value,
        )
        rows.append(row)
    for credit in invoice.credits:
        rows.append(
            _row(
                "credit",
                None,
                None,
                None,
                None,
                None,
                -credit.amount_usd,
                ZERO,
                ZERO,
                description=f"credit grant {credit.grant_id}: {credit.reason}",
            )
        )
    return rows


def _row(
    kind: str,
    plan: str | None,
    model: str | None,
    unit: str | None,
    start: datetime | None,
    end: datetime | None,
    amount: Decimal,
    request_cost: Decimal,
    idle: Decimal,
    *,
    description: str,
) -> dict[str, Any]:
    cost = request_cost + idle
    return {
        "kind": kind,
        "plan": plan,
        "model": model,
        "unit": unit,
        "period_start": start,
        "period_end": end,
        "quantity": None,
        "included": None,
        "billable": None,
        "charge_model": None,
        "amount_usd": amount,
        "request_cost_usd": request_cost,
        "idle_cost_usd": idle,
        "cost_usd": cost,
        "margin_usd": amount - cost,
        "margin_ratio": ratio(amount - cost, amount),
        "description": description,
    }


def invoice_document(
    source: Any, *, number: str | None = None, customer: str | None = None, month: str | None = None
) -> dict[str, Any]:
    """One invoice as ``verticals.billing.exports.to_dict`` writes it (money as fixed-point strings):
    ``exports.from_dict`` reads it back for the JSON, CSV and PDF downloads. LedgerError when there is no
    such invoice."""
    from verticals.billing.exports import to_dict

    return to_dict(_find(source, number, customer, month))
