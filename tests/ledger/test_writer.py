"""The spool and the background writer: flush, dedup, replay, and the kill -9 crash test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from verticals.ledger import Ledger, LedgerError

from .conftest import Clock, make_event

CRASH_WRITER = Path(__file__).with_name("crash_writer.py")


def _count(ledger: Ledger) -> tuple[int, int]:
    sql = "SELECT count(*), count(DISTINCT request_id) FROM usage_events"
    row = ledger.connection.execute(sql).fetchone()
    return int(row[0]), int(row[1])


def test_record_then_flush_lands_in_duckdb(ledger: Ledger) -> None:
    ledger.create_customer("acme", "pro")
    event = make_event(ttft_ms=12.5, key_prefix="vk_abcdefgh", revenue_usd=Decimal("0.000000001"))
    ledger.record(event)
    ledger.flush()
    row = ledger.connection.execute(
        "SELECT request_id, ts, customer, key_prefix, ttft_ms, units_in, units_out, revenue_usd, cost_usd "
        "FROM usage_events"
    ).fetchall()
    naive_ts = event.ts.replace(tzinfo=None)
    money = (Decimal("0.000000001"), Decimal("0.001"))
    assert row == [("req-1", naive_ts, "acme", "vk_abcdefgh", 12.5, 10.0, 20.0, *money)]


def test_duplicate_request_ids_are_stored_once(ledger: Ledger) -> None:
    for _ in range(3):
        ledger.record(make_event(request_id="same"))
    ledger.record(make_event(request_id="other"))
    ledger.flush()
    ledger.record(make_event(request_id="same", status=500))
    ledger.flush()
    assert _count(ledger) == (2, 2)
    sql = "SELECT status FROM usage_events WHERE request_id = 'same'"
    assert ledger.connection.execute(sql).fetchone() == (200,)


def test_month_spend_counts_spooled_and_stored_events(ledger: Ledger, clock: Clock) -> None:
    ledger.create_customer("acme", "pro")
    ledger.record(make_event(request_id="a", revenue_usd=Decimal("1.25")))
    assert ledger.month_spend("acme") == Decimal("1.25")
    ledger.flush()
    assert ledger.month_spend("acme") == Decimal("1.25")
    ledger.record(make_event(request_id="b", revenue_usd=Decimal("0.75")))
    assert ledger.month_spend("acme") == Decimal("2.00")
    # an event from last month counts for last month only
    ledger.record(make_event(request_id="c", ts=clock.now.replace(month=10), revenue_usd=Decimal("5")))
    ledger.flush()
    assert ledger.month_spend("acme") == Decimal("2.00")
    assert ledger.month_spend("acme", at=clock.now.replace(month=10, day=3)) == Decimal("5")


def test_money_must_not_be_a_float() -> None:
    with pytest.raises(ValueError, match="never a float"):
        make_event(revenue_usd=0.1)


def test_spool_left_behind_is_replayed_without_duplicates(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        ledger.record(make_event(request_id="stored"))
        ledger.flush()
    spool = tmp_path / "ledger.spool"
    lines = [make_event(request_id=rid).model_dump_json() for rid in ("stored", "spooled", "spooled")]
    # a torn last line, as a machine crash mid-write could leave it
    (spool / "000000000007.jsonl").write_text("\n".join(lines) + '\n{"request_id": "torn", "ts": "2026-')
    (spool / "000000000008.jsonl").write_bytes(b"")  # killed right after opening a fresh segment
    (spool / "000000000009.jsonl").write_bytes(b"\x00\x00\x00\n")  # zeroed blocks after a power cut
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        ids = ledger.connection.execute("SELECT request_id FROM usage_events ORDER BY 1").fetchall()
        assert ids == [("spooled",), ("stored",)]
    assert [p.name for p in spool.glob("*.jsonl")] == []


def test_fsync_every_record_mode(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, fsync_ms=0) as ledger:
        for index in range(5):
            ledger.record(make_event(request_id=f"r{index}"))
        ledger.flush()
        assert _count(ledger) == (5, 5)


def test_idle_writer_sleeps_between_fsyncs_and_batches(tmp_path: Path) -> None:
    # The writer once computed its timeout from the older of its two deadlines and, between an
    # fsync and the next batch, spun on a zero wait: half a core taken from the gateway. A writer
    # that sleeps until its next deadline wakes about once per 20 ms fsync interval (a busy machine
    # makes that fewer, never more; twice that is the bound); a spinning one wakes many thousand times.
    # Its CPU time is measured in tests/bench/bench_ledger.py.
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        writer = ledger._writer
        assert writer is not None
        ledger.record(make_event(request_id="one"))
        before, started = writer.wakeups, time.monotonic()
        time.sleep(1.0)
        woke, idle_s = writer.wakeups - before, time.monotonic() - started
    assert woke <= 2 * idle_s / 0.020 + 2, f"the idle ledger writer woke {woke} times in {idle_s:.2f} s"


def test_steady_traffic_is_committed_about_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each DuckDB commit costs ~9 ms of CPU whatever its size: committing every 200 ms gave 4.5% of
    # a core to it under steady traffic, taken from the models on the same machine.
    from verticals.ledger import sinks

    commits: list[int] = []
    ingest = sinks.ingest_segment

    def counted(conn: object, path: Path) -> None:
        commits.append(sum(1 for _ in path.open()))
        ingest(conn, path)

    monkeypatch.setattr(sinks, "ingest_segment", counted)
    started = time.monotonic()
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        for index in range(125):  # an event every 20 ms for 2.5 s (longer on a busy machine)
            ledger.record(make_event(request_id=f"steady-{index}"))
            time.sleep(0.02)
        in_background = len(commits)
        traffic_s = time.monotonic() - started
        ledger.flush()
        assert _count(ledger) == (125, 125)
    # At most one commit per 1 s batch interval, however long the traffic took; at least one.
    assert 1 <= in_background <= traffic_s + 1, f"{in_background} commits in {traffic_s:.1f} s: {commits}"


def test_closed_ledger_refuses_records(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path, fsync_ms=20)
    ledger.close()
    with pytest.raises(LedgerError, match="closed"):
        ledger.record(make_event())


def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    total = 3000
    child = subprocess.Popen(
        [sys.executable, str(CRASH_WRITER), str(tmp_path), str(total)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        acked = 0
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        for line in child.stdout:
            if line.strip() == "done":
                break
            acked = int(line) + 1
            assert time.monotonic() < deadline, "the crash writer is too slow"
        assert acked == total
        # while the writer holds the ledger, a second writer is told who has it and what to do
        with pytest.raises(LedgerError, match="in use by another process"):
            Ledger.open(tmp_path, fsync_ms=20)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    leftover = list((tmp_path / "ledger.spool").glob("*.jsonl"))
    assert leftover, "every event reached DuckDB before the kill: the test would not exercise the replay"
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        assert _count(ledger) == (total, total)
        assert ledger.connection.execute("SELECT sum(revenue_usd) FROM usage_events").fetchone() == (
            Decimal("0.000012") * total,
        )
