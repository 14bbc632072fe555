"""Where the spool writer (``ledger.writer``) commits closed segments: the ``EventSink`` protocol and the
embedded ledger's ``DuckDBSink``; PostgreSQL's is ``verticals.ledger.postgres.ingest.PostgresSink``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from verticals.ledger.events import EVENT_COLUMNS

_COLUMNS = ", ".join(EVENT_COLUMNS)
# The column list is our own constant; the segment path and column types go in as parameters.
_INSERT = (
    f"INSERT INTO usage_events ({_COLUMNS}) SELECT {_COLUMNS} "  # noqa: S608
    "FROM read_json(?, format = 'newline_delimited', columns = ?, ignore_errors = true) "
    "WHERE request_id IS NOT NULL ON CONFLICT DO NOTHING"
)


def ingest_segment(conn: Any, path: Path) -> None:
    """Insert one spool segment's events into DuckDB's ``usage_events``, skipping request ids already
    there."""
    conn.execute(_INSERT, [str(path), EVENT_COLUMNS])


class EventSink(Protocol):
    """Where the writer commits closed spool segments.

    ``retry_failures``: True when a failed ``ingest`` may succeed later (a server that can come back), so
    the writer keeps the segment and tries again; False to stop the writer on the first failure.
    """

    retry_failures: bool

    def prepare(self, path: Path) -> None:
        """Get ready to ``ingest`` segment ``path`` next (connect, read it): called outside the writer's
        ``commit_lock``, so that readers of the spend never wait on it. Raise when the sink cannot take it
        now (say, cannot connect)."""

    def ingest(self, path: Path) -> None:
        """Commit the events of segment ``path``, each request id once however often it is replayed;
        raise when they were not committed."""

    def close(self) -> None:
        """Release what the sink holds (connections)."""

    def describe(self) -> str:
        """Where the events go, for messages."""


class DuckDBSink:
    """The embedded ledger's sink: ``ingest_segment`` on a DuckDB cursor of the writer's own."""

    retry_failures = False

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def prepare(self, path: Path) -> None:
        """Nothing to do: DuckDB reads the file itself in ``ingest``."""

    def ingest(self, path: Path) -> None:
        """``ingest_segment`` (raises duckdb.Error)."""
        ingest_segment(self._conn, path)

    def close(self) -> None:
        """The cursor belongs to the ledger's connection, closed with it."""

    def describe(self) -> str:
        """Names DuckDB."""
        return "DuckDB"
