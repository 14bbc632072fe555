"""``RemoteInvoices``: the invoice operations of ``verticals invoices``, carried out by a running gateway.

The same calls as ``verticals.billing.desk.LocalInvoices`` (the ``Invoices`` protocol), through the
admin API's ``/admin/invoices`` routes, answering the same ``Invoice`` records (rebuilt from the API's
JSON with ``verticals.billing.exports.from_dict``, so no cent is lost on the way). A refusal raises
``LedgerError`` with the server's message, which names the problem and the fix, as the local
operations do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from verticals.billing.exports import from_dict
from verticals.billing.model import Invoice
from verticals.client.admin import AdminClient, AdminError


class RemoteInvoices:
    """The ``Invoices`` operations on the gateway ``client`` talks to (its admin API)."""

    def __init__(self, client: AdminClient) -> None:
        self.client = client

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        from verticals.ledger import LedgerError

        try:
            return self.client.call(method, path, json_body=body, params=params)
        except AdminError as error:
            raise LedgerError(str(error)) from None

    def preview(self, customer: str, month: str) -> Invoice:
        """``customer``'s draft for ``month`` (``YYYY-MM``), recomputed by the server now
        (``GET /admin/invoices/preview``). LedgerError with the server's message when it refuses."""
        return from_dict(self._call("GET", "/admin/invoices/preview", customer=customer, month=month))

    def finalize(self, month: str, customer: str | None = None) -> list[Invoice]:
        """Finalize the closed ``month`` (every customer's invoice, or ``customer``'s); the invoices issued
        (``POST /admin/invoices/finalize``). LedgerError for an open or malformed month."""
        body = {"month": month, "customer": customer}
        return [from_dict(row) for row in self._call("POST", "/admin/invoices/finalize", body)]

    def list(
        self, *, customer: str | None = None, status: str | None = None, month: str | None = None
    ) -> list[Invoice]:
        """Stored invoices by number, filtered as given (``GET /admin/invoices``). LedgerError for an
        unknown status or a malformed month."""
        rows = self._call("GET", "/admin/invoices", customer=customer, status=status, month=month)
        return [from_dict(row) for row in rows]

    def get(self, id_or_number: str) -> Invoice:
        """The stored invoice with this id or number (``GET /admin/invoices/{id_or_number}``); LedgerError
        naming the listing when there is none."""
        return from_dict(self._call("GET", f"/admin/invoices/{quote(str(id_or_number), safe='')}"))

    def void(self, number: str, *, reissue: bool = True) -> Invoice:
        """Void invoice ``number``: its correction, or with ``reissue=False`` the voided invoice
        (``POST /admin/invoices/{number}/void``). LedgerError when there is none or it is void already."""
        path = f"/admin/invoices/{quote(number, safe='')}/void"
        return from_dict(self._call("POST", path, {"reissue": reissue}))

    def close(self) -> None:
        """Nothing to close: the server keeps the ledger."""
