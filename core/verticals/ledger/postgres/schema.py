"""PostgreSQL's ledger schema and its versioned migrations.

``migrations/NNNN_name.sql`` turns version NNNN-1 into NNNN; like DuckDB's (``ledger/schema.py``) they are
only ever appended, each runs in its own transaction, and the version lives in ``ledger_meta``. The
numbering is PostgreSQL's own: the two engines' schemas hold the same tables, reached by different
histories. A database at a newer version than this release is refused before anything is written, with
the same words as a newer DuckDB ledger. Replicas that start together are serialised by an advisory lock.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from verticals.ledger.schema import check_not_newer, insert_starter_rows

# any constant: the advisory lock every replica takes while it checks and migrates the schema
_MIGRATION_LOCK = 0x7665727469


def _migration_files() -> list[tuple[int, str]]:
    folder = resources.files("verticals.ledger.postgres") / "migrations"
    found = [(int(item.name[:4]), item.name) for item in folder.iterdir() if item.name.endswith(".sql")]
    return sorted(found)


# Python steps that run right after a version's SQL file, in the same transaction.
_AFTER: dict[int, Callable[[Any], None]] = {1: insert_starter_rows}

SCHEMA_VERSION = max((number for number, _ in _migration_files()), default=0)


def schema_version(conn: Any) -> int:
    """The version the database is at; 0 for an empty one."""
    exists = conn.execute("SELECT to_regclass('ledger_meta') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT value FROM ledger_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(raw: Any, where: str) -> int:
    """Bring the database behind ``raw`` (a psycopg connection in autocommit mode) to ``SCHEMA_VERSION``;
    returns the old version. Raises LedgerError for a newer schema. ``where`` names it in messages.
    """
    folder = resources.files("verticals.ledger.postgres") / "migrations"
    from verticals.ledger.postgres.connection import PostgresConnection

    conn = PostgresConnection.over(raw)
    raw.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
    try:
        current = schema_version(conn)
        check_not_newer(current, where, SCHEMA_VERSION)
        for number, name in _migration_files():
            if number <= current:
                continue
            with raw.transaction():
                raw.execute((folder / name).read_text())
                if number in _AFTER:
                    _AFTER[number](conn)
                raw.execute(
                    "INSERT INTO ledger_meta VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [str(number)],
                )
        return current
    finally:
        raw.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])
