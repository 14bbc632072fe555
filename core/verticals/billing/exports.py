"""An invoice as JSON, CSV or PDF, and back from JSON.

- ``to_json(invoice) -> str``: the whole invoice (every line, its tiers, compute cost and margin), money
  and quantities as fixed-point decimal strings (``"49.00"``, ``"0.000002"``, never ``2E-6`` or a float),
  times in ISO 8601. ``from_json`` / ``from_dict`` read it back into an equal ``Invoice``; the admin API
  sends invoices in this shape, so the client rebuilds them with ``from_dict``.
- ``to_csv(invoice) -> str``: one row per line (``fee``, ``usage``, ``credit``) then the ``subtotal``,
  ``credits`` and ``total`` rows (and ``credit_note`` for a correction), for spreadsheets. Credits are
  negative there, so the ``fee``, ``usage`` and ``credit`` rows' amounts add up to the ``total`` row.
- ``to_pdf(invoice, path)``: the document sent to the customer (``verticals.billing.pdf``); it leaves
  out compute cost and margin, which are the operator's business.

Amounts on an invoice line are already rounded to cents (half-even, once per line, by the engine); the
exports print them as they are and never round again.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from verticals.billing.display import grouped
from verticals.billing.model import (
    ChargeModel,
    CreditLine,
    FeeLine,
    Invoice,
    InvoiceStatus,
    TierUsage,
    UsageLine,
)
from verticals.money import decimal_text

__all__ = [
    "CSV_COLUMNS",
    "fixed",
    "from_dict",
    "from_json",
    "grouped",
    "money",
    "pdf_bytes",
    "to_csv",
    "to_dict",
    "to_json",
    "to_pdf",
    "trimmed",
]

#: The columns of ``to_csv``, in order.
CSV_COLUMNS = (
    "invoice",
    "customer",
    "month",
    "status",
    "line",
    "plan",
    "model",
    "unit",
    "period_start",
    "period_end",
    "quantity",
    "included",
    "billable",
    "charge_model",
    "tiers",
    "description",
    "amount_usd",
    "compute_cost_usd",
    "margin_usd",
)


def fixed(value: Decimal) -> str:
    """``value`` in fixed-point notation, exactly (``Decimal("2E-6")`` -> ``"0.000002"``; ``1.5E+6`` ->
    ``"1500000"``): ``money.decimal_text``, the one way money becomes JSON text."""
    return decimal_text(value)


def money(value: Decimal) -> str:
    """A USD amount in fixed-point notation with at least two decimals (``49`` -> ``"49.00"``; a unit price
    of ``0.000002`` keeps its digits). Never rounds."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # NaN or infinity: say so rather than invent digits
        return str(value)
    return fixed(value.quantize(Decimal("0.01")) if exponent > -2 else value)


def trimmed(value: Decimal) -> str:
    """An amount for reading: trailing zeros past the cents dropped, at least two decimals, never rounded
    (``2.000000`` -> ``"2.00"``, ``0.1733`` -> ``"0.1733"``). Display only."""
    return money(value.normalize() if value.is_finite() else value)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _tier_dict(tier: TierUsage) -> dict[str, Any]:
    return {
        "up_to": None if tier.up_to is None else fixed(tier.up_to),
        "quantity": fixed(tier.quantity),
        "unit_price": money(tier.unit_price),
        "flat_fee": money(tier.flat_fee),
        "amount": money(tier.amount),
    }


def _fee_dict(line: FeeLine) -> dict[str, Any]:
    return {
        "plan": line.plan,
        "period_start": _time(line.period_start),
        "period_end": _time(line.period_end),
        "fee_usd": money(line.fee_usd),
        "fraction": fixed(line.fraction),
        "amount_usd": money(line.amount_usd),
    }


def _usage_dict(line: UsageLine) -> dict[str, Any]:
    return {
        "plan": line.plan,
        "model": line.model,
        "unit": line.unit,
        "period_start": _time(line.period_start),
        "period_end": _time(line.period_end),
        "quantity": fixed(line.quantity),
        "included": fixed(line.included),
        "billable": fixed(line.billable),
        "charge_model": str(line.charge_model),
        "tiers": [_tier_dict(tier) for tier in line.tiers],
        "amount_usd": money(line.amount_usd),
        "compute_cost_usd": money(line.compute_cost_usd),
        "margin_usd": money(line.margin_usd),  # derived; from_dict recomputes it
    }


def _credit_dict(line: CreditLine) -> dict[str, Any]:
    return {"grant_id": line.grant_id, "reason": line.reason, "amount_usd": money(line.amount_usd)}


