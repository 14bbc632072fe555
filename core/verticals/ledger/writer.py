"""The write-ahead spool and the background writer that moves usage events into DuckDB.

``record`` appends one JSON line to the open spool segment with a single ``os.write`` (about a
microsecond) and returns: the kernel keeps that write across a ``kill -9`` of this process. What a
*machine* crash can lose is what was written but not yet fsynced; a background thread fsyncs the
segment every ``fsync_ms`` milliseconds (``spool_fsync_ms`` in the settings), so that window is at
most ``fsync_ms``. With ``fsync_ms = 0`` every ``record`` fsyncs before returning (about 180 us).

The writer thread rotates to a fresh segment every ``batch_ms`` (or sooner when ``max_batch``
events wait, or on ``flush``), has DuckDB read the closed segment with ``read_json`` in one
``INSERT ... ON CONFLICT DO NOTHING`` (no per-event Python on the way in, so ingest runs at
DuckDB's speed), commits, and deletes the segment. A commit costs about 9 ms of CPU whether it
carries one event or two hundred, so ``batch_ms`` is a second: at 200 ms a busy gateway gave 4.5%
of a core to DuckDB, taken from the models beside it. Readers that need every event so far (the
admin API, the CLI) call ``flush`` first. Segments left by a killed process are replayed
the same way when the ledger next opens; the primary key on ``request_id`` drops the events that
had already reached DuckDB, so a replay never duplicates.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from verticals.ledger.errors import LedgerError
from verticals.ledger.events import EVENT_COLUMNS, UsageEvent

_COLUMNS = ", ".join(EVENT_COLUMNS)
# The column list is our own constant; the segment path and column types go in as parameters.
_INSERT = (
    f"INSERT INTO usage_events ({_COLUMNS}) SELECT {_COLUMNS} "  # noqa: S608
    "FROM read_json(?, format = 'newline_delimited', columns = ?, ignore_errors = true) "
    "WHERE request_id IS NOT NULL ON CONFLICT DO NOTHING"
)
_to_json = UsageEvent.__pydantic_serializer__.to_json

SpendTally = dict[tuple[str, int, int], Decimal]  # (customer, year, month) -> revenue not yet in DuckDB


def ingest_segment(conn: Any, path: Path) -> None:
    """Insert one spool segment's events into ``usage_events``, skipping request ids already there."""
    conn.execute(_INSERT, [str(path), EVENT_COLUMNS])


