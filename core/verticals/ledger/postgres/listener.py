"""Changes to the shared ledger, heard by every replica within a second: LISTEN on ``verticals_changes``.

Migration 0003 makes PostgreSQL announce each row written to a control table (customers, keys, plans,
books, subscriptions, credits, invoices) as ``<table>:<customer>`` at commit, whoever wrote it: a
replica, the CLI, the admin API or psql. ``ChangeListener`` holds one dedicated connection doing LISTEN in
a daemon thread and hands each burst of notifications, as one ``Change``, to ``deliver`` (the ledger,
which reloads its caches and runs its ``on_change`` callbacks). When the connection breaks it reconnects
with backoff (0.1 s doubling to 5 s) and then delivers ``Change.everything``: notifications sent while it
was away are lost, so every cache must be read again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from verticals.ledger.changes import EVERYTHING, Change
from verticals.ledger.errors import LedgerError
from verticals.ledger.postgres.connection import open_psycopg, redacted

CHANNEL = "verticals_changes"
# A silent network (a server that vanished without closing the socket) shows only when we speak: ping
# the server after this long without a notification, and reconnect if that fails.
PING_S = 5.0
# After the first notification of a burst, keep reading this long so a burst is one reload, not many.
BURST_S = 0.02
BACKOFF_S = (0.1, 5.0)

log = logging.getLogger(__name__)


class ChangeListener:
    """A daemon thread LISTENing on ``CHANNEL`` at ``url``; ``deliver(change)`` runs in that thread for each
    burst (an exception it raises is logged, never stops the listener). ``start()`` returns once the first
    LISTEN is in place (or raises LedgerError when the server cannot be reached), so no change committed
    after ``start()`` is missed; ``close()`` stops the thread within moments.
    """

    def __init__(self, url: str, deliver: Callable[[Change], None]) -> None:
        self.url = url
        self._deliver = deliver
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None

    def start(self) -> None:
        """Connect, LISTEN, and start the thread. Raises LedgerError when the server cannot be reached."""
        self._conn = self._listen()
        self._thread = threading.Thread(target=self._run, name="verticals-ledger-changes", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and close its connection; a second call does nothing."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"x")
        if self._thread is not None:
            self._thread.join(timeout=10)
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _listen(self) -> psycopg.Connection[Any]:
        conn = open_psycopg(self.url)
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            conn.close()
            raise
        return conn

    def _run(self) -> None:
        delay = BACKOFF_S[0]
        while not self._stopping.is_set():
            conn = self._conn
            if conn is None:
                try:
                    conn = self._conn = self._listen()
                except (LedgerError, psycopg.Error) as error:
                    log.warning("ledger change listener: %s; retrying in %.1f s", error, delay)
                    self._stopping.wait(delay)
                    delay = min(delay * 2, BACKOFF_S[1])
                    continue
                delay = BACKOFF_S[0]
                self._hand_over(EVERYTHING)  # whatever changed while it was away was not heard
            try:
                self._serve(conn)
            except psycopg.Error as error:
                log.warning("ledger change listener lost %s: %s", redacted(self.url), error)
            with contextlib.suppress(Exception):
                conn.close()
            self._conn = None

    def _serve(self, conn: psycopg.Connection[Any]) -> None:
        """Deliver bursts of notifications until stopped (returns) or the connection breaks (raises)."""
        while not self._stopping.is_set():
            ready, _, _ = select.select([conn.fileno(), self._wake_read], [], [], PING_S)
            if self._wake_read in ready:
                return
            if not ready:
                # raises when the server went away silently; a notification that arrives meanwhile waits
                # in psycopg's backlog, which the notifies() below reads first
                conn.execute("SELECT 1")
            payloads = [n.payload for n in conn.notifies(timeout=0)]
            deadline = time.monotonic() + BURST_S
            while (left := deadline - time.monotonic()) > 0:
                more, _, _ = select.select([conn.fileno()], [], [], left)
                if not more:
                    break
                payloads.extend(n.payload for n in conn.notifies(timeout=0))
            if payloads:
                self._hand_over(Change.of(payloads))

    def _hand_over(self, change: Change) -> None:
        try:
            self._deliver(change)
        except Exception:  # a failing callback must not stop the replica hearing later changes
            log.exception("a ledger change callback failed on %s", change)
