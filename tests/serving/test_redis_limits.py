"""``RedisLimits`` against a real Redis (the session's ``redis-server`` on loopback): three instances stand
for three gateway replicas sharing it, each with its own connections.

What must hold: one budget and one tpm for all replicas together (never N times them), settles counted
once per request id, a dead replica's reservations freed at their deadline, the month's spend seeded again
from the ledger when Redis lost it, and credits counted as in process.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import redis

from verticals.serving.limits import OverBudget, RateLimited, Reservation, TokenHold
from verticals.serving.limits.redis import RESERVATION_DEADLINE_S, RedisLimits

MONTH = "2030-01"
RANDOM = random.Random(18)
NANO = Decimal("1e-9")
T = TypeVar("T")


def replicas(url: str, count: int = 3, **kwargs: Any) -> list[RedisLimits]:
    """``count`` RedisLimits on one Redis, as ``count`` gateway replicas would hold them."""
    return [RedisLimits(url, month=lambda: MONTH, **kwargs) for _ in range(count)]


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


async def close_all(limits: list[RedisLimits]) -> None:
    for each in limits:
        await each.close()


def spent_nano(url: str, customer: str, month: str = MONTH) -> int | None:
    """The customer-month's spend counter in Redis, in nano-USD, read with a client of the test's own."""
    key = RedisLimits(url).budget_keys(customer, month)[0]
    with redis.Redis.from_url(url) as client:
        found = client.get(key)
    return None if found is None else int(found)


async def outcome(step: Awaitable[T]) -> T | Exception:
    try:
        return await step
    except (OverBudget, RateLimited) as refused:
        return refused


def test_three_replicas_hold_one_budget_against_300_concurrent_requests(redis_url: str) -> None:
    amount = Decimal("0.000123457")  # 123,457 nano-USD: the budget fits 10, not 11
    budget = amount * 10 + Decimal("0.0001")

    async def main() -> None:
        limits = replicas(redis_url)
        seed = Decimal("0.5")
        tries = [
            outcome(
                limits[i % 3].reserve(
                    "acme", budget + seed, amount, lambda: seed, MONTH, request_id=f"req-{i}"
                )
            )
            for i in range(300)
        ]
        results = await asyncio.gather(*tries)
        admitted = [r for r in results if isinstance(r, Reservation)]
        refused = [r for r in results if isinstance(r, OverBudget)]
        assert len(admitted) == 10 and len(refused) == 290
        assert "reserved by requests in flight" in str(refused[0])
        # each settles what it actually cost, at most its reservation (one asks for more: a backend overrun)
        # revenue as the meter has it, quantized to the ledger's 9 places
        actual = [(amount * RANDOM.randint(0, 1000) / 1000).quantize(NANO) for _ in admitted]
        actual[0] = amount * 3
        await asyncio.gather(
            *(limits[i % 3].settle(r, cost) for i, (r, cost) in enumerate(zip(admitted, actual, strict=True)))
        )
        counted = seed + sum(min(cost, amount) for cost in actual)
        assert await limits[1].account("acme", MONTH) == (counted, Decimal(0))
        assert spent_nano(redis_url, "acme") == int(counted * 10**9)
        await close_all(limits)

    run(main)


def test_three_replicas_hold_one_tpm_against_300_concurrent_requests(redis_url: str) -> None:
    async def main() -> None:
        limits = replicas(redis_url)
        tries = [
            outcome(limits[i % 3].admit("vk_shared", None, 100, 10, request_id=f"req-{i}"))
            for i in range(300)
        ]
        results = await asyncio.gather(*tries)
        admitted = [r for r in results if isinstance(r, TokenHold)]
        refused = [r for r in results if isinstance(r, RateLimited)]
        assert len(admitted) == 10 and len(refused) == 290
        assert all("100 are held by requests in flight" in str(r) for r in refused)
        used = [RANDOM.randint(0, 10) for _ in admitted]
        await asyncio.gather(
            *(limits[i % 3].settle_tokens(h, u) for i, (h, u) in enumerate(zip(admitted, used, strict=True)))
        )
        assert await limits[2].usage("vk_shared") == (sum(used), 0)
        await close_all(limits)

    run(main)


def test_rpm_is_one_window_for_all_replicas(redis_url: str) -> None:
    async def main() -> None:
        limits = replicas(redis_url)
        results = await asyncio.gather(
            *(outcome(limits[i % 3].admit("vk_rpm", 7, None, request_id=f"r{i}")) for i in range(60))
        )
        refused = [r for r in results if isinstance(r, RateLimited)]
        assert len(refused) == 53 and all(r.retry_after and 1 <= r.retry_after <= 60 for r in refused)
        await close_all(limits)

    run(main)


def test_a_settle_retried_by_request_id_counts_once(redis_url: str) -> None:
    async def main() -> None:
        one, two = replicas(redis_url, 2)
        held = await one.reserve("c", Decimal(1), Decimal("0.4"), lambda: Decimal(0), MONTH, request_id="rq1")
        # the same request closed again from another replica (a retry): a copy of its reservation
        again = Reservation(held.customer, held.amount, held.month, request_id=held.request_id)
        await one.settle(held, Decimal("0.3"))
        await two.settle(again, Decimal("0.3"))
        await two.release(Reservation("c", held.amount, MONTH, request_id="rq1"))
        assert await two.account("c", MONTH) == (Decimal("0.3"), Decimal(0))

        hold = await one.admit("vk", None, 50, 20, request_id="rq1")
        await one.settle_tokens(hold, 15)
        await two.settle_tokens(TokenHold("vk", 20, request_id="rq1"), 15)
        assert await two.usage("vk") == (15, 0)
        await close_all([one, two])

    run(main)


def test_a_dead_replicas_reservations_lapse_at_their_deadline(redis_url: str) -> None:
    now = [1000.0]

    async def main() -> None:
        dead, alive = replicas(redis_url, 2, clock=lambda: now[0])
        budget = Decimal("1.00")
        held = await dead.reserve("c", budget, Decimal("0.90"), lambda: Decimal(0), MONTH, request_id="lost")
        hold = await dead.admit("vk", None, 30, 30, request_id="lost")
        # the replica that made them dies: nobody settles them
        with pytest.raises(OverBudget):
            await alive.reserve("c", budget, Decimal("0.20"), lambda: Decimal(0), MONTH, request_id="a")
        with pytest.raises(RateLimited):
            await alive.admit("vk", None, 30, 1, request_id="a")
        now[0] += RESERVATION_DEADLINE_S + 1
        await alive.reserve("c", budget, Decimal("0.20"), lambda: Decimal(0), MONTH, request_id="b")
        await alive.admit("vk", None, 30, 30, request_id="b")
        assert await alive.account("c", MONTH) == (Decimal(0), Decimal("0.20"))
        # a settle that still comes (a stalled replica) counts its spend once, and frees nothing twice
        await dead.settle(held, Decimal("0.10"))
        await alive.settle(Reservation("c", held.amount, MONTH, request_id="lost"), Decimal("0.10"))
        assert await alive.account("c", MONTH) == (Decimal("0.10"), Decimal("0.20"))
        await dead.settle_tokens(hold, 30)  # the hold lapsed: late tokens are not counted
        assert await alive.usage("vk") == (0, 30)
        await close_all([dead, alive])

    run(main)


def test_the_months_spend_is_seeded_from_the_ledger_after_redis_lost_it(redis_url: str) -> None:
    ledger_reads: list[int] = []

    def month_spend() -> Decimal:  # the ledger's figure (PostgreSQL's, in scale-out mode)
        ledger_reads.append(1)
        return Decimal("0.700000001")

    async def main() -> None:
        limits = replicas(redis_url)
        budget = Decimal("1.00")
        first = await limits[0].reserve("c", budget, Decimal("0.2"), month_spend, MONTH, request_id="1")
        assert len(ledger_reads) == 1
        await limits[0].settle(first, Decimal("0.2"))
        assert await limits[1].account("c", MONTH) == (Decimal("0.900000001"), Decimal(0))
        with redis.Redis.from_url(redis_url) as client:
            client.flushall()  # Redis restarted empty
        assert await limits[1].account("c", MONTH) is None
        # every replica asks at once: each may read the ledger, one figure wins, and the budget holds
        results = await asyncio.gather(
            *(
                outcome(
                    limits[i % 3].reserve("c", budget, Decimal("0.1"), month_spend, MONTH, request_id=f"n{i}")
                )
                for i in range(9)
            )
        )
        assert sum(isinstance(r, Reservation) for r in results) == 2  # 0.7 + 2 x 0.1 <= 1.00 < 0.7 + 3 x 0.1
        assert await limits[2].account("c", MONTH) == (Decimal("0.700000001"), Decimal("0.2"))
        assert len(ledger_reads) >= 2
        await close_all(limits)

    run(main)


def test_forget_raises_the_spend_to_the_ledgers_and_keeps_reservations(redis_url: str) -> None:
    spend = [Decimal("0.10")]

    async def main() -> None:
        one, two = replicas(redis_url, 2)
        budget = Decimal("1.00")
        held = await one.reserve("c", budget, Decimal("0.80"), lambda: spend[0], MONTH, request_id="h")
        # the ledger knows of spend Redis did not count (served while the customer had no budget)
        spend[0] = Decimal("0.15")
        for replica in (one, two):  # every replica hears the admin change
            replica.forget("c")
        with pytest.raises(OverBudget):  # 0.15 + 0.80 + 0.10 > 1.00
            await two.reserve("c", budget, Decimal("0.10"), lambda: spend[0], MONTH, request_id="x")
        await two.settle(held, Decimal("5.00"))  # never more than reserved
        assert await two.account("c", MONTH) == (Decimal("0.95"), Decimal(0))
        # a ledger behind Redis (events still in the replicas' spools) never lowers the counter
        spend[0] = Decimal("0.50")
        one.forget("c")
        await one.reserve("c", budget, Decimal("0.01"), lambda: spend[0], MONTH, request_id="y")
        assert await one.account("c", MONTH) == (Decimal("0.95"), Decimal("0.01"))
        await close_all([one, two])

    run(main)


def test_credits_are_counted_as_in_process(redis_url: str) -> None:
    async def main() -> None:
        (limits,) = replicas(redis_url, 1)
        with pytest.raises(OverBudget, match=r"credits cover \$0.000001"):
            await limits.reserve(
                "c", Decimal(0), Decimal("0.00001"), lambda: Decimal(0), MONTH, Decimal("1e-6")
            )
        await limits.reserve("c", Decimal(0), Decimal("0.00001"), lambda: Decimal(0), MONTH, Decimal("0.01"))
        assert await limits.account("c", MONTH) == (Decimal(0), Decimal("0.00001"))
        await limits.close()

    run(main)


def test_unlimited_requests_make_no_redis_call() -> None:
    async def main() -> None:
        # nothing listens on port 1: a Redis call would fail
        limits = RedisLimits("redis://127.0.0.1:1/0")
        hold = await limits.admit("vk", None, None, 50)
        reservation = await limits.reserve("c", None, Decimal(1), lambda: Decimal(0))
        assert not hold.tracked and not reservation.tracked
        await limits.settle_tokens(hold, 10)
        await limits.settle(reservation, Decimal(1))
        await limits.close()

    run(main)