class _Segment:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.count = 0
        self.spend: SpendTally = {}
        self.dirty = False
        self.dir_synced = False


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolWriter:
    """Appends usage events to an on-disk spool in ``directory`` and moves them into DuckDB (``conn``) from a
    background thread.

    ``fsync_ms`` is the most milliseconds of written events a machine crash can lose (0: fsync every event);
    ``batch_ms`` (ms) and ``max_batch`` (events) decide when a segment is committed; ``commit_lock``
    serialises commits with other writers of the connection; ``on_commit`` gets the spend (USD, Decimal) per
    (customer, year, month) each commit added. See the module docstring for the numbers behind the defaults.
    """

    def __init__(
        self,
        conn: Any,
        directory: Path,
        *,
        fsync_ms: int,
        batch_ms: int = 1000,
        max_batch: int = 20_000,
        commit_lock: threading.Lock | None = None,
        on_commit: Callable[[SpendTally], None] | None = None,
    ) -> None:
        self._conn = conn  # a cursor of its own: DuckDB connections are not shared across threads
        self._dir = directory
        self._fsync_s = fsync_ms / 1000
        self._batch_s = batch_ms / 1000
        self._max_batch = max_batch
        self._on_commit = on_commit
        # held while a batch goes into DuckDB and leaves the pending list, so that a reader adding
        # DuckDB's sums to unflushed_spend() never counts a batch twice or not at all
        self.commit_lock = commit_lock or threading.Lock()
        self._lock = threading.Lock()  # guards the current segment: writes, tallies and rotation
        self._wake = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None
        self._flush_requested = 0
        self._flush_done = 0
        self._pending: list[_Segment] = []  # rotated, not yet committed
        #: how often the writer thread has woken up: once per fsync or batch deadline, or when asked
        #: (a flush, a full batch, close). More means it spins, taking a core from the gateway.
        self.wakeups = 0
        directory.mkdir(parents=True, exist_ok=True)
        self.replayed = self._replay()
        self._seq = self._next_seq()
        self._segment = self._open_segment()
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def _next_seq(self) -> int:
        numbers = [int(p.stem) for p in self._dir.glob("*.jsonl") if p.stem.isdigit()]
        return max(numbers, default=0) + 1

    def _open_segment(self) -> _Segment:
        segment = _Segment(self._dir / f"{self._seq:012d}.jsonl")
        self._seq += 1
        if self._fsync_s == 0:  # fsync-every-record mode: make the new file itself durable at once
            _fsync_directory(self._dir)
            segment.dir_synced = True
        return segment

    def _replay(self) -> int:
        """Move segments a previous process left behind into DuckDB, oldest first; returns how many."""
        paths = sorted(self._dir.glob("*.jsonl"))
        for path in paths:
            ingest_segment(self._conn, path)
            path.unlink()
        return len(paths)

    # the request path

    def record(self, event: UsageEvent) -> None:
        """Append ``event`` to the spool (one ``os.write``; also an fsync when ``fsync_ms`` is 0) and add its
        ``revenue_usd`` to the segment's spend tally; DuckDB gets it at the next commit.

        Raises LedgerError when the writer is closed, or the write came out short (disk full).
        """
        line = _to_json(event) + b"\n"
        ts = event.ts  # UTC, as UsageEvent guarantees
        key = (event.customer, ts.year, ts.month)
        with self._lock:
            if self._closed:
                raise LedgerError("the ledger is closed: open it again with Ledger.open(home)")
            segment = self._segment
            if os.write(segment.fd, line) != len(line):
                # a regular file only writes short when the disk is full; the torn line is skipped at replay
                raise LedgerError(f"the ledger spool in {self._dir} is full: free disk space")
            if self._fsync_s == 0:
                os.fsync(segment.fd)
            else:
                segment.dirty = True
            segment.count += 1
            segment.spend[key] = segment.spend.get(key, Decimal(0)) + event.revenue_usd
            wake = segment.count >= self._max_batch
        if wake:
            with self._wake:
                self._wake.notify()

    def unflushed_spend(self, customer: str, month: datetime) -> Decimal:
        """Revenue recorded for ``customer`` in ``month`` that DuckDB does not hold yet."""
        key = (customer, month.year, month.month)
        with self._lock:
            segments = [*self._pending, self._segment]
            return sum((s.spend.get(key, Decimal(0)) for s in segments), Decimal(0))

    def flush(self, timeout: float = 60.0) -> None:
        """Return once every event recorded before this call is committed to DuckDB."""
        with self._wake:
            self._flush_requested += 1
            ticket = self._flush_requested
            self._wake.notify()
            deadline = time.monotonic() + timeout
            while self._flush_done < ticket and self._error is None:
                if not self._wake.wait(deadline - time.monotonic()):
                    raise LedgerError(f"ledger writer did not flush within {timeout} s")
        if self._error is not None:
            raise LedgerError(f"the ledger writer stopped: {self._error}") from self._error

    def close(self) -> None:
        """Commit everything recorded so far (``flush``), stop the writer thread and delete the empty spool
        segment; a second call does nothing.
        """
        if self._closed:
            return
        self.flush()
        with self._lock:
            self._closed = True
        with self._wake:
            self._wake.notify()
        self._thread.join()
        os.close(self._segment.fd)
        with contextlib.suppress(FileNotFoundError):
            self._segment.path.unlink()

    # the writer thread

    def _run(self) -> None:
        last_batch = last_fsync = time.monotonic()
        while True:
            with self._wake:
                # sleep until whichever is due first, the next fsync or the next batch
                due = last_batch + self._batch_s
                if self._fsync_s:
                    due = min(due, last_fsync + self._fsync_s)
                self._wake.wait(max(0.0, due - time.monotonic()))
                self.wakeups += 1
                ticket = self._flush_requested
                closed = self._closed
            now = time.monotonic()
            try:
                if self._fsync_s and now - last_fsync >= self._fsync_s:
                    self._fsync_current()
                    last_fsync = now
                full = self._segment.count >= self._max_batch
                if full or ticket > self._flush_done or now - last_batch >= self._batch_s or closed:
                    self._commit_batch()
                    last_batch = now
            except BaseException as error:  # a dead writer must fail flush() loudly, not hang it
                self._error = error
            with self._wake:
                self._flush_done = max(self._flush_done, ticket)
                self._wake.notify_all()
            if closed or self._error is not None:
                return

    def _fsync_current(self) -> None:
        # Only this thread rotates and closes segments, so the fd stays open while it is fsynced
        # here, outside the lock that record() takes.
        with self._lock:
            segment = self._segment
            dirty, segment.dirty = segment.dirty, False
        if dirty:
            os.fsync(segment.fd)
        if not segment.dir_synced:
            _fsync_directory(self._dir)  # a new file survives a machine crash only with its directory entry
            segment.dir_synced = True

    def _commit_batch(self) -> None:
        with self._lock:
            segment = self._segment
            if segment.count == 0:
                return
            self._segment = self._open_segment()
            self._pending.append(segment)
        # no record() writes to this segment any more: make it durable, then move it into DuckDB
        if segment.dirty:
            os.fsync(segment.fd)
        os.close(segment.fd)
        with self.commit_lock:
            ingest_segment(self._conn, segment.path)
            if self._on_commit is not None:
                self._on_commit(segment.spend)
            with self._lock:
                self._pending.remove(segment)
        segment.path.unlink()
