"""Opening the PostgreSQL ledger: a connection at the current schema, migrated when writable."""

from __future__ import annotations

from verticals.ledger.errors import LedgerError
from verticals.ledger.postgres.connection import PostgresConnection, open_psycopg, redacted
from verticals.ledger.postgres.schema import SCHEMA_VERSION, migrate, schema_version


def open_postgres(url: str, *, read_only: bool) -> PostgresConnection:
    """A DuckDB-shaped connection to the ledger database at ``url`` (``postgresql://...``), at
    ``SCHEMA_VERSION``: migrated when writable (under an advisory lock, so replicas starting together
    migrate once), checked when read-only. Raises LedgerError for an unreachable server, a newer schema, or
    (read-only) an older one.
    """
    where = redacted(url)
    if read_only:
        conn = PostgresConnection(url)
        version = schema_version(conn)
        if version != SCHEMA_VERSION:
            conn.close()
            from verticals.ledger.schema import check_not_newer

            check_not_newer(version, where, SCHEMA_VERSION)
            raise LedgerError(
                f"the ledger at {where} has schema version {version} and needs upgrading to "
                f"{SCHEMA_VERSION}: start `verticals serve` once, or run `verticals customers list`"
            )
        return conn
    raw = open_psycopg(url)
    try:
        migrate(raw, where)
    except BaseException:
        raw.close()
        raise
    return PostgresConnection(url, raw)
