"""PostgresSink: spool segments into usage_events once each, the hourly rollup exact, retention by day."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg

from verticals.ledger.events import EVENT_COLUMNS
from verticals.ledger.postgres.ingest import PostgresSink, load_event_table
from verticals.ledger.postgres.partitions import apply_retention, list_partitions
from verticals.ledger.writer import SpoolWriter

from .ingest_helpers import assert_rollup_matches_events, counts, event, migrated, request_ids, write_segment


def test_replaying_every_segment_again_stores_each_request_once(database_url: str, tmp_path: Path) -> None:
    migrated(database_url)
    spool = tmp_path / "spool"
    spool.mkdir()
    total = 3000
    paths = [
        write_segment(spool / f"{n:012d}.jsonl", [event(i) for i in range(start, min(start + 700, total))])
        for n, start in enumerate(range(0, total, 700), start=1)
    ]
    copies = tmp_path / "copies"
    copies.mkdir()
    for path in paths:
        shutil.copy(path, copies / path.name)
    sink = PostgresSink(database_url)
    try:
        for path in paths:
            sink.ingest(path)
        first = assert_rollup_matches_events(database_url)
        for path in sorted(copies.iterdir()):  # the same segments again, as a replay after a crash would
            sink.ingest(path)
    finally:
        sink.close()
    assert counts(database_url) == (total, total)
    # nothing replayed was added to the rollup either
    assert assert_rollup_matches_events(database_url) == first
    with psycopg.connect(database_url) as conn:
        sums = conn.execute("SELECT sum(revenue_usd), sum(requests) FROM usage_hourly").fetchone()
    assert sums is not None
    revenue, requests = sums
    assert requests == total
    assert revenue == sum((event(i).revenue_usd for i in range(total)), Decimal(0))


def test_events_read_back_as_recorded(database_url: str, tmp_path: Path) -> None:
    migrated(database_url)
    recorded = [event(0, key_prefix=None, ttft_ms=None), event(1, revenue_usd=Decimal("0.000000001"))]
    sink = PostgresSink(database_url)
    try:
        sink.ingest(write_segment(tmp_path / "000000000001.jsonl", recorded))
    finally:
        sink.close()
    columns = list(recorded[0].model_dump())
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"SELECT {', '.join(columns)} FROM usage_events ORDER BY request_id").fetchall()
    expected = [
        tuple(e.ts.replace(tzinfo=None) if c == "ts" else getattr(e, c) for c in columns) for e in recorded
    ]
    assert rows == expected


def test_a_torn_last_line_and_zeroed_blocks_are_skipped(database_url: str, tmp_path: Path) -> None:
    migrated(database_url)
    segment = write_segment(
        tmp_path / "000000000007.jsonl",
        [event(1), event(2), event(1, status=500)],  # a request id twice in a segment: its first line
        tail=b'{"request_id": "torn", "ts": "2026-',
    )
    zeroed = tmp_path / "000000000008.jsonl"
    zeroed.write_bytes(b"\x00\x00\x00\n")
    sink = PostgresSink(database_url)
    try:
        sink.ingest(segment)
        sink.ingest(zeroed)
    finally:
        sink.close()
    assert sorted(request_ids(database_url)) == ["req_00000001", "req_00000002"]
    with psycopg.connect(database_url) as conn:
        sql = "SELECT status FROM usage_events WHERE request_id = 'req_00000001'"
        assert conn.execute(sql).fetchone() == (200,)


def test_writer_commits_to_postgres_and_reports_the_spend(database_url: str, tmp_path: Path) -> None:
    migrated(database_url)
    committed: list[dict[tuple[str, int, int], Decimal]] = []
    writer = SpoolWriter(
        None, tmp_path / "spool", fsync_ms=20, sink=PostgresSink(database_url), on_commit=committed.append
    )
    try:
        e = event(5, customer="acme", revenue_usd=Decimal("1.25"))
        writer.record(e)
        month = e.ts.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        assert writer.unflushed_spend("acme", month) == Decimal("1.25")
        writer.flush()
        assert writer.unflushed_spend("acme", month) == 0
        assert committed == [{("acme", e.ts.year, e.ts.month): Decimal("1.25")}]
        assert request_ids(database_url) == [e.request_id]
    finally:
        writer.close()
    assert list((tmp_path / "spool").glob("*.jsonl")) == []


def test_retention_drops_old_day_partitions_and_keeps_the_rollup(database_url: str, tmp_path: Path) -> None:
    migrated(database_url)
    # 3000 minutes from EPOCH (Nov 14, 22:00): Nov 14 to Nov 16
    sink = PostgresSink(database_url)
    try:
        sink.ingest(write_segment(tmp_path / "000000000001.jsonl", [event(i) for i in range(3000)]))
    finally:
        sink.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        # the three days, and the next one created ahead
        days = [date(2026, 11, 14), date(2026, 11, 15), date(2026, 11, 16), date(2026, 11, 17)]
        assert list_partitions(conn) == days
        rollup_before = conn.execute("SELECT count(*), sum(revenue_usd) FROM usage_hourly_rows").fetchone()
        dropped = apply_retention(conn, keep_days=2, today=date(2026, 11, 16))
        assert dropped == [date(2026, 11, 14)]
        assert list_partitions(conn) == days[1:]
        oldest = conn.execute("SELECT min(ts) FROM usage_events").fetchone()
        assert oldest is not None and oldest[0].date() == date(2026, 11, 15)
        assert conn.execute("SELECT count(*) FROM usage_events").fetchone() == (3000 - 120,)
        # the rollup keeps the dropped day's hours
        rollup_sql = "SELECT count(*), sum(revenue_usd) FROM usage_hourly_rows"
        assert conn.execute(rollup_sql).fetchone() == rollup_before
        assert apply_retention(conn, keep_days=2, today=date(2026, 11, 16)) == []


def test_a_bulk_load_from_a_table_stores_what_the_sink_does(database_url: str, tmp_path: Path) -> None:
    migrated(database_url)
    events = [event(i) for i in range(1500)]
    sink = PostgresSink(database_url)
    try:
        sink.ingest(write_segment(tmp_path / "000000000001.jsonl", events[:500]))  # some arrived already
    finally:
        sink.close()
    types = {"VARCHAR": "text", "TIMESTAMP": "timestamp", "SMALLINT": "smallint", "DOUBLE": "float8"}
    columns = ", ".join(f"{name} {types.get(kind, 'numeric(18,9)')}" for name, kind in EVENT_COLUMNS.items())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE TEMP TABLE old_events ({columns})")
        with conn.cursor().copy(f"COPY old_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for e in events:
                copy.write_row(
                    [e.ts.replace(tzinfo=None) if c == "ts" else getattr(e, c) for c in EVENT_COLUMNS]
                )
        load_event_table(conn, "old_events")
        load_event_table(conn, "old_events")  # twice: a replay adds nothing
    assert counts(database_url) == (1500, 1500)
    assert assert_rollup_matches_events(database_url) > 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT sum(requests) FROM usage_hourly").fetchone() == (1500,)
