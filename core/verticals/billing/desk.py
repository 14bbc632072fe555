"""The invoice operations the CLI and the admin API offer, over a ledger opened in this process.

``Invoices`` is what ``verticals invoices ...`` calls: ``LocalInvoices`` here runs the billing engine
(``verticals.billing.invoices``) and the ledger's invoice store on a ``Ledger``; the admin API's
``/admin/invoices`` routes use it on the gateway's ledger, and ``verticals.client.RemoteInvoices``
answers the same calls through those routes while a gateway holds the ledger. Every method raises
``LedgerError`` (a ``BillingError`` is one) with a message that names the problem and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from verticals.billing.model import Invoice

if TYPE_CHECKING:
    from verticals.ledger.ledger import Ledger
    from verticals.registry import Registry


class Invoices(Protocol):
    """Invoice operations, the same whether the ledger is local or behind a gateway."""

    def preview(self, customer: str, month: str) -> Invoice:
        """``customer``'s draft for ``month`` (``YYYY-MM``), recomputed from the ledger now."""
        ...

    def finalize(self, month: str, customer: str | None = None) -> list[Invoice]:
        """Finalize ``month``'s invoices (every customer's, or ``customer``'s): the ones newly issued."""
        ...

    def list(
        self, *, customer: str | None = None, status: str | None = None, month: str | None = None
    ) -> list[Invoice]:
        """Stored invoices (finalized and void), by number, filtered as given."""
        ...

    def get(self, id_or_number: str) -> Invoice:
        """The stored invoice with this id (digits) or number (``VRT-000001``)."""
        ...

    def void(self, number: str, *, reissue: bool = True) -> Invoice:
        """Void invoice ``number``; with ``reissue`` (the default) issue its correction and answer that,
        else answer the voided invoice."""
        ...

    def close(self) -> None:
        """Release what the operations held (the ledger file, for a local one)."""
        ...


def check_month(month: str) -> str:
    """``month`` when it is a calendar month ``YYYY-MM`` that has an end (0001-01 to 9999-11); BillingError
    naming the form otherwise (``proration.month_bounds`` alone lets a year out of range through as a
    bare ValueError)."""
    from verticals.billing.errors import BillingError
    from verticals.billing.proration import month_bounds

    try:
        month_bounds(month)
    except BillingError:  # malformed: its message names the form
        raise
    except ValueError:  # a well-formed month datetime cannot hold: "year 10000 is out of range"
        raise BillingError(f"month {month!r} is out of range: use a month from 0001-01 to 9999-11") from None
    return month


class LocalInvoices:
    """``Invoices`` on ``ledger``, a ledger this process opened (the CLI's, or the gateway's own).

    ``tasks`` answers each model's task (``model_tasks(registry)``), for prices set per task (usage events
    do not record the task); it is called only when an invoice is computed, so listing and showing
    stored invoices never loads the plugins.
    """

    def __init__(self, ledger: Ledger, tasks: Callable[[], Mapping[str, str]] | None = None) -> None:
        self.ledger = ledger
        self._tasks = tasks

    @property
    def model_tasks(self) -> Mapping[str, str] | None:
        """The model-to-task map from ``tasks``, or None when there is none."""
        return None if self._tasks is None else self._tasks()

    def preview(self, customer: str, month: str) -> Invoice:
        """The engine's ``preview`` after a flush, so every request answered so far counts. LedgerError
        for an unknown customer or a month that is not ``YYYY-MM``."""
        from verticals.billing.invoices import preview

        check_month(month)
        self.ledger.flush()
        return preview(self.ledger, customer, month, model_tasks=self.model_tasks)

    def finalize(self, month: str, customer: str | None = None) -> list[Invoice]:
        """The engine's ``finalize_month`` after a flush: LedgerError for a month still open or malformed;
        customers that already have the month's invoice are skipped (not in the answer)."""
        from verticals.billing.invoices import finalize_month

        check_month(month)
        self.ledger.flush()
        return finalize_month(self.ledger, month, customer, model_tasks=self.model_tasks)

    def list(
        self, *, customer: str | None = None, status: str | None = None, month: str | None = None
    ) -> list[Invoice]:
        """The ledger's ``list_invoices``; LedgerError for an unknown status or a malformed month."""
        return self.ledger.list_invoices(customer=customer, status=status, month=month)

    def get(self, id_or_number: str) -> Invoice:
        """The ledger's ``get_invoice``; LedgerError naming `verticals invoices list` when there is none."""
        return self.ledger.get_invoice(id_or_number)

    def void(self, number: str, *, reissue: bool = True) -> Invoice:
        """The engine's ``void_and_reissue`` (the correction, with ``replaces`` and ``credit_note_usd``), or
        with ``reissue=False`` the ledger's ``void_invoice`` alone. LedgerError when there is no such
        invoice or it is void already."""
        if not reissue:
            return self.ledger.void_invoice(number)
        from verticals.billing.invoices import void_and_reissue

        self.ledger.flush()
        return void_and_reissue(self.ledger, number, model_tasks=self.model_tasks)

    def close(self) -> None:
        """Close the ledger."""
        self.ledger.close()


def model_tasks(registry: Registry) -> dict[str, str]:
    """Each registered model's task (``{"nlp/chat": "chat"}``), for ``LocalInvoices``' per-task prices."""
    return {name: str(registered.item.task) for name, registered in registry.models.items()}
