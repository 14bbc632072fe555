"""How vLLM compute seconds are allocated: each request's share of the engine's measured busy time.

The engine is busy whenever at least one request is in flight to it; that wall time is the
measured busy time. It is cut into slices at every request start and end, and each slice is split
among the requests in flight during it, in proportion to the tokens each received in that slice
(equally when none were seen, e.g. all still in prefill or not streamed). vLLM advances every
running sequence by one token per engine step (continuous batching), so the token split follows the
engine's work. The allocations of a run add up to its busy time exactly; idle time between requests
is allocated to nobody and shows up in the ledger as idle capacity cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class _Share:
    __slots__ = ("seconds", "tokens")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.tokens = 0.0


class BusyClock:
    """Allocates an engine's measured busy time (seconds, from ``clock``, default ``time.perf_counter``) to
    the requests in flight, in proportion to the tokens each got per slice (see the module docstring);
    ``busy_seconds`` is the total busy time so far.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._active: dict[str, _Share] = {}
        self._last = clock()
        self.busy_seconds = 0.0

    def begin(self, request_id: str) -> None:
        """Start tracking ``request_id``: time up to now is allocated among the requests already in flight,
        and a new slice starts.
        """
        self._advance()
        self._active[request_id] = _Share()

    def tokens(self, request_id: str, count: float) -> None:
        """Count ``count`` tokens received for ``request_id`` in the current slice (weights its share of it);
        unknown ids and counts of 0 or less are ignored.
        """
        share = self._active.get(request_id)
        if share is not None and count > 0:
            share.tokens += count

    def end(self, request_id: str) -> float:
        """Close the request's account; returns its allocated compute seconds."""
        self._advance()
        share = self._active.pop(request_id, None)
        return share.seconds if share is not None else 0.0

    @property
    def in_flight(self) -> int:
        """How many requests are being tracked (begun and not yet ended)."""
        return len(self._active)

    def _advance(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        self._last = now
        if not self._active or elapsed <= 0:
            return
        self.busy_seconds += elapsed
        shares = self._active.values()
        total = sum(s.tokens for s in shares)
        if total > 0:
            for share in shares:
                share.seconds += elapsed * share.tokens / total
                share.tokens = 0.0
        else:
            each = elapsed / len(self._active)
            for share in shares:
                share.seconds += each
