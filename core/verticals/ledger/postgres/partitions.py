"""The day partitions of ``usage_event_rows`` (migration 0002): created ahead of the rows, dropped for
retention.

A partition holds one UTC day, ``[day, day + 1)`` of naive-UTC ``ts``, and is named
``usage_events_pYYYYMMDD``. Ingest creates the days a batch needs, and the day after each, in a short
transaction of its own before the batch's transaction: ``CREATE TABLE ... PARTITION OF`` locks the parent
table, and held for a whole batch that lock would stall every reader of ``usage_events``. Replicas
creating the same day at once are serialised by an advisory lock, so none fails on the other's new table.
Retention drops whole partitions, never DELETEs rows; the hourly rollup (``usage_hourly_rows``) and the
dims rows are kept, so the dashboard's history outlives the events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from psycopg import sql

PARENT = "usage_event_rows"
_PREFIX = "usage_events_p"
_NAME = re.compile(r"^usage_events_p(\d{8})$")
# any constant: the advisory lock held while partitions are created or dropped
_PARTITION_LOCK = 0x7665727470


def partition_name(day: date) -> str:
    """``usage_events_pYYYYMMDD``, the partition holding UTC ``day``."""
    return f"{_PREFIX}{day:%Y%m%d}"


def ensure_partitions(conn: Any, days: Iterable[date]) -> None:
    """Create the partitions of ``days`` (UTC dates) that do not exist yet, in one transaction of their own
    under the partition advisory lock. ``conn`` is a psycopg connection in autocommit mode, outside any
    transaction. Raises psycopg.Error when the server does.
    """
    wanted = sorted(set(days))
    if not wanted:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_PARTITION_LOCK])
        for day in wanted:
            # DDL takes no bound parameters: the bounds are dates, quoted as literals by psycopg
            conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(partition_name(day)),
                    sql.Identifier(PARENT),
                    sql.Literal(day.isoformat()),
                    sql.Literal((day + timedelta(days=1)).isoformat()),
                )
            )


def list_partitions(conn: Any) -> list[date]:
    """The days that have a partition, oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s)",
        [PARENT],
    ).fetchall()
    days = []
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            digits = match.group(1)
            days.append(date(int(digits[:4]), int(digits[4:6]), int(digits[6:])))
    return sorted(days)


def drop_partitions_before(conn: Any, first_kept: date) -> list[date]:
    """Drop the day partitions of days before ``first_kept`` (UTC), with their events; returns the days
    dropped, oldest first. The hourly rollup keeps those days' sums. ``conn``: psycopg, autocommit, outside
    any transaction. Raises psycopg.Error when the server does.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_PARTITION_LOCK])
        dropped = [day for day in list_partitions(conn) if day < first_kept]
        for day in dropped:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition_name(day))))
    return dropped


def apply_retention(conn: Any, keep_days: int, today: date) -> list[date]:
    """Keep the last ``keep_days`` UTC days of events up to ``today`` (today included) and drop older
    partitions (``drop_partitions_before``); returns the days dropped. Raises ValueError when
    ``keep_days`` < 1.
    """
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1 (today), not {keep_days}")
    return drop_partitions_before(conn, today - timedelta(days=keep_days - 1))
