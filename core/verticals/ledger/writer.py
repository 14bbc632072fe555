"""The write-ahead spool and the background writer that moves usage events into the ledger's database.

``record`` appends one JSON line to the open spool segment with a single ``os.write`` (about a
microsecond) and returns: the kernel keeps that write across a ``kill -9`` of this process. What a
*machine* crash can lose is what was written but not yet fsynced; a background thread fsyncs the
segment every ``fsync_ms`` milliseconds (``spool_fsync_ms`` in the settings), so that window is at
most ``fsync_ms``. With ``fsync_ms = 0`` every ``record`` fsyncs before returning (about 180 us).

The writer thread rotates to a fresh segment every ``batch_ms`` (or sooner when ``max_batch``
events wait, or on ``flush``) and hands each closed segment, oldest first, to the ledger's
``EventSink``. DuckDB's (``DuckDBSink``) has DuckDB read the segment with ``read_json`` in one
``INSERT ... ON CONFLICT DO NOTHING`` (no per-event Python on the way in, so ingest runs at
DuckDB's speed). A commit costs about 9 ms of CPU whether it carries one event or two hundred, so
``batch_ms`` is a second: at 200 ms a busy gateway gave 4.5% of a core to DuckDB, taken from the
models beside it. PostgreSQL's (``verticals.ledger.postgres.ingest.PostgresSink``) COPYs the
segment into a staging table and inserts from there in one transaction. A segment is deleted only
after its commit. Readers that need every event so far (the admin API, the CLI) call ``flush`` first.

Segments left by a killed process are replayed the same way when the ledger next opens; the primary
key on ``request_id`` drops the events that had already been committed, so a replay never duplicates.

A sink that can come back (PostgreSQL: ``retry_failures``) never stops the writer: a failed commit
leaves the segment in the spool, ``record`` keeps appending (the gateway keeps serving), and the writer
tries again after 0.5 s, doubling to 10 s between tries, draining the backlog oldest first once the
server answers; replay at open does the same when the server is down then. ``flush`` during such an
outage raises LedgerError at once (after one try, bounded by the sink's connect timeout) saying the
events are safe in the spool, rather than waiting out the outage. DuckDB's failures are not transient:
there the writer stops and ``flush`` raises, as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from verticals.ledger.errors import LedgerError
from verticals.ledger.events import UsageEvent
from verticals.ledger.sinks import DuckDBSink, EventSink, ingest_segment

log = logging.getLogger(__name__)

_to_json = UsageEvent.__pydantic_serializer__.to_json

SpendTally = dict[tuple[str, int, int], Decimal]  # (customer, year, month) -> revenue not yet committed

# Seconds between tries while a retrying sink fails: doubling from the first to the last.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


class _Segment:
    def __init__(self, path: Path, fd: int | None, spend: SpendTally | None = None) -> None:
        self.path = path
        self.fd = fd  # None once closed (rotated, or left behind by an earlier process)
        self.count = 0
        self.spend: SpendTally = spend if spend is not None else {}
        self.dirty = False
        self.dir_synced = False

    @classmethod
    def create(cls, path: Path) -> _Segment:
        return cls(path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))

    @property
    def seq(self) -> int:
        return int(self.path.stem) if self.path.stem.isdigit() else 0


def _spend_of(path: Path) -> SpendTally:
    """The revenue per (customer, year, month) in a segment left behind; lines that do not parse count 0."""
    spend: SpendTally = {}
    with path.open("rb") as lines:
        for line in lines:
            try:
                data = json.loads(line)
                ts = datetime.fromisoformat(data["ts"]).astimezone(UTC)
                key = (str(data["customer"]), ts.year, ts.month)
                spend[key] = spend.get(key, Decimal(0)) + Decimal(data["revenue_usd"])
            except (ValueError, KeyError, TypeError, ArithmeticError):
                continue
    return spend


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolWriter:
    """Appends usage events to an on-disk spool in ``directory`` and commits them to ``sink`` (default
    ``DuckDBSink(conn)``, ``conn`` a DuckDB cursor of the writer's own) from a background thread.

    ``fsync_ms`` is the most milliseconds of written events a machine crash can lose (0: fsync every event);
    ``batch_ms`` (ms) and ``max_batch`` (events) decide when a segment is committed; ``commit_lock``
    serialises commits with other writers of the connection; ``on_commit`` gets the spend (USD, Decimal) per
    (customer, year, month) each commit added. See the module docstring for the numbers behind the defaults
    and for what happens while the sink is down. Raises LedgerError (or the sink's error) when a spool left
    behind cannot be replayed into a sink that does not retry.
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
        sink: EventSink | None = None,
    ) -> None:
        # DuckDB: a cursor of its own, as DuckDB connections are not shared across threads
        self._sink: EventSink = sink if sink is not None else DuckDBSink(conn)
        self._dir = directory
        self._fsync_s = fsync_ms / 1000
        self._batch_s = batch_ms / 1000
        self._max_batch = max_batch
        self._on_commit = on_commit
        # held while a batch is committed and leaves the pending list, so that a reader adding the
        # database's sums to unflushed_spend() never counts a batch twice or not at all
        self.commit_lock = commit_lock or threading.Lock()
        self._lock = threading.Lock()  # guards the current segment and the pending list
        self._wake = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None  # a failure of a sink that does not retry: fatal
        self._outage: BaseException | None = None  # the last failure of a retrying sink, None once it works
        self._retry_s = RETRY_FIRST_S
        self._retry_at = 0.0  # monotonic time of the next try while there is an outage
        self._flush_requested = 0
        self._flush_done = 0
        self._pending: list[_Segment] = []  # closed, not yet committed, oldest first
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
        segment = _Segment.create(self._dir / f"{self._seq:012d}.jsonl")
        self._seq += 1
        if self._fsync_s == 0:  # fsync-every-record mode: make the new file itself durable at once
            _fsync_directory(self._dir)
            segment.dir_synced = True
        return segment

    def _replay(self) -> int:
        """Commit the segments a previous process left behind, oldest first; returns how many there were.
        A retrying sink that fails keeps the rest pending, with their spend, for the writer thread."""
        paths = sorted(self._dir.glob("*.jsonl"))
        self._pending = [_Segment(path, None) for path in paths]
        if not self._drain() and self._pending:
            log.warning(
                "%d spooled segments in %s wait for %s (%s); the writer keeps trying",
                len(self._pending),
                self._dir,
                self._sink.describe(),
                self._outage,
            )
            for segment in self._pending:
                segment.spend = _spend_of(segment.path)
        return len(paths)

    # the request path

    def record(self, event: UsageEvent) -> None:
        """Append ``event`` to the spool (one ``os.write``; also an fsync when ``fsync_ms`` is 0) and add its
        ``revenue_usd`` to the segment's spend tally; the sink gets it at the next commit.

        Raises LedgerError when the writer is closed, or the write came out short (disk full).
        """
        line = _to_json(event) + b"\n"
        ts = event.ts  # UTC, as UsageEvent guarantees
        key = (event.customer, ts.year, ts.month)
        with self._lock:
            if self._closed:
                raise LedgerError("the ledger is closed: open it again with Ledger.open(home)")
            segment = self._segment
            assert segment.fd is not None  # the current segment is open until close()
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
        """Revenue recorded for ``customer`` in ``month`` that the database does not hold yet (spooled
        segments waiting out an outage included)."""
        key = (customer, month.year, month.month)
        with self._lock:
            segments = [*self._pending, self._segment]
            return sum((s.spend.get(key, Decimal(0)) for s in segments), Decimal(0))

    @property
    def backlog(self) -> int:
        """Closed spool segments waiting for the database (more than one or two: it is down or slow)."""
        with self._lock:
            return len(self._pending)

    def flush(self, timeout: float = 60.0) -> None:
        """Return once every event recorded before this call is committed.

        Raises LedgerError when the writer stopped, did not finish within ``timeout`` s, or a retrying sink
        is unreachable: that is raised after one try, at once, and says the events wait in the spool.
        """
        with self._lock:
            target = self._segment.seq  # the events so far are in this segment or older ones
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
        with self._lock:
            waiting = [s for s in self._pending if s.seq <= target]
            outage = self._outage
        if waiting:
            raise LedgerError(
                f"cannot reach {self._sink.describe()} ({_first_line(outage)}): the events recorded are safe "
                f"in the spool at {self._dir} ({len(waiting)} segments) and are written when it is back"
            )

    def close(self) -> None:
        """Commit everything recorded so far (``flush``), stop the writer thread and delete the empty spool
        segment; a second call does nothing. When a retrying sink is unreachable, the segments stay in the
        spool for the next open (logged, not raised); a stopped writer raises LedgerError as ``flush`` does.
        """
        if self._closed:
            return
        try:
            self.flush()
        except LedgerError:
            if self._error is not None:
                raise
            log.warning(
                "closing the ledger with %d segments spooled in %s for the next open", self.backlog, self._dir
            )
        finally:
            with self._lock:
                self._closed = True
            with self._wake:
                self._wake.notify()
            self._thread.join()
            assert self._segment.fd is not None
            os.close(self._segment.fd)
            if self._segment.count == 0:
                with contextlib.suppress(FileNotFoundError):
                    self._segment.path.unlink()
            self._sink.close()

    # the writer thread

    def _run(self) -> None:
        last_batch = last_fsync = time.monotonic()
        while True:
            with self._wake:
                # sleep until whichever is due first: the next fsync, the next batch, the next retry
                due = last_batch + self._batch_s
                if self._fsync_s:
                    due = min(due, last_fsync + self._fsync_s)
                if self._outage is not None:
                    due = min(due, self._retry_at)
                self._wake.wait(max(0.0, due - time.monotonic()))
                self.wakeups += 1
                ticket = self._flush_requested
                closed = self._closed
            now = time.monotonic()
            asked = ticket > self._flush_done or closed
            try:
                if self._fsync_s and now - last_fsync >= self._fsync_s:
                    self._fsync_current()
                    last_fsync = now
                full = self._segment.count >= self._max_batch
                if full or asked or now - last_batch >= self._batch_s:
                    self._rotate()
                    last_batch = now
                # in an outage a flush (or close) tries at once: it answers for the server as it is now
                if self._outage is None or asked or now >= self._retry_at:
                    self._drain()
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
        if dirty and segment.fd is not None:
            os.fsync(segment.fd)
        if not segment.dir_synced:
            _fsync_directory(self._dir)  # a new file survives a machine crash only with its directory entry
            segment.dir_synced = True

    def _rotate(self) -> None:
        """Close the current segment, if it holds events, onto the pending list; start a fresh one."""
        with self._lock:
            segment = self._segment
            if segment.count == 0:
                return
            self._segment = self._open_segment()
            self._pending.append(segment)
        # no record() writes to this segment any more: make it durable before anything commits it
        assert segment.fd is not None
        if segment.dirty:
            os.fsync(segment.fd)
        if not segment.dir_synced:
            _fsync_directory(self._dir)
        os.close(segment.fd)
        segment.fd = None

    def _drain(self) -> bool:
        """Commit the pending segments, oldest first, deleting each after its commit. True when all went;
        False when a retrying sink failed (the outage is noted and the next try scheduled). A sink that does
        not retry raises its error."""
        while True:
            with self._lock:
                if not self._pending:
                    break
                segment = self._pending[0]
            try:
                self._sink.prepare(segment.path)  # outside commit_lock: month_spend never waits on it
                with self.commit_lock:
                    self._sink.ingest(segment.path)
                    if self._on_commit is not None:
                        self._on_commit(segment.spend)
                    with self._lock:
                        self._pending.pop(0)
            except Exception as error:
                if not self._sink.retry_failures:
                    raise
                self._note_outage(error)
                return False
            segment.path.unlink()
        if self._outage is not None:
            log.warning("%s is back; the spool has drained", self._sink.describe())
            self._outage = None
            self._retry_s = RETRY_FIRST_S
        return True

    def _note_outage(self, error: Exception) -> None:
        if self._outage is None:
            log.warning(
                "cannot write usage events to %s (%s): they stay in the spool at %s; the writer keeps trying",
                self._sink.describe(),
                _first_line(error),
                self._dir,
            )
            self._retry_s = RETRY_FIRST_S
        else:
            self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
        self._outage = error
        self._retry_at = time.monotonic() + self._retry_s


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


__all__ = ["DuckDBSink", "EventSink", "SpendTally", "SpoolWriter", "ingest_segment"]
