"""The one exception the ledger raises for anything a caller can fix."""

from __future__ import annotations


class LedgerError(ValueError):
    """Bad input or a ledger that cannot be used as asked; the message names the cause and the fix.

    Raised before anything is written: a refused call leaves the ledger as it was.
    """