def to_dict(invoice: Invoice) -> dict[str, Any]:
    """``invoice`` as JSON-ready data: the Invoice's fields by name (lines as lists of dicts, each usage line
    with its ``tiers`` and a derived ``margin_usd``), Decimals as fixed-point strings, times ISO 8601."""
    return {
        "id": invoice.id,
        "number": invoice.number,
        "customer": invoice.customer,
        "month": invoice.month,
        "status": str(invoice.status),
        "currency": invoice.currency,
        "issued_at": _time(invoice.issued_at),
        "replaces": invoice.replaces,
        "credit_note_usd": None if invoice.credit_note_usd is None else money(invoice.credit_note_usd),
        "fees": [_fee_dict(line) for line in invoice.fees],
        "usage": [_usage_dict(line) for line in invoice.usage],
        "credits": [_credit_dict(line) for line in invoice.credits],
        "subtotal_usd": money(invoice.subtotal_usd),
        "credits_usd": money(invoice.credits_usd),
        "total_usd": money(invoice.total_usd),
        "notes": list(invoice.notes),
    }


def to_json(invoice: Invoice) -> str:
    """``to_dict(invoice)`` as indented JSON text (keys in the Invoice's field order)."""
    return json.dumps(to_dict(invoice), indent=2)


# reading back


def _decimal(data: Mapping[str, Any], key: str) -> Decimal:
    try:
        return Decimal(str(data[key]))
    except KeyError:
        raise ValueError(f"invoice JSON lacks {key!r}") from None
    except InvalidOperation:
        raise ValueError(f"invoice JSON: {key}={data[key]!r} is not a decimal number") from None


def _optional_decimal(data: Mapping[str, Any], key: str) -> Decimal | None:
    return None if data.get(key) is None else _decimal(data, key)


def _datetime(data: Mapping[str, Any], key: str) -> datetime:
    try:
        return datetime.fromisoformat(str(data[key]))
    except KeyError:
        raise ValueError(f"invoice JSON lacks {key!r}") from None
    except ValueError:
        raise ValueError(f"invoice JSON: {key}={data[key]!r} is not an ISO 8601 time") from None


def _tier(data: Mapping[str, Any]) -> TierUsage:
    return TierUsage(
        up_to=_optional_decimal(data, "up_to"),
        quantity=_decimal(data, "quantity"),
        unit_price=_decimal(data, "unit_price"),
        flat_fee=_decimal(data, "flat_fee"),
        amount=_decimal(data, "amount"),
    )


def _fee(data: Mapping[str, Any]) -> FeeLine:
    return FeeLine(
        plan=str(data["plan"]),
        period_start=_datetime(data, "period_start"),
        period_end=_datetime(data, "period_end"),
        fee_usd=_decimal(data, "fee_usd"),
        fraction=_decimal(data, "fraction"),
        amount_usd=_decimal(data, "amount_usd"),
    )


def _usage(data: Mapping[str, Any]) -> UsageLine:
    return UsageLine(
        plan=str(data["plan"]),
        model=str(data["model"]),
        unit=str(data["unit"]),
        period_start=_datetime(data, "period_start"),
        period_end=_datetime(data, "period_end"),
        quantity=_decimal(data, "quantity"),
        included=_decimal(data, "included"),
        billable=_decimal(data, "billable"),
        charge_model=ChargeModel(data["charge_model"]),
        tiers=tuple(_tier(tier) for tier in data.get("tiers", ())),
        amount_usd=_decimal(data, "amount_usd"),
        compute_cost_usd=_optional_decimal(data, "compute_cost_usd") or Decimal(0),
    )


def _credit(data: Mapping[str, Any]) -> CreditLine:
    return CreditLine(
        grant_id=int(data["grant_id"]),
        reason=str(data.get("reason", "")),
        amount_usd=_decimal(data, "amount_usd"),
    )


def from_dict(data: Mapping[str, Any]) -> Invoice:
    """The Invoice ``to_dict`` made (``margin_usd`` is ignored: it is derived). Raises ValueError naming the
    field that is missing or malformed."""
    try:
        return Invoice(
            customer=str(data["customer"]),
            month=str(data["month"]),
            status=InvoiceStatus(data["status"]),
            fees=tuple(_fee(line) for line in data.get("fees", ())),
            usage=tuple(_usage(line) for line in data.get("usage", ())),
            credits=tuple(_credit(line) for line in data.get("credits", ())),
            subtotal_usd=_decimal(data, "subtotal_usd"),
            credits_usd=_decimal(data, "credits_usd"),
            total_usd=_decimal(data, "total_usd"),
            currency=str(data.get("currency", "USD")),
            id=None if data.get("id") is None else int(data["id"]),
            number=data.get("number"),
            issued_at=None if data.get("issued_at") is None else _datetime(data, "issued_at"),
            replaces=data.get("replaces"),
            credit_note_usd=_optional_decimal(data, "credit_note_usd"),
            notes=tuple(str(note) for note in data.get("notes", ())),
        )
    except KeyError as missing:
        raise ValueError(f"invoice JSON lacks {missing.args[0]!r}") from None


