"""Invoices as rich tables for the terminal: what ``verticals invoices show|preview|list`` print.

Money is USD as fixed-point decimal strings (``16.33``; a unit price ``0.000002``), quantities with
thousands separators. Figures never wrap: text columns (plan, model, reason) fold instead, so a narrow
terminal still shows every digit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from verticals.billing.exports import fixed, grouped, money, trimmed
from verticals.billing.model import Invoice, InvoiceStatus, TierUsage


def when(value: datetime | None) -> str:
    """``2026-12-01 00:05`` (UTC), or empty for None."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _table(title: str, columns: Sequence[str], folding: Iterable[str] = ()) -> Any:
    """A rich Table with ``columns``: those in ``folding`` (free text: customer, model, reason) fold onto
    more lines when the terminal is narrow; every other one (figures, dates, short names) never wraps,
    figures right-aligned."""
    from rich import box
    from rich.table import Table

    text = set(folding)
    # no vertical rules: ten columns of figures fit a 100-column terminal
    table = Table(title=title, box=box.SIMPLE_HEAVY, pad_edge=False)
    for name in columns:
        if name in text:
            table.add_column(name, overflow="fold", min_width=10)
        else:
            table.add_column(name, justify="right" if name in _FIGURES else "left", no_wrap=True)
    return table


#: Columns that hold figures: right-aligned.
_FIGURES = frozenset(
    (
        "subtotal",
        "credits",
        "total",
        "monthly fee",
        "share of month",
        "amount",
        "quantity",
        "included",
        "billable",
        "cost",
        "margin",
        "units",
        "unit price",
        "flat fee",
        "grant",
    )
)


def summaries(invoices: Sequence[Invoice], title: str) -> Any:
    """One row per invoice: number, customer, month, status, total (USD), issue day (UTC), and what it
    replaces when any does (``show`` and ``--json`` give subtotal and credits too)."""
    replacing = any(invoice.replaces for invoice in invoices)
    columns = ["number", "customer", "month", "status", "total", "issued (UTC)"]
    table = _table(title, [*columns, "replaces"] if replacing else columns, ("customer",))
    for invoice in invoices:
        row = [
            invoice.number or "(draft)",
            invoice.customer,
            invoice.month,
            str(invoice.status),
            money(invoice.total_usd),
            when(invoice.issued_at)[:10],
        ]
        if replacing:
            row.append(invoice.replaces or "")
        table.add_row(*row)
    return table


def _tier_bound(tier: TierUsage, alone: bool) -> str:
    """``up to 1,000,000``, ``above`` for a last tier, nothing for a line's one price."""
    if tier.up_to is not None:
        return f"up to {grouped(tier.up_to)}"
    return "" if alone else "above"


def _fees(invoice: Invoice) -> Any:
    columns = ("plan", "from (UTC)", "to (UTC)", "monthly fee", "share of month", "amount")
    table = _table("Fees (USD)", columns)
    for fee in invoice.fees:
        share = f"{(fee.fraction * 100).quantize(Decimal('0.01'))}%"
        table.add_row(
            fee.plan,
            when(fee.period_start),
            when(fee.period_end),
            money(fee.fee_usd),
            share,
            money(fee.amount_usd),
        )
    return table


def _usage(invoice: Invoice) -> Any:
    figures = ("quantity", "included", "billable", "amount", "cost", "margin")
    columns = ("model (plan)", "unit", *figures)
    table = _table("Usage (USD; cost: compute cost; margin: amount - cost)", columns, ("model (plan)",))
    for line in invoice.usage:
        table.add_row(
            f"{line.model} ({line.plan})",
            line.unit,
            grouped(line.quantity),
            grouped(line.included),
            grouped(line.billable),
            money(line.amount_usd),
            money(line.compute_cost_usd),
            money(line.margin_usd),
        )
    return table


def _prices(invoice: Invoice) -> Any:
    """Each usage line's pricing: one row per tier used (one for per-unit and package lines)."""
    columns = ("model (plan)", "charge", "units", "unit price", "flat fee", "amount")
    table = _table("How each line was priced (USD, before rounding)", columns, ("model (plan)", "charge"))
    for line in invoice.usage:
        for tier in line.tiers:
            table.add_row(
                f"{line.model} ({line.plan})",
                f"{line.charge_model.value} {_tier_bound(tier, len(line.tiers) == 1)}",
                grouped(tier.quantity),
                fixed(tier.unit_price),
                trimmed(tier.flat_fee),
                trimmed(tier.amount),
            )
    return table


def _credits(invoice: Invoice) -> Any:
    table = _table("Credits applied to usage (USD)", ("grant", "reason", "amount"), ("reason",))
    for credit in invoice.credits:
        table.add_row(str(credit.grant_id), credit.reason, money(-credit.amount_usd))
    return table


def _totals(invoice: Invoice) -> Any:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column(justify="right")
    table.add_column(justify="right", no_wrap=True)
    table.add_row("subtotal", money(invoice.subtotal_usd))
    table.add_row("credits", money(-invoice.credits_usd))
    table.add_row(f"[bold]total ({invoice.currency})[/bold]", f"[bold]{money(invoice.total_usd)}[/bold]")
    if invoice.credit_note_usd is not None:
        table.add_row(
            f"credit note for {invoice.replaces or 'the voided invoice'} (not in the total)",
            money(-invoice.credit_note_usd),
        )
    return table


def print_invoice(invoice: Invoice) -> None:
    """Print ``invoice``: a heading, then its fees, usage lines (compute cost and margin included: this is
    the operator's view), tiers, credits and totals."""
    from rich.console import Console

    console = Console()
    title = f"Invoice {invoice.number}" if invoice.number else "Draft invoice"
    facts = [invoice.customer, invoice.month, str(invoice.status)]
    if invoice.issued_at is not None:
        facts.append(f"issued {when(invoice.issued_at)} UTC")
    if invoice.replaces:
        facts.append(f"replaces {invoice.replaces} (void)")
    console.print(f"[bold]{title}[/bold]: {', '.join(facts)}", highlight=False)
    if invoice.status is InvoiceStatus.DRAFT:
        console.print("Draft: recomputed from the ledger on every read until the month is finalized.")
    parts = [
        (invoice.fees, _fees),
        (invoice.usage, _usage),
        (any(line.tiers for line in invoice.usage), _prices),
        (invoice.credits, _credits),
    ]
    for present, table in parts:
        if present:
            console.print(table(invoice))
    console.print(_totals(invoice))
    for note in invoice.notes:
        console.print(note, highlight=False)


def print_summaries(invoices: Sequence[Invoice], title: str) -> None:
    """Print ``invoices`` as one table of ``summaries`` under ``title``, or ``no <title>`` for none."""
    if not invoices:
        from click import echo

        echo(f"no {title.lower()}")
        return
    from rich.console import Console

    Console().print(summaries(invoices, title))
