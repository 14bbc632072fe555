"""The admin API's invoices, ``/admin/invoices...``: what ``verticals invoices`` does, over HTTP.

- ``GET /admin/invoices?customer=&status=&month=``: stored invoices (finalized and void), by number.
- ``GET /admin/invoices/preview?customer=&month=``: a customer's draft, recomputed now (month: the
  current one, UTC, when not given).
- ``POST /admin/invoices/finalize`` ``{"month": "2026-11", "customer": null}``: finalize a closed
  month; answers the invoices issued (customers already invoiced are skipped).
- ``GET /admin/invoices/{id_or_number}``, ``.../csv``, ``.../pdf``: one invoice as JSON, CSV or PDF.
- ``POST /admin/invoices/{number}/void`` ``{"reissue": true}``: void it and answer its correction
  (with ``replaces`` and ``credit_note_usd``), or with ``reissue: false`` the voided invoice alone.

Invoices travel in ``verticals.billing.exports.to_dict``'s shape (money as fixed-point decimal strings).
A refusal (an open or malformed month, an unknown customer, status or invoice, an invoice void already)
is a 400 ``ledger_error`` naming the problem and the fix; an unknown invoice in a ``GET`` is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from verticals.billing.desk import LocalInvoices, model_tasks
from verticals.billing.exports import pdf_bytes, to_csv, to_dict
from verticals.billing.model import Invoice
from verticals.serving.admin.access import AdminGateway, json_response
from verticals.serving.errors import APIError
from verticals.serving.gateway import Gateway

router = APIRouter(prefix="/invoices")  # included by the admin router: its prefix and the admin check

T = TypeVar("T")


class FinalizeIn(BaseModel):
    """Body of ``POST /admin/invoices/finalize``: the closed ``month`` (``YYYY-MM``) and optionally one
    ``customer`` (None: every customer)."""

    month: str = Field(min_length=1, max_length=20, examples=["2026-11"])
    customer: str | None = Field(None, min_length=1, max_length=200)


class VoidIn(BaseModel):
    """Body of ``POST /admin/invoices/{number}/void``: ``reissue`` (default true) issues the correction."""

    reissue: bool = True


def _desk(gw: Gateway) -> LocalInvoices:
    return LocalInvoices(gw.ledger, lambda: model_tasks(gw.registry))  # type: ignore[arg-type]


def _refusals(call: Callable[[], T], *, missing: int = 400) -> T:
    """``call()``, with a LedgerError (BillingError included) or ValueError as an APIError: ``missing``
    (400, or 404 for a read of one invoice) with code ``ledger_error`` / ``not_found``."""
    from verticals.ledger import LedgerError

    try:
        return call()
    except (LedgerError, ValueError) as error:
        raise APIError(missing, str(error), code="not_found" if missing == 404 else "ledger_error") from None


def _invoice(gw: Gateway, id_or_number: str) -> Invoice:
    return _refusals(lambda: _desk(gw).get(id_or_number), missing=404)


def _file_name(invoice: Invoice, suffix: str) -> str:
    return f"{invoice.number or f'{invoice.customer}-{invoice.month}-draft'}.{suffix}"


@router.get("")
async def list_invoices(
    gw: AdminGateway, customer: str | None = None, status: str | None = None, month: str | None = None
) -> Response:
    """``GET /admin/invoices``: stored invoices by number, each in ``to_dict``'s shape, filtered by
    ``customer``, ``status`` (finalized|void) and ``month`` (YYYY-MM). Admin token only (401 without or
    with a wrong one, 403 for a customer key); a bad status or month is a 400 naming the right form.
    """
    invoices = _refusals(lambda: _desk(gw).list(customer=customer, status=status, month=month))
    return json_response([to_dict(invoice) for invoice in invoices])


@router.get("/preview")
async def preview_invoice(gw: AdminGateway, customer: str, month: str | None = None) -> Response:
    """``GET /admin/invoices/preview?customer=acme&month=2026-11``: the customer's draft for the month
    (default the current one, UTC), recomputed from the ledger now, never stored. Admin token only (401
    without or with a wrong one, 403 for a customer key); an unknown customer or malformed month is a
    400 naming the fix.
    """
    wanted = month or datetime.now(UTC).strftime("%Y-%m")
    return json_response(to_dict(_refusals(lambda: _desk(gw).preview(customer, wanted))))


@router.post("/finalize")
async def finalize_invoices(body: FinalizeIn, gw: AdminGateway) -> Response:
    """``POST /admin/invoices/finalize``: finalize the closed month for every customer (or ``customer``);
    answers the invoices issued, each numbered and stored as it will stay. A month still open or
    malformed is a 400 naming the fix. Admin token only (401 without or with a wrong one, 403 for a
    customer key).
    """
    try:
        issued = _refusals(lambda: _desk(gw).finalize(body.month, body.customer))
    finally:
        gw.forget()  # applied credits change what budgets count
    return json_response([to_dict(invoice) for invoice in issued])


@router.get("/{id_or_number}")
async def get_invoice(id_or_number: str, gw: AdminGateway) -> Response:
    """``GET /admin/invoices/VRT-000001`` (or its id): the stored invoice in ``to_dict``'s shape; 404 naming
    the listing when there is none. Admin token only (401 without or with a wrong one, 403 for a
    customer key).
    """
    return json_response(to_dict(_invoice(gw, id_or_number)))


@router.get("/{id_or_number}/csv")
async def invoice_csv(id_or_number: str, gw: AdminGateway) -> Response:
    """``GET /admin/invoices/VRT-000001/csv``: the invoice as CSV (``to_csv``), as an attachment named by
    its number; 404 when there is none. Admin token only.
    """
    invoice = _invoice(gw, id_or_number)
    disposition = f'attachment; filename="{_file_name(invoice, "csv")}"'
    return Response(to_csv(invoice), media_type="text/csv", headers={"Content-Disposition": disposition})


@router.get("/{id_or_number}/pdf")
async def invoice_pdf(id_or_number: str, gw: AdminGateway) -> Response:
    """``GET /admin/invoices/VRT-000001/pdf``: the customer's PDF of the invoice, as an attachment named by
    its number; 404 when there is none. Admin token only.
    """
    invoice = _invoice(gw, id_or_number)
    disposition = f'attachment; filename="{_file_name(invoice, "pdf")}"'
    return Response(
        pdf_bytes(invoice), media_type="application/pdf", headers={"Content-Disposition": disposition}
    )


@router.post("/{number}/void")
async def void_invoice(number: str, gw: AdminGateway, body: VoidIn | None = None) -> Response:
    """``POST /admin/invoices/VRT-000001/void``: void the invoice and answer its correction, recomputed
    from the ledger with ``replaces`` and ``credit_note_usd`` (or, with ``{"reissue": false}``, the
    voided invoice). An unknown invoice or one void already is a 400 naming it. Admin token only (401
    without or with a wrong one, 403 for a customer key).
    """
    reissue = body.reissue if body is not None else True
    try:
        invoice = _refusals(lambda: _desk(gw).void(number, reissue=reissue))
    finally:
        gw.forget()  # the voided invoice's credits are given back
    return json_response(to_dict(invoice))
