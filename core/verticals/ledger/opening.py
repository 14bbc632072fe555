"""Opening the ledger's DuckDB file: a connection in UTC, its schema checked, and migrated when writable.

A ledger from a newer release is refused before anything touches it (read-only probe first); a
read-only open of an older schema is refused with the command that upgrades it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from verticals.ledger.errors import LedgerError
from verticals.ledger.schema import SCHEMA_VERSION, check_not_newer, migrate, schema_version

LEDGER_FILE = "ledger.duckdb"


def open_database(home: Path, *, read_only: bool) -> tuple[Path, Any]:
    """The path of ``home/ledger.duckdb`` and a DuckDB connection to it at ``SCHEMA_VERSION``: created and
    migrated when writable, checked when read-only. Raises LedgerError for a missing file (read-only), a
    schema that is newer than this release or (read-only) older, a file in use by another process, or one
    that is not a ledger.
    """
    path = home / LEDGER_FILE
    if read_only:
        if not path.exists():
            raise LedgerError(
                f"no ledger at {path}: start the server once, or run `verticals customers list`"
            )
        conn = connect(path, read_only=True)
        version = schema_version(conn)
        if version != SCHEMA_VERSION:
            conn.close()
            check_not_newer(version, str(path))
            raise LedgerError(
                f"the ledger at {path} has schema version {version} and needs upgrading to "
                f"{SCHEMA_VERSION}: open it read-write once (e.g. `verticals customers list`)"
            )
        return path, conn
    home.mkdir(parents=True, exist_ok=True)
    if path.exists():
        # check the version read-only first, so that a ledger from a newer release is not touched
        probe = connect(path, read_only=True)
        try:
            check_not_newer(schema_version(probe), str(path))
        finally:
            probe.close()
    conn = connect(path, read_only=False)
    try:
        migrate(conn, str(path))
    except BaseException:
        conn.close()
        raise
    return path, conn


def connect(path: Path, read_only: bool) -> Any:
    """A DuckDB connection to ``path`` with its time zone set to UTC; LedgerError when the file is locked by
    another process or is not a DuckDB database."""
    import duckdb

    try:
        conn = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        text = str(error)
        if "lock" in text.lower():
            raise LedgerError(
                f"the ledger at {path} is in use by another process ({text.splitlines()[0]}): stop "
                "`verticals serve` first, or make the change through the admin API of the running server"
            ) from None
        raise LedgerError(f"cannot open the ledger at {path}: {text}") from None
    except duckdb.Error as error:
        raise LedgerError(
            f"{path} is not a readable ledger ({error}); move it aside to start afresh"
        ) from None
    # A DuckDB built without ICU has no time zones at all, which is UTC too.
    with contextlib.suppress(duckdb.Error):
        conn.execute("SET TimeZone = 'UTC'")
    return conn
