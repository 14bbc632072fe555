"""A connection with DuckDB's shape over psycopg: what the ledger's code calls (``execute``, ``executemany``,
``fetchone``, ``fetchall``, ``cursor``, ``close``), its DuckDB SQL turned into PostgreSQL's by ``dialect``.

Each ``PostgresConnection`` holds one psycopg connection in autocommit mode, so ``BEGIN TRANSACTION`` /
``COMMIT`` / ``ROLLBACK`` statements work as on DuckDB; the session's time zone is UTC, so ``now()`` and
naive timestamps mean UTC as they do in the DuckDB ledger. ``cursor()`` is another connection to the same
database (DuckDB's ``cursor()`` is too): one per thread. A connection that broke while idle (PostgreSQL
restarted) is replaced once before the statement fails, so a gateway outlives a database restart.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from verticals.ledger.errors import LedgerConflict, LedgerUnavailable
from verticals.ledger.postgres.dialect import to_postgres

#: Seconds between two attempts to reconnect while the server is unreachable.
RECONNECT_EVERY_S = 1.0
#: The ledger's session settings, measured with EXPLAIN (ANALYZE) over the analytics at 1M events
#: (tests/bench/bench_postgres_analytics.py):
#: - TimeZone=UTC: ``now()`` and naive timestamps mean UTC, as in the DuckDB ledger.
#: - jit=off: the analytics' statements over a million events cost enough to cross jit_inline_above_cost
#:   and jit_optimize_above_cost, and compiling their few hundred expressions took 1.3 s of a 2.0 s
#:   statement (0.1 s on smaller ones); the scans they would speed up take a fraction of that.
#: - work_mem=64MB: the analytics' sorts and hash aggregates (a row per line, day and customer) spilled
#:   to disk at 4 MB ("external merge  Disk: 48 MB"); 64 MB keeps them in memory at 1M events. It is a
#:   ceiling per sort or hash, used only by the statements that need it, so a replica's dozen
#:   connections stay well inside a server's memory.
#: - max_parallel_workers_per_gather is left at the server's (2): on the 2-core machine measured, the
#:   two statements tried were no faster with workers (billed units per stretch: 1.16 s with them, sorting
#:   to aggregate, 0.84 s without, hashing), but a server with cores to spare scans 10M events faster.
SESSION_OPTIONS = "-c TimeZone=UTC -c jit=off -c work_mem=64MB"
_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*@")


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs."""
    return _PASSWORD.sub(r"\1***@", url)


def open_psycopg(url: str) -> psycopg.Connection[Any]:
    """A psycopg connection to ``url`` in autocommit mode, its session set by ``SESSION_OPTIONS`` (UTC, no
    JIT, work_mem); LedgerUnavailable when the server cannot be reached or refuses the login (the message
    names the server, never the password)."""
    try:
        return psycopg.connect(url, autocommit=True, options=SESSION_OPTIONS, connect_timeout=10)
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LedgerUnavailable(
            f"cannot reach the PostgreSQL ledger at {redacted(url)} ({first}): check database_url "
            "(VERTICALS_DATABASE_URL) and that the server is up"
        ) from None


class PostgresConnection:
    """DuckDB's connection interface over one psycopg connection to ``url`` (see the module docstring).

    ``execute`` returns this object, whose ``fetchone`` / ``fetchall`` read the last statement's rows,
    exactly as a DuckDB connection does. Not for concurrent use from several threads: take ``cursor()``.
    """

    def __init__(self, url: str, raw: psycopg.Connection[Any] | None = None) -> None:
        self.url = url
        self._conn = raw if raw is not None else open_psycopg(url)
        self._cursor = psycopg.ClientCursor(self._conn)  # %s placeholders, bound here (see dialect)
        self._in_transaction = False
        self._retry_at = 0.0  # monotonic time before which a broken connection is not reconnected
        self._down_message = ""

    @classmethod
    def over(cls, raw: psycopg.Connection[Any]) -> PostgresConnection:
        """The DuckDB-shaped view of an open psycopg connection (closing it closes ``raw``)."""
        info = raw.info
        return cls(f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}", raw)

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> PostgresConnection:
        """Run one DuckDB statement (``?`` placeholders) with ``parameters``; returns self for fetching."""
        statement = to_postgres(sql)
        verb = statement.lstrip()[:8].upper()
        try:
            self._run(statement, parameters)
        except psycopg.OperationalError as error:
            if not (self._conn.broken or self._conn.closed):
                raise  # the server answered (a deadlock, a cancelled statement): not an outage
            if self._in_transaction:
                raise self._unavailable(error) from None  # the transaction died with the connection
            self._reconnect()  # an idle connection broke (a server restart): one fresh try
            try:
                self._run(statement, parameters)
            except psycopg.OperationalError as again:
                raise self._unavailable(again) from None
        if verb.startswith("BEGIN"):
            self._in_transaction = True
        elif verb.startswith(("COMMIT", "ROLLBACK")):
            self._in_transaction = False
        return self

    def _run(self, statement: str, parameters: Sequence[Any] | None) -> None:
        params = list(parameters) if parameters is not None else None
        try:
            self._cursor.execute(statement, params)
        except psycopg.errors.UniqueViolation as error:
            raise _conflict(error) from None

    def serialize(self, name: str) -> None:
        """Inside a transaction: wait for, then hold until it ends, the advisory lock named ``name`` (see
        ``verticals.ledger._serial``)."""
        self._cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])

    def _reconnect(self) -> None:
        # While the server is away, a reconnect is tried at most once per RECONNECT_EVERY_S: the callers
        # (the gateway's event loop among them) get LedgerUnavailable at once instead of each waiting on
        # a connect that may take up to its timeout.
        now = time.monotonic()
        if now < self._retry_at:
            raise LedgerUnavailable(self._down_message)
        self._conn.close()
        try:
            self._conn = open_psycopg(self.url)
        except LedgerUnavailable as error:
            self._retry_at, self._down_message = now + RECONNECT_EVERY_S, str(error)
            raise
        self._cursor = psycopg.ClientCursor(self._conn)

    def _unavailable(self, error: psycopg.OperationalError) -> LedgerUnavailable:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return LedgerUnavailable(
            f"the PostgreSQL ledger at {redacted(self.url)} stopped answering ({first}); the statement was "
            "not applied: retry once the server is back"
        )

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PostgresConnection:
        """Run one DuckDB statement once per row of ``rows``."""
        try:
            self._cursor.executemany(to_postgres(sql), [list(row) for row in rows])
        except psycopg.errors.UniqueViolation as error:
            raise _conflict(error) from None
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of the last statement, or None."""
        return self._cursor.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The remaining rows of the last statement."""
        return self._cursor.fetchall()

    @property
    def description(self) -> Any:
        """The last statement's column descriptions (DB-API)."""
        return self._cursor.description

    def cursor(self) -> PostgresConnection:
        """Another connection to the same database, for another thread (as DuckDB's ``cursor()``)."""
        return PostgresConnection(self.url)

    def close(self) -> None:
        """Close the psycopg connection; a second call does nothing."""
        self._conn.close()


def _conflict(error: psycopg.errors.UniqueViolation) -> LedgerConflict:
    constraint = error.diag.constraint_name or "a unique key"
    return LedgerConflict(
        f"another writer stored the same row ({constraint}) at the same moment; nothing was written: "
        "look at what is there now and run the command again if it is still needed"
    )
