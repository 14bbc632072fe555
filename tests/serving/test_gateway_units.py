"""The gateway's pieces on their own: dynamic batcher, busy-time allocation, limits and budgets."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from verticals.adapters import AdapterError
from verticals.serving.backends.batcher import DynamicBatcher
from verticals.serving.backends.vllm.busy import BusyClock
from verticals.serving.limits import InMemoryLimits, OverBudget, RateLimited

from .stepped import at_once


class Recorder:
    """A predictor that remembers its batch sizes and takes a fixed time per batch."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.sizes: list[int] = []
        self.seconds = seconds
        self.threads: set[str] = set()

    def __call__(self, batch: Sequence[Any]) -> list[Any]:
        self.sizes.append(len(batch))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        for item in batch:
            if item == "bad":
                raise AdapterError("'bad' is not a valid input")
        return [f"out:{item}" for item in batch]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_concurrent_items_share_a_batch_and_its_time() -> None:
    predict = Recorder(0.05)

    async def main() -> list[Any]:
        batcher = DynamicBatcher(
            predict, max_batch_size=8, max_wait_s=0.01, units=lambda item: float(len(item))
        )
        results = await asyncio.gather(*(batcher.submit(x) for x in ["a", "bb", "c", "dddd"]))
        await batcher.stop()
        return results

    results = run(main())
    assert [r.output for r in results] == ["out:a", "out:bb", "out:c", "out:dddd"]
    assert predict.sizes == [4]
    total = sum(r.compute_seconds for r in results)
    assert total >= 0.05  # the one batch's measured time (a 0.05 s sleep), shared out
    # shared by units: "dddd" is four of the eight units
    assert results[3].compute_seconds == pytest.approx(total / 2)
    assert all(r.batch_size == 4 for r in results)
    assert not any(name.startswith("MainThread") for name in predict.threads)  # off the event loop


def test_max_batch_size_splits_and_the_next_batch_fills_while_one_runs() -> None:
    predict = Recorder(0.02)

    async def main() -> None:
        batcher = DynamicBatcher(predict, max_batch_size=4, max_wait_s=0.005)
        await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        await batcher.stop()

    run(main())
    assert sum(predict.sizes) == 10 and max(predict.sizes) <= 4 and len(predict.sizes) <= 4


def test_a_lone_request_waits_for_company_then_goes_alone() -> None:
    # How long it waits is measured in tests/bench/bench_timing.py; here, that it waits at all.
    predict = Recorder(0.0)

    async def main() -> tuple[list[int], int]:
        waiting = DynamicBatcher(predict, max_batch_size=2, max_wait_s=600.0)
        first = asyncio.ensure_future(waiting.submit("x"))
        await asyncio.sleep(0.05)  # the worker has taken "x" and waits: a full batch ends the wait
        second = await waiting.submit("y")
        assert (await first).batch_size == second.batch_size == 2
        await waiting.stop()
        alone = DynamicBatcher(predict, max_batch_size=64, max_wait_s=0.01)
        result = await alone.submit("z")  # nobody else comes: it goes alone once max_wait passed
        await alone.stop()
        return predict.sizes, result.batch_size

    sizes, alone = run(main())
    assert sizes == [2, 1] and alone == 1


def test_one_bad_item_fails_alone() -> None:
    async def main() -> list[Any]:
        batcher = DynamicBatcher(Recorder(0.0), max_batch_size=8, max_wait_s=0.01)
        results = await asyncio.gather(
            *(batcher.submit(x) for x in ["a", "bad", "c"]), return_exceptions=True
        )
        await batcher.stop()
        return results

    good, bad, other = run(main())
    assert good.output == "out:a" and other.output == "out:c"
    assert isinstance(bad, AdapterError)


