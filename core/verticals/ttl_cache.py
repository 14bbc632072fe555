"""``TTLCache``: values looked up in the ledger, kept for a few seconds so a request does not query it::

    customers = TTLCache[str, Customer](ttl_s=2.0)
    customer = customers.get(name, lambda: ledger.get_customer(name))

An entry is served while it is younger than ``ttl_s`` (seconds on the monotonic clock, taken before
the load) and, when ``get`` is given a ``valid`` check, while that check holds for it: the price
cache uses it to drop a price at the next effective date the book knows of. When a reload fails with
one of the ``stale_on`` exceptions (the ledger's database is away), the last value is served instead:
HTTP's stale-if-error (RFC 5861), so that a database outage does not stop requests the cache can answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """A dict of values, each loaded at most once per ``ttl_s`` seconds. Not thread-safe: the gateway
    calls it from its event loop only."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(
        self,
        key: K,
        load: Callable[[], V],
        valid: Callable[[V], bool] | None = None,
        stale_on: tuple[type[BaseException], ...] = (),
    ) -> V:
        """The cached value for ``key`` when it is fresh (and ``valid(value)``), else ``load()``,
        stored with the time this call started. When ``load`` raises one of ``stale_on`` and a value was
        cached (however old), that value is returned; other exceptions propagate and nothing is stored."""
        now = self._clock()
        cached = self._entries.get(key)
        if cached is not None and now - cached[0] < self.ttl_s and (valid is None or valid(cached[1])):
            return cached[1]
        try:
            value = load()
        except stale_on:
            if cached is None:
                raise
            return cached[1]
        self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        """Forget every entry: the next ``get`` of each key loads again."""
        self._entries.clear()
