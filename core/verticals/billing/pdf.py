"""The invoice as the PDF a customer receives, drawn with fpdf2 (pure Python, no system libraries).

One A4 page or more: a heading (``Invoice VRT-000001``, or ``Draft invoice`` / ``Void invoice``), the
customer and month, then tables of the subscription fees, the usage lines (each tiered line followed by
its tiers), the credits applied, and the ``Subtotal``, ``Credits`` and ``Total`` rows. Amounts print as
``$1,234.56`` (negative ``-$10.00``), exactly as the invoice holds them. Compute cost and margin are not
printed: they are the operator's figures, in the JSON and CSV exports.

The PDF uses the standard Helvetica font, which covers Latin-1: any other character (in a customer name,
say) prints as ``?`` rather than failing the export.
"""

from __future__ import annotations

from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from verticals.billing.display import grouped
from verticals.billing.model import Invoice, InvoiceStatus, TierUsage, UsageLine

_FONT = "Helvetica"
_HEADINGS = {
    InvoiceStatus.DRAFT: "Draft invoice",
    InvoiceStatus.FINALIZED: "Invoice",
    InvoiceStatus.VOID: "Void invoice",
}


def usd(value: Decimal) -> str:
    """``$1,234.56``, ``-$10.00``: at least two decimals, thousands separated, never rounded (a unit price
    of 0.000002 prints all its digits; trailing zeros beyond the cents are dropped, 2.000000 is $2.00)."""
    digits = value.normalize() if value.is_finite() else value
    exponent = digits.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        digits = digits.quantize(Decimal("0.01"))
    text = format(abs(digits), ",f")
    return f"-${text}" if value < 0 else f"${text}"


def _latin1(text: str) -> str:
    """``text`` as the core font can draw it: characters outside Latin-1 become ``?``."""
    return text.encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    """An FPDF page with the invoice's footer (page numbers and the rounding rule)."""

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(_FONT, size=7)
        self.cell(
            0,
            5,
            f"All amounts in USD. Each line is rounded to the cent once, half-even. Page {self.page_no()}",
            align="C",
        )


