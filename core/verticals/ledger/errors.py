"""The one exception the ledger raises for anything a caller can fix."""

from __future__ import annotations


class LedgerError(ValueError):
    """Bad input or a ledger that cannot be used as asked; the message names the cause and the fix.

    Raised before anything is written: a refused call leaves the ledger as it was.
    """


class LedgerConflict(LedgerError):
    """Another writer of a shared (PostgreSQL) ledger stored a row with the same key at the same moment;
    nothing of this call was written. Callers that can name the row turn it into their own message."""


class LedgerUnavailable(LedgerError):
    """The ledger's database (PostgreSQL) cannot be reached right now; nothing of this call was written.
    The gateway keeps serving from what it holds (usage events wait in its spool) and answers a request
    that needs the database with a 503 ``ledger_unavailable``."""
