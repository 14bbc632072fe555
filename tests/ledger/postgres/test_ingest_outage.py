"""The spool writer on PostgreSQL survives what a server and a process do: kill -9 mid-load, the server
stopped under load, a spool left behind while the server is down. Every acknowledged event ends up in
usage_events exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from verticals.ledger.errors import LedgerError
from verticals.ledger.postgres.ingest import PostgresSink
from verticals.ledger.writer import SpoolWriter

from .ingest_helpers import EPOCH, assert_rollup_matches_events, event, migrated, request_ids, write_segment

CRASH_WRITER = Path(__file__).with_name("crash_pg_writer.py")


class _Load:
    """Records events from a thread, one every millisecond or so, keeping the ids ``record`` acknowledged."""

    def __init__(self, writer: SpoolWriter) -> None:
        self.writer = writer
        self.acked: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            recorded = event(index)
            self.writer.record(recorded)
            self.acked.append(recorded.request_id)
            index += 1
            time.sleep(0.001)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join()
        return self.acked


def _outage_under_load(database_url: str, server: Any, spool: Path, outage_s: float) -> None:
    migrated(database_url)
    writer = SpoolWriter(None, spool, fsync_ms=20, batch_ms=200, sink=PostgresSink(database_url))
    load = _Load(writer)
    down = False
    try:
        time.sleep(0.5)
        server.stop()
        down = True
        during = len(load.acked)
        time.sleep(outage_s)
        assert len(load.acked) > during, "record() stopped accepting events while PostgreSQL was down"
        with pytest.raises(LedgerError, match="safe in the spool"):
            writer.flush()
        assert writer.backlog > 0
        server.start()
        down = False
        time.sleep(0.5)
    finally:
        if down:
            server.start()  # the server is the whole session's: always bring it back
        acked = load.stop()
    writer.flush()
    assert writer.backlog == 0
    writer.close()
    stored = request_ids(database_url)
    assert len(stored) == len(set(stored)) == len(acked)
    assert set(stored) == set(acked)
    assert_rollup_matches_events(database_url)
    assert list(spool.glob("*.jsonl")) == []


def test_postgres_stopped_under_load_loses_nothing(
    database_url: str, postgres_server: Any, tmp_path: Path
) -> None:
    _outage_under_load(database_url, postgres_server, tmp_path / "spool", outage_s=3)


@pytest.mark.slow
def test_postgres_stopped_30_s_under_load_loses_nothing(
    database_url: str, postgres_server: Any, tmp_path: Path
) -> None:
    _outage_under_load(database_url, postgres_server, tmp_path / "spool", outage_s=30)


def test_a_spool_left_behind_waits_while_postgres_is_down(
    database_url: str, postgres_server: Any, tmp_path: Path
) -> None:
    migrated(database_url)
    spool = tmp_path / "spool"
    spool.mkdir()
    left = [event(i, customer="acme") for i in range(500)]
    write_segment(spool / "000000000001.jsonl", left[:300])
    write_segment(spool / "000000000002.jsonl", left[300:], tail=b'{"request_id": "torn')
    month = EPOCH.replace(day=1, hour=0, minute=0)
    november = sum((e.revenue_usd for e in left if e.ts.month == 11), Decimal(0))
    postgres_server.stop()
    try:
        writer = SpoolWriter(None, spool, fsync_ms=20, sink=PostgresSink(database_url))  # does not raise
        assert (writer.replayed, writer.backlog) == (2, 2)
        # the spooled revenue still counts for budgets while it waits
        assert writer.unflushed_spend("acme", month) == november
        writer.record(event(1000, customer="acme"))
        with pytest.raises(LedgerError, match="safe in the spool"):
            writer.flush()
    finally:
        postgres_server.start()
    writer.flush()
    writer.close()
    expected = [e.request_id for e in left] + [event(1000).request_id]
    assert sorted(request_ids(database_url)) == sorted(expected)
    assert list(spool.glob("*.jsonl")) == []


def test_acknowledged_events_survive_kill_9_of_the_writer(database_url: str, tmp_path: Path) -> None:
    migrated(database_url)
    spool = tmp_path / "spool"
    child = subprocess.Popen(
        [sys.executable, str(CRASH_WRITER), str(spool), database_url], stdout=subprocess.PIPE, text=True
    )
    acked: list[str] = []
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 120
        for line in child.stdout:
            acked.append(line.strip())
            if len(acked) >= 4000:
                break
            assert time.monotonic() < deadline, "the crash writer is too slow"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        acked.extend(line.strip() for line in child.stdout)  # printed before the kill: acknowledged too
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert list(spool.glob("*.jsonl")), "nothing was left in the spool: the test would not exercise replay"
    assert request_ids(database_url), "nothing was committed before the kill: the test would not dedupe"
    writer = SpoolWriter(None, spool, fsync_ms=20, sink=PostgresSink(database_url))
    writer.flush()
    writer.close()
    stored = request_ids(database_url)
    assert len(stored) == len(set(stored))
    assert set(acked) <= set(stored)
    assert_rollup_matches_events(database_url)
