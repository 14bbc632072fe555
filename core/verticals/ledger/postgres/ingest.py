"""``PostgresSink``: moves closed spool segments (``ledger.writer``) into PostgreSQL's ``usage_events``.

One segment is one transaction, after the day partitions it needs exist (``partitions.ensure_partitions``,
a short transaction of its own):

1. the segment's lines are parsed here, one at a time: a torn last line (a crash mid-write) or zeroed
   blocks (a power cut) are skipped, as DuckDB's ``read_json(ignore_errors = true)`` skips them, and a
   request id seen twice in the segment keeps its first line;
2. the repeated strings of each event map to a ``usage_dims`` id (cached; new ones inserted in key order,
   so replicas adding the same ones never deadlock);
3. the rows are COPYed into a temporary staging table;
4. one statement inserts them into ``usage_event_rows`` with ``ON CONFLICT DO NOTHING`` and, from exactly
   the rows that insert RETURNs, adds the hourly sums to ``usage_hourly_rows`` (an upsert in key order,
   again so replicas never deadlock): a replayed event is neither stored nor counted twice;
5. commit.

Nothing updates a row per request: the rollup gets one upsert per (hour, dims, status) per batch. The
segment leaves the spool only after the commit (the writer deletes it), so a crash anywhere in between
replays it, and the primary key drops what had already gone in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from verticals.ledger.postgres.partitions import ensure_partitions

log = logging.getLogger(__name__)

DimKey = tuple[str, str | None, str, str, str, str, str, str]
_DIM_COLUMNS = (
    "customer",
    "key_prefix",
    "plugin",
    "model",
    "model_version",
    "endpoint",
    "unit",
    "device_class",
)
# usage_event_rows' columns in the order the staging table holds them
_ROW_COLUMNS = (
    "ts",
    "latency_ms",
    "queue_ms",
    "ttft_ms",
    "units_in",
    "units_out",
    "compute_seconds",
    "dim",
    "status",
    "request_id",
    "revenue_usd",
    "cost_usd",
)
_ROWS = ", ".join(_ROW_COLUMNS)
_DIMS = ", ".join(_DIM_COLUMNS)

# The staging table is the events table's own shape (its columns, types and NOT NULLs; not its key or
# partitions), so that the two cannot drift apart when a migration changes one.
_STAGING = "CREATE TEMP TABLE usage_staging (LIKE usage_event_rows) ON COMMIT DELETE ROWS"

_ADD_DIMS = (
    f"INSERT INTO usage_dims ({_DIMS}) "  # noqa: S608 - column names are constants of this module
    f"SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    f"%s::text[], %s::text[]) AS n({_DIMS}) ORDER BY 1, 2, 3, 4, 5, 6, 7, 8 ON CONFLICT DO NOTHING"
)


def _dims_match(left: str, right: str) -> str:
    """The join condition of dims rows ``left`` with events ``right`` (aliases): ``=`` on the seven columns
    that are never NULL, so PostgreSQL can hash-join on them, and IS NOT DISTINCT FROM on key_prefix."""
    return " AND ".join(
        f"{left}.{c} IS NOT DISTINCT FROM {right}.{c}" if c == "key_prefix" else f"{left}.{c} = {right}.{c}"
        for c in _DIM_COLUMNS
    )


_FIND_DIMS = (
    f"SELECT d.dim, {', '.join('d.' + c for c in _DIM_COLUMNS)} FROM usage_dims d "  # noqa: S608
    f"JOIN unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    f"%s::text[]) AS n({_DIMS}) ON {_dims_match('d', 'n')}"
)

# billed_units is events.billed_units() in PostgreSQL's words: prompt plus completion for tokens, units in
# for every other unit, as numeric(38,6) per event before the sum.
_INSERT = f"""
WITH inserted AS (
    INSERT INTO usage_event_rows ({_ROWS})
    SELECT {_ROWS} FROM usage_staging
    ON CONFLICT DO NOTHING
    RETURNING {_ROWS}
)
INSERT INTO usage_hourly_rows AS h (
    hour, dim, status, requests, units_in, units_out, compute_seconds, latency_ms, queue_ms, ttft_ms,
    ttft_count, billed_units, revenue_usd, cost_usd
)
SELECT date_trunc('hour', i.ts), i.dim, i.status, count(*), sum(i.units_in), sum(i.units_out),
       sum(i.compute_seconds), sum(i.latency_ms), sum(i.queue_ms), coalesce(sum(i.ttft_ms), 0),
       count(i.ttft_ms),
       sum(CAST(CASE WHEN d.unit = 'tokens' THEN i.units_in + i.units_out ELSE i.units_in END
                AS numeric(38,6))),
       sum(i.revenue_usd), sum(i.cost_usd)
