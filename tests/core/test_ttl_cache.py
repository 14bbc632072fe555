"""The one time-limited cache the gateway keeps its ledger lookups in."""

from __future__ import annotations

from verticals.ttl_cache import TTLCache


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_loaded_once_per_ttl() -> None:
    clock, loads = Clock(), []
    cache: TTLCache[str, int] = TTLCache(2.0, clock)

    def load() -> int:
        loads.append(clock.now)
        return len(loads)

    assert cache.get("a", load) == 1
    clock.now += 1.5
    assert cache.get("a", load) == 1
    clock.now += 0.5  # 2 s after the load: stale
    assert cache.get("a", load) == 2
    assert cache.get("b", load) == 3  # keys are apart
    assert loads == [100.0, 102.0, 102.0]


def test_an_entry_that_is_no_longer_valid_is_loaded_again() -> None:
    cache: TTLCache[str, int] = TTLCache(60.0, Clock())
    assert cache.get("a", lambda: 1) == 1
    assert cache.get("a", lambda: 2, lambda value: value == 1) == 1
    assert cache.get("a", lambda: 3, lambda value: value != 1) == 3


def test_clear_forgets_every_entry() -> None:
    cache: TTLCache[str, int] = TTLCache(60.0, Clock())
    cache.get("a", lambda: 1)
    cache.clear()
    assert cache.get("a", lambda: 2) == 2
