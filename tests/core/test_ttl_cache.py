"""The one time-limited cache the gateway keeps its ledger lookups in."""

from __future__ import annotations

import pytest

from verticals.ttl_cache import TTLCache


def test_a_value_is_loaded_once_per_ttl() -> None:
    now = [100.0]  # a monotonic clock the test moves by hand
    loads: list[float] = []
    cache: TTLCache[str, int] = TTLCache(2.0, lambda: now[0])

    def load() -> int:
        loads.append(now[0])
        return len(loads)

    assert cache.get("a", load) == 1
    now[0] += 1.5
    assert cache.get("a", load) == 1
    now[0] += 0.5  # 2 s after the load: stale
    assert cache.get("a", load) == 2
    assert cache.get("b", load) == 3  # keys are apart
    assert loads == [100.0, 102.0, 102.0]


def test_an_entry_that_is_no_longer_valid_is_loaded_again() -> None:
    cache: TTLCache[str, int] = TTLCache(60.0, lambda: 0.0)
    assert cache.get("a", lambda: 1) == 1
    assert cache.get("a", lambda: 2, lambda value: value == 1) == 1
    assert cache.get("a", lambda: 3, lambda value: value != 1) == 3


def test_clear_forgets_every_entry() -> None:
    cache: TTLCache[str, int] = TTLCache(60.0, lambda: 0.0)
    cache.get("a", lambda: 1)
    cache.clear()
    assert cache.get("a", lambda: 2) == 2


def test_a_failed_reload_serves_the_last_value_for_the_named_errors_only() -> None:
    from verticals.ledger.errors import LedgerUnavailable

    now = [0.0]
    cache: TTLCache[str, int] = TTLCache(ttl_s=1.0, clock=lambda: now[0])
    assert cache.get("a", lambda: 1, stale_on=(LedgerUnavailable,)) == 1
    now[0] = 5.0

    def down() -> int:
        raise LedgerUnavailable("the database is away")

    assert cache.get("a", down, stale_on=(LedgerUnavailable,)) == 1  # stale-if-error
    with pytest.raises(LedgerUnavailable):
        cache.get("b", down, stale_on=(LedgerUnavailable,))  # nothing to fall back on
    with pytest.raises(LedgerUnavailable):
        cache.get("a", down)  # not named: propagates
    assert cache.get("a", lambda: 2, stale_on=(LedgerUnavailable,)) == 2  # back: loads again