FROM inserted i JOIN usage_dims d ON d.dim = i.dim
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
ON CONFLICT (hour, dim, status) DO UPDATE SET
    requests = h.requests + excluded.requests,
    units_in = h.units_in + excluded.units_in,
    units_out = h.units_out + excluded.units_out,
    compute_seconds = h.compute_seconds + excluded.compute_seconds,
    latency_ms = h.latency_ms + excluded.latency_ms,
    queue_ms = h.queue_ms + excluded.queue_ms,
    ttft_ms = h.ttft_ms + excluded.ttft_ms,
    ttft_count = h.ttft_count + excluded.ttft_count,
    billed_units = h.billed_units + excluded.billed_units,
    revenue_usd = h.revenue_usd + excluded.revenue_usd,
    cost_usd = h.cost_usd + excluded.cost_usd
"""  # noqa: S608 - column names are constants of this module


class ParsedEvent:
    """One spool line as the loader needs it: its dims key, its UTC day and the row without the dims id."""

    __slots__ = ("day", "dims", "row")

    def __init__(self, line: bytes) -> None:
        """Raises ValueError, KeyError or TypeError for a line that is not a whole UsageEvent."""
        data = json.loads(line)
        ts = datetime.fromisoformat(data["ts"])
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC).replace(tzinfo=None)
        request_id = data["request_id"]
        if not isinstance(request_id, str) or not request_id:
            raise ValueError("no request id")
        self.day: date = ts.date()
        self.dims: DimKey = (
            data["customer"],
            data["key_prefix"],
            data["plugin"],
            data["model"],
            data["model_version"],
            data["endpoint"],
            data["unit"],
            data["device_class"],
        )
        # in _ROW_COLUMNS order, with the dims id (index 7) filled in by the loader
        self.row: list[Any] = [
            ts,
            float(data["latency_ms"]),
            float(data["queue_ms"]),
            data["ttft_ms"],
            float(data["units_in"]),
            float(data["units_out"]),
            float(data["compute_seconds"]),
            0,
            int(data["status"]),
            request_id,
            str(data["revenue_usd"]),
            str(data["cost_usd"]),
        ]


def read_segment(path: Path) -> list[ParsedEvent]:
    """The events of spool segment ``path`` (newline-delimited UsageEvent JSON), each request id once (its
    first line), skipping lines that are not whole events (a torn last line, zeroed blocks)."""
    events: list[ParsedEvent] = []
    seen: set[str] = set()
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            event = ParsedEvent(line)
        except (ValueError, KeyError, TypeError):
            continue  # as read_json(ignore_errors = true) skips it in the DuckDB ledger
        request_id = event.row[9]
        if request_id not in seen:
            seen.add(request_id)
            events.append(event)
    return events


class EventLoader:
    """Inserts parsed events into usage_event_rows and the rollup (the module docstring's steps 2-5) over
    one psycopg connection in autocommit mode; keeps the dims ids and the partitions it has seen committed.
    """

    def __init__(self) -> None:
        self._dims: dict[DimKey, int] = {}
        self._days: set[date] = set()
        self._staging_on: object = None  # the connection the staging table was created on

    def forget(self) -> None:
        """Drop what is cached, after a failure: a partition may have been dropped since, say."""
        self._dims.clear()
        self._days.clear()
        self._staging_on = None

    def load(self, conn: psycopg.Connection[Any], events: Sequence[ParsedEvent]) -> None:
        """Insert ``events`` (each request id once) in one transaction; raises psycopg.Error as the server
        does, having rolled the transaction back."""
        if not events:
            return
        days = {event.day for event in events}
        # the next day's partition too, a day early: creating one locks usage_events for a moment, better
        # done at any time than at midnight with every replica waiting on it
        new_days = (days | {day + timedelta(days=1) for day in days}) - self._days
        if new_days:
            ensure_partitions(conn, new_days)
            self._days |= new_days
        with conn.transaction():
            if self._staging_on is not conn:
                conn.execute(_STAGING)
            found = self._resolve_dims(conn, {event.dims for event in events})
            with conn.cursor() as cursor, cursor.copy(f"COPY usage_staging ({_ROWS}) FROM STDIN") as copy:
                dims = self._dims
                for event in events:
                    row = event.row
                    row[7] = dims.get(event.dims) or found[event.dims]
                    copy.write_row(row)
            conn.execute(_INSERT)
        # committed: the staging table and the new dims ids now exist for good
        self._staging_on = conn
        self._dims.update(found)

    def _resolve_dims(self, conn: psycopg.Connection[Any], keys: Iterable[DimKey]) -> dict[DimKey, int]:
        missing = sorted((k for k in keys if k not in self._dims), key=_dim_order)
        if not missing:
            return {}
        columns = [list(column) for column in zip(*missing, strict=True)]
        conn.execute(_ADD_DIMS, columns)
        found: dict[DimKey, int] = {}
        for dim, *key in conn.execute(_FIND_DIMS, columns).fetchall():
            found[tuple(key)] = dim
        return found


def _dim_order(key: DimKey) -> tuple[Any, ...]:
    return tuple((value is None, value or "") for value in key)


class PostgresSink:
    """The spool writer's sink for a PostgreSQL ledger (``ledger.writer.EventSink``).

    ``conninfo`` is the ``postgresql://`` URL (``database_url``). The sink opens its own psycopg connection
    when it first needs one and drops it after any failure, reconnecting on the next call, so an outage of
    the server costs the writer retries, never the process. ``connect_timeout`` (s) bounds how long an
    unreachable host holds the writer (and a ``flush`` during an outage). Not thread-safe: the writer thread
    alone calls it.
    """

    #: a failed ingest leaves the segment in the spool and the writer tries again (PostgreSQL may come back)
    retry_failures = True

    def __init__(self, conninfo: str, *, connect_timeout: int = 3) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._loader = EventLoader()
        self._prepared: tuple[Path, list[ParsedEvent]] | None = None  # (segment, its events) read ahead

    def prepare(self, path: Path) -> None:
        """Connect when not connected and read segment ``path`` for the next ``ingest``; raises
        psycopg.Error when the server cannot be reached."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                options="-c TimeZone=UTC",
            )
        if self._prepared is None or self._prepared[0] != path:
            self._prepared = (path, read_segment(path))

    def ingest(self, path: Path) -> None:
        """Insert the events of segment ``path`` (see the module docstring); raises psycopg.Error when the
        server is unreachable or refuses them, having dropped the connection and rolled everything back."""
        self.prepare(path)
        assert self._conn is not None and self._prepared is not None
        try:
            self._loader.load(self._conn, self._prepared[1])
        except BaseException:
            self._drop()
            raise
        finally:
            self._prepared = None

    def _drop(self) -> None:
        self._loader.forget()
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                log.debug("closing a failed ledger connection", exc_info=True)
            self._conn = None

    def close(self) -> None:
        """Close the connection, if open; the sink connects again if used after."""
        self._drop()

    def describe(self) -> str:
        """Where the events go, for messages: the server and database, never the password."""
        from verticals.ledger.postgres.connection import redacted

        return f"the PostgreSQL ledger at {redacted(self._conninfo)}"


