"""The exception billing raises for anything a caller can fix."""

from __future__ import annotations

from verticals.ledger.errors import LedgerError


class BillingError(LedgerError):
    """A bill that cannot be computed or changed as asked (an open month, a malformed month, unusable tiers,
    voiding an invoice that is not finalized); the message names the cause and the fix.

    A ``LedgerError``, so the CLI prints it as one line and the admin API answers 400 with it, as for
    any other ledger input it refuses.
    """