def _line(pdf: FPDF, text: str, *, size: float = 10, bold: bool = False, height: float = 6) -> None:
    pdf.set_font(_FONT, style="B" if bold else "", size=size)
    pdf.cell(0, height, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _heading(pdf: FPDF, invoice: Invoice) -> None:
    title = _HEADINGS.get(invoice.status, "Invoice")
    if invoice.number:
        title = f"{title} {invoice.number}"
    _line(pdf, title, size=18, bold=True, height=10)
    _line(pdf, f"Customer: {invoice.customer}")
    _line(pdf, f"Period: {invoice.month} (calendar month, UTC)")
    if invoice.issued_at is not None:
        _line(pdf, f"Issued: {invoice.issued_at.strftime('%Y-%m-%d %H:%M UTC')}")
    if invoice.status is InvoiceStatus.DRAFT:
        _line(pdf, "Draft: recomputed from usage until the month is closed and the invoice finalized.")
    if invoice.replaces:
        _line(pdf, f"Replaces invoice {invoice.replaces}, which is void.")
    pdf.ln(3)


def _section(pdf: FPDF, title: str) -> None:
    pdf.ln(2)
    _line(pdf, title, size=12, bold=True, height=8)
    pdf.set_font(_FONT, size=8)


def _fees(pdf: FPDF, invoice: Invoice) -> None:
    if not invoice.fees:
        return
    _section(pdf, "Subscription fees")
    with pdf.table(
        col_widths=(30, 70, 30, 30, 30), text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT")
    ) as table:
        table.row(("Plan", "Period (UTC)", "Monthly fee", "Share of month", "Amount"))
        for fee in invoice.fees:
            period = f"{fee.period_start:%Y-%m-%d %H:%M} to {fee.period_end:%Y-%m-%d %H:%M}"
            share = f"{(fee.fraction * 100).quantize(Decimal('0.01'))}%"
            table.row((_latin1(fee.plan), period, usd(fee.fee_usd), share, usd(fee.amount_usd)))


def _tier_text(tier: TierUsage) -> str:
    bound = f"up to {grouped(tier.up_to)}" if tier.up_to is not None else "above"
    flat = f" + {usd(tier.flat_fee)} flat" if tier.flat_fee else ""
    return f"tier {bound}: {grouped(tier.quantity)} x {usd(tier.unit_price)}{flat}"


def _shows_tiers(line: UsageLine) -> bool:
    """Tiered and package lines show their breakdown; a per-unit line's one tier says nothing more."""
    return len(line.tiers) > 1 or line.charge_model.value in ("graduated", "volume", "package")


def _usage(pdf: FPDF, invoice: Invoice) -> None:
    if not invoice.usage:
        return
    _section(pdf, "Usage")
    widths = (22, 38, 18, 24, 24, 24, 18, 22)
    align = ("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT", "RIGHT")
    with pdf.table(col_widths=widths, text_align=align) as table:
        table.row(("Plan", "Model", "Unit", "Quantity", "Included", "Billable", "Pricing", "Amount"))
        for line in invoice.usage:
            table.row(
                (
                    _latin1(line.plan),
                    _latin1(line.model),
                    _latin1(line.unit),
                    grouped(line.quantity),
                    grouped(line.included),
                    grouped(line.billable),
                    line.charge_model.value.replace("_", " "),
                    usd(line.amount_usd),
                )
            )
            if not _shows_tiers(line):
                continue
            for tier in line.tiers:
                row = table.row()
                row.cell("")
                row.cell(_tier_text(tier), colspan=6)
                row.cell(usd(tier.amount))


def _credits(pdf: FPDF, invoice: Invoice) -> None:
    if not invoice.credits:
        return
    _section(pdf, "Credits applied (to usage charges)")
    with pdf.table(col_widths=(30, 130, 30), text_align=("LEFT", "LEFT", "RIGHT")) as table:
        table.row(("Grant", "Reason", "Amount"))
        for credit in invoice.credits:
            table.row((str(credit.grant_id), _latin1(credit.reason), usd(-credit.amount_usd)))


def _totals(pdf: FPDF, invoice: Invoice) -> None:
    pdf.ln(4)
    pdf.set_font(_FONT, size=10)
    rows = [("Subtotal", invoice.subtotal_usd), ("Credits", -invoice.credits_usd)]
    for label, amount in rows:
        pdf.cell(150, 6, label, align="R")
        pdf.cell(40, 6, usd(amount), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, style="B", size=11)
    pdf.cell(150, 8, f"Total ({invoice.currency})", align="R")
    pdf.cell(40, 8, usd(invoice.total_usd), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if invoice.credit_note_usd is not None:
        pdf.set_font(_FONT, size=9)
        replaced = invoice.replaces or "the voided invoice"
        note = f"Credit note: {usd(-invoice.credit_note_usd)} cancels {replaced} (not part of this total)."
        pdf.cell(
            0,
            6,
            _latin1(note),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    for note in invoice.notes:
        pdf.set_font(_FONT, size=9)
        pdf.multi_cell(0, 5, _latin1(note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render(invoice: Invoice) -> bytes:
    """``invoice`` drawn as a PDF (see the module docstring), as the file's bytes. A finalized invoice's
    file carries its issue time as the creation date, so the same invoice gives the same bytes."""
    pdf = _Document(format="A4")
    pdf.set_title(_latin1(f"{_HEADINGS.get(invoice.status, 'Invoice')} {invoice.number or ''}".strip()))
    pdf.set_author("verticals")
    if invoice.issued_at is not None:
        pdf.set_creation_date(invoice.issued_at)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    _heading(pdf, invoice)
    _fees(pdf, invoice)
    _usage(pdf, invoice)
    _credits(pdf, invoice)
    _totals(pdf, invoice)
    return bytes(pdf.output())