def load_event_table(conn: psycopg.Connection[Any], source: str) -> None:
    """Insert every event of table ``source`` (a table or temporary table with the columns of
    ``events.EVENT_COLUMNS``, such as events COPYed from a DuckDB ledger) as the sink stores them: the day
    partitions, the dims, then the rows and the rollup in one transaction, replays dropped. For bulk loads
    (benchmarks, a migration from DuckDB); SQL only, no Python per event. ``conn``: psycopg, autocommit,
    outside a transaction, not the one a ``PostgresSink`` uses (this drops its staging table); ``source`` is a
    table name from code, never from a request. Raises psycopg.Error as the server does.
    """
    table = sql.Identifier(source)
    days = conn.execute(sql.SQL("SELECT DISTINCT CAST(ts AS date) FROM {}").format(table)).fetchall()
    ensure_partitions(conn, [day for (day,) in days])
    rows = sql.SQL(", ").join(
        sql.SQL("d.dim") if c == "dim" else sql.SQL("s.{}").format(sql.Identifier(c)) for c in _ROW_COLUMNS
    )
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO usage_dims ({dims}) SELECT DISTINCT {dims} FROM {table} "
                "ORDER BY 1, 2, 3, 4, 5, 6, 7, 8 ON CONFLICT DO NOTHING"
            ).format(dims=sql.SQL(_DIMS), table=table)
        )
        conn.execute("DROP TABLE IF EXISTS usage_staging")
        conn.execute(_STAGING)
        conn.execute(
            sql.SQL(
                "INSERT INTO usage_staging ({columns}) SELECT {rows} FROM {table} s "
                "JOIN usage_dims d ON {match}"
            ).format(columns=sql.SQL(_ROWS), rows=rows, table=table, match=sql.SQL(_dims_match("d", "s")))
        )
        conn.execute(_INSERT)
        conn.execute("DROP TABLE usage_staging")