def from_json(text: str) -> Invoice:
    """The Invoice ``to_json`` wrote. Raises ValueError for text that is not such JSON."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not invoice JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("not invoice JSON: expected an object")
    return from_dict(data)


# CSV


def _tiers_text(tiers: tuple[TierUsage, ...]) -> str:
    """``"1000000 up to 1000000 at 0.000002 = 2.00; 500000 above at 0.000001 = 0.50"``."""
    parts = []
    for tier in tiers:
        bound = f"up to {fixed(tier.up_to)}" if tier.up_to is not None else "above"
        flat = f" + {money(tier.flat_fee)} flat" if tier.flat_fee else ""
        parts.append(
            f"{fixed(tier.quantity)} {bound} at {money(tier.unit_price)}{flat} = {money(tier.amount)}"
        )
    return "; ".join(parts)


def _summary_row(head: dict[str, str], line: str, amount: Decimal, description: str = "") -> dict[str, str]:
    return {**head, "line": line, "description": description, "amount_usd": money(amount)}


def to_csv(invoice: Invoice) -> str:
    """``invoice`` as CSV text with a header row (``CSV_COLUMNS``): one row per fee, usage and credit line
    (credits negative), then ``subtotal``, ``credits`` (negative) and ``total`` rows, and a ``credit_note``
    row (negative; not part of the total) when the invoice replaces a voided one. Empty cells for what a
    row does not have; money as fixed-point strings."""
    head = {
        "invoice": invoice.number or "",
        "customer": invoice.customer,
        "month": invoice.month,
        "status": str(invoice.status),
    }
    rows: list[dict[str, str]] = []
    for fee in invoice.fees:
        rows.append(
            {
                **head,
                "line": "fee",
                "plan": fee.plan,
                "unit": "month",
                "period_start": fee.period_start.isoformat(),
                "period_end": fee.period_end.isoformat(),
                "quantity": fixed(fee.fraction),
                "billable": fixed(fee.fraction),
                "description": f"{fee.plan} monthly fee {money(fee.fee_usd)} x {fixed(fee.fraction)}",
                "amount_usd": money(fee.amount_usd),
            }
        )
    for usage in invoice.usage:
        rows.append(
            {
                **head,
                "line": "usage",
                "plan": usage.plan,
                "model": usage.model,
                "unit": usage.unit,
                "period_start": usage.period_start.isoformat(),
                "period_end": usage.period_end.isoformat(),
                "quantity": fixed(usage.quantity),
                "included": fixed(usage.included),
                "billable": fixed(usage.billable),
                "charge_model": str(usage.charge_model),
                "tiers": _tiers_text(usage.tiers),
                "amount_usd": money(usage.amount_usd),
                "compute_cost_usd": money(usage.compute_cost_usd),
                "margin_usd": money(usage.margin_usd),
            }
        )
    for credit in invoice.credits:
        rows.append(
            {
                **head,
                "line": "credit",
                "description": f"credit grant {credit.grant_id}: {credit.reason}".rstrip(": "),
                "amount_usd": money(-credit.amount_usd),
            }
        )
    rows.append(_summary_row(head, "subtotal", invoice.subtotal_usd))
    rows.append(_summary_row(head, "credits", -invoice.credits_usd))
    rows.append(_summary_row(head, "total", invoice.total_usd))
    if invoice.credit_note_usd is not None:
        rows.append(
            _summary_row(
                head,
                "credit_note",
                -invoice.credit_note_usd,
                f"cancels {invoice.replaces or 'the voided invoice'}; not part of this total",
            )
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def pdf_bytes(invoice: Invoice) -> bytes:
    """``invoice`` as a PDF file's bytes: the customer's document, with its lines, tiers, credits and
    totals and no compute cost or margin (``verticals.billing.pdf``)."""
    from verticals.billing.pdf import render  # fpdf2 is imported only when a PDF is asked for

    return render(invoice)


def to_pdf(invoice: Invoice, path: str | Path) -> Path:
    """Write ``pdf_bytes(invoice)`` to ``path`` (its folder must exist); returns the path. Raises OSError
    when the file cannot be written."""
    target = Path(path)
    target.write_bytes(pdf_bytes(invoice))
    return target