def test_batcher_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        DynamicBatcher(Recorder(), max_batch_size=0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_busy_time_is_split_among_requests_in_flight() -> None:
    clock = FakeClock()
    busy = BusyClock(clock)
    busy.begin("a")
    clock.now = 1.0
    busy.begin("b")  # a alone for 1 s
    clock.now = 3.0
    busy.tokens("a", 10)
    busy.tokens("b", 30)  # 2 s shared 1:3 by tokens
    a = busy.end("a")
    clock.now = 4.0
    b = busy.end("b")  # b alone for 1 s
    clock.now = 10.0  # idle: allocated to nobody
    busy.begin("c")
    clock.now = 10.5
    c = busy.end("c")
    assert a == pytest.approx(1.0 + 0.5)
    assert b == pytest.approx(1.5 + 1.0)
    assert c == pytest.approx(0.5)
    assert a + b + c == pytest.approx(busy.busy_seconds) == pytest.approx(4.5)


def test_busy_time_without_tokens_is_split_equally() -> None:
    clock = FakeClock()
    busy = BusyClock(clock)
    busy.begin("a")
    busy.begin("b")
    clock.now = 2.0
    assert busy.end("a") == pytest.approx(1.0)
    assert busy.end("b") == pytest.approx(1.0)


def test_rpm_window_slides() -> None:
    clock = FakeClock()
    limits = InMemoryLimits(clock=clock)
    for _ in range(2):
        at_once(limits.admit("k", rpm=2, tpm=None))
    with pytest.raises(RateLimited) as refused:
        at_once(limits.admit("k", rpm=2, tpm=None))
    assert refused.value.retry_after == 60
    clock.now = 60.5
    at_once(limits.admit("k", rpm=2, tpm=None))


def test_tpm_counts_tokens_used() -> None:
    clock = FakeClock()
    limits = InMemoryLimits(clock=clock)
    at_once(limits.settle_tokens(at_once(limits.admit("k", rpm=None, tpm=100, tokens=100)), 100))
    clock.now = 20.0
    with pytest.raises(RateLimited) as refused:
        at_once(limits.admit("k", rpm=None, tpm=100))
    assert refused.value.retry_after == 40
    clock.now = 61.0
    at_once(limits.admit("k", rpm=None, tpm=100))


def test_tpm_holds_the_worst_case_until_settled_or_released() -> None:
    clock = FakeClock()
    limits = InMemoryLimits(clock=clock)
    first = at_once(limits.admit("k", rpm=None, tpm=30, tokens=20))
    with pytest.raises(RateLimited, match="20 are held by requests in flight"):
        at_once(limits.admit("k", rpm=None, tpm=30, tokens=20))
    at_once(limits.settle_tokens(first, 8))  # used less than its worst case: the rest is free again
    second = at_once(limits.admit("k", rpm=None, tpm=30, tokens=20))
    at_once(limits.release_tokens(second))  # a failed request uses nothing
    at_once(limits.release_tokens(second))  # twice is harmless
    third = at_once(limits.admit("k", rpm=None, tpm=30, tokens=22))
    at_once(limits.settle_tokens(third, 500))  # a backend past max_tokens: counted up to the hold
    assert limits.usage("k") == (30, 0)
    with pytest.raises(RateLimited) as too_large:
        at_once(limits.admit("other", rpm=None, tpm=30, tokens=31))
    assert too_large.value.retry_after is None and "lower max_tokens" in str(too_large.value)


def test_forgetting_a_customer_keeps_its_open_reservations() -> None:
    limits = InMemoryLimits()
    spent = Decimal("0.10")
    budget = Decimal("1.00")
    held = at_once(limits.reserve("c", budget, Decimal("0.80"), lambda: spent))
    limits.forget("c")  # an admin edit: spend is read again, the reservation stays
    spent = Decimal("0.15")  # the ledger's figure has moved on
    with pytest.raises(OverBudget):
        at_once(limits.reserve("c", budget, Decimal("0.10"), lambda: spent))
    at_once(limits.settle(held, Decimal("5.00")))  # never more than reserved
    assert limits.account("c") == (Decimal("0.95"), Decimal(0))


def test_reservations_cannot_overshoot_and_settle_or_release() -> None:
    limits = InMemoryLimits()
    spent = Decimal("1.00")
    budget = Decimal("2.00")
    first = at_once(limits.reserve("c", budget, Decimal("0.60"), lambda: spent))
    second = at_once(limits.reserve("c", budget, Decimal("0.40"), lambda: spent))
    with pytest.raises(OverBudget, match=r"\$0.000000 of its \$2.00"):
        at_once(limits.reserve("c", budget, Decimal("0.01"), lambda: spent))
    at_once(limits.settle(first, Decimal("0.10")))  # actual cost below the worst case frees the rest
    at_once(limits.release(second))  # a failed request frees all of its reservation
    at_once(limits.release(second))  # twice is harmless
    third = at_once(limits.reserve("c", budget, Decimal("0.90"), lambda: spent))
    assert third.amount == Decimal("0.90")
    with pytest.raises(OverBudget):
        at_once(limits.reserve("c", budget, Decimal("0.01"), lambda: spent))
    assert at_once(limits.reserve("unlimited", None, Decimal("1000"), lambda: Decimal(0))).open
