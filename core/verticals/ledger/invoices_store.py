"""Finalized invoices: numbered in sequence, stored as the JSON snapshot they were issued with, never edited.

``store`` gives an invoice the next id and number (``VRT-000001``, no gaps: the next number is read and
written in one transaction) and keeps ``invoice_json.dumps`` of it in ``snapshot``: later price, plan or
allowance edits never change what was issued. A correction voids the invoice (``voided_at`` is set beside
the snapshot, which stays as issued; reads answer it with status ``void``) and stores a new one. The
credit each invoice applied is also kept per grant (``invoice_credits``), so credit balances are a sum.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from verticals.billing.model import Invoice, InvoiceStatus
from verticals.ledger import invoice_json
from verticals.ledger._serial import serialize
from verticals.ledger._time import as_utc, from_db, to_db
from verticals.ledger.errors import LedgerError

NUMBER_PREFIX = "VRT-"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def invoice_number(invoice_id: int) -> str:
    """The number of the invoice with id ``invoice_id``: ``VRT-`` and six digits at least (``VRT-000042``)."""
    return f"{NUMBER_PREFIX}{invoice_id:06d}"


def check_month(month: str) -> str:
    """``month`` if it is ``YYYY-MM``; LedgerError with an example otherwise."""
    if not isinstance(month, str) or not _MONTH.match(month):
        raise LedgerError(f"month {month!r} is not YYYY-MM, such as 2026-11")
    return month


class InvoiceStore:
    """The ``invoices`` and ``invoice_credits`` tables over the ledger's connection (shared under ``lock``);
    ``clock`` returns aware UTC for ``issued_at`` and ``voided_at``. Callers check that customers exist."""

    def __init__(self, conn: Any, lock: threading.RLock, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock

    def store(self, invoice: Invoice) -> Invoice:
        """Finalize ``invoice``: the next id and number, ``issued_at`` now, status finalized; store its
        snapshot and the credit it applies per grant; return it as stored.

        Raises LedgerError for an invoice that already has a number, a bad month, or a customer and month
        that already have a finalized, non-void invoice (void it first).
        """
        if invoice.number is not None or invoice.id is not None:
            raise LedgerError(
                f"invoice {invoice.number or invoice.id} is already stored: invoices are never edited; "
                "void it and issue a new one"
            )
        check_month(invoice.month)
        with self._lock:
            self._conn.execute("BEGIN TRANSACTION")
            try:
                # replicas finalizing at once take turns: one number each, no gaps, one per month
                serialize(self._conn, "invoices")
                existing = self._conn.execute(
                    "SELECT number FROM invoices WHERE customer = ? AND month = ? AND voided_at IS NULL",
                    [invoice.customer, invoice.month],
                ).fetchone()
                if existing is not None:
                    raise LedgerError(
                        f"{invoice.customer} already has invoice {existing[0]} for {invoice.month}: void it "
                        f"(`verticals invoices void {existing[0]}`) before issuing another"
                    )
                next_id = self._conn.execute("SELECT coalesce(max(id), 0) + 1 FROM invoices").fetchone()[0]
                stored = dataclasses.replace(
                    invoice,
                    status=InvoiceStatus.FINALIZED,
                    id=next_id,
                    number=invoice_number(next_id),
                    issued_at=as_utc(self._clock()),
                )
                self._conn.execute(
                    "INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                    [
                        next_id,
                        stored.number,
                        stored.customer,
                        stored.month,
                        stored.total_usd,
                        to_db(stored.issued_at) if stored.issued_at else None,
                        stored.replaces,
                        invoice_json.dumps(stored),
                    ],
                )
                applied: dict[int, Any] = {}
                for line in stored.credits:
                    applied[line.grant_id] = applied.get(line.grant_id, 0) + line.amount_usd
                for grant_id, amount in applied.items():
                    self._conn.execute(
                        "INSERT INTO invoice_credits VALUES (?, ?, ?)", [next_id, grant_id, amount]
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return stored

    def list(
        self,
        *,
        customer: str | None = None,
        status: InvoiceStatus | str | None = None,
        month: str | None = None,
    ) -> list[Invoice]:
        """Stored invoices, by number, filtered by ``customer``, ``status`` (finalized or void; drafts are
        never stored, so ``draft`` answers none) and ``month`` (``YYYY-MM``). LedgerError for an unknown
        status or a bad month."""
        wanted = None if status is None else _status(status)
        if month is not None:
            check_month(month)
        with self._lock:
            rows = self._conn.execute(
                "SELECT snapshot, voided_at FROM invoices WHERE (? IS NULL OR customer = ?) "
                "AND (? IS NULL OR month = ?) ORDER BY id",
                [customer, customer, month, month],
            ).fetchall()
        invoices = [_read(row[0], row[1]) for row in rows]
        return [i for i in invoices if wanted is None or i.status is wanted]

    def get(self, id_or_number: int | str) -> Invoice:
        """The invoice with this id (an int, or a string of digits) or number (``VRT-000001``); LedgerError
        naming the listing command when there is none."""
        key = str(id_or_number).strip()
        column, value = ("id", int(key)) if key.isdigit() else ("number", key.upper())
        with self._lock:
            row = self._conn.execute(
                f"SELECT snapshot, voided_at FROM invoices WHERE {column} = ?",  # noqa: S608
                [value],
            ).fetchone()
        if row is None:
            raise LedgerError(f"no invoice {id_or_number!r}: see `verticals invoices list` for the numbers")
        return _read(row[0], row[1])

    def snapshot(self, id_or_number: int | str) -> str:
        """The stored JSON of an invoice, exactly as issued (what ``get`` decodes)."""
        invoice = self.get(id_or_number)
        with self._lock:
            row = self._conn.execute("SELECT snapshot FROM invoices WHERE id = ?", [invoice.id]).fetchone()
        return str(row[0])

    def void(self, number: str, at: datetime | None = None) -> Invoice:
        """Void the invoice ``number`` at ``at`` (UTC; None: now): it stays stored as issued, read back with
        status void, and the credit it applied is given back. LedgerError when there is no such invoice or
        it is void already."""
        invoice = self.get(number)
        with self._lock:
            voided = self._conn.execute(
                "SELECT voided_at FROM invoices WHERE id = ?", [invoice.id]
            ).fetchone()[0]
            if voided is not None:
                raise LedgerError(
                    f"invoice {invoice.number} was already voided at {from_db(voided).isoformat()}"
                )
            when = as_utc(at) if at is not None else as_utc(self._clock())
            self._conn.execute(
                "UPDATE invoices SET voided_at = ? WHERE id = ? AND voided_at IS NULL",
                [to_db(when), invoice.id],
            )
        return dataclasses.replace(invoice, status=InvoiceStatus.VOID)


def _status(value: InvoiceStatus | str) -> InvoiceStatus:
    try:
        return InvoiceStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in InvoiceStatus)
        raise LedgerError(f"unknown invoice status {value!r}: use one of {known}") from None


def _read(snapshot: str, voided_at: datetime | None) -> Invoice:
    invoice = invoice_json.loads(snapshot)
    return invoice if voided_at is None else dataclasses.replace(invoice, status=InvoiceStatus.VOID)
