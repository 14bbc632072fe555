"""Auto-pipelining of ``RedisLimits``' scripts against the session's real Redis: the calls of one event-loop
iteration go out as one pipeline (counted by the pipeliner, and on the server: every script ran exactly
once, over no new connection), a script's error reaches its caller only, ``SCRIPT FLUSH`` and a Redis
restart are recovered by loading the scripts again, and a batch that loses Redis (stopped, or not
answering) gives every one of its callers the 503 path, as one call at a time did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import redis

from verticals.serving.limits import LimitsUnavailable, OverBudget, RateLimited, Reservation, TokenHold
from verticals.serving.limits.pipelining import Script
from verticals.serving.limits.redis import RedisLimits

MONTH = "2030-01"
T = TypeVar("T")


def server_counts(client: redis.Redis) -> tuple[int, int]:
    """(EVALSHA calls run, connections accepted) since the server started, as Redis counts them; ``client``
    keeps its one connection, so that asking twice adds none."""
    calls = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    return int(calls), int(client.info("stats")["total_connections_received"])


def zero() -> Decimal:
    """A ledger with no spend this month."""
    return Decimal(0)


async def outcome(step: Coroutine[Any, Any, T]) -> T | Exception:
    try:
        return await step
    except (OverBudget, RateLimited, LimitsUnavailable) as error:
        return error


def test_the_calls_of_one_iteration_go_out_as_one_pipeline(redis_url: str) -> None:
    async def main() -> None:
        limits = RedisLimits(redis_url, month=lambda: MONTH)
        # a connection, and the scripts loaded
        await limits.settle_tokens(await limits.admit("warm", 10, 1000, 10, request_id="warm"), 5)
        counter = redis.Redis.from_url(redis_url)
        calls, connections = server_counts(counter)
        before = limits.pipeline.stats.batches
        holds = await asyncio.gather(
            *(limits.admit(f"k{i}", 5, 10_000, 100, request_id=f"r{i}") for i in range(100))
        )
        assert all(isinstance(hold, TokenHold) and hold.tracked for hold in holds)
        assert limits.pipeline.stats.batches - before == 1
        # each script ran once, and all of them over the one pooled connection (a round trip each
        # would have needed a connection each while the others were in flight)
        assert server_counts(counter) == (calls + 100, connections)
        counter.close()

        # a cap on the batch: 35 calls at most 10 a pipeline go out as 4, at once
        limits.pipeline.max_batch = 10
        before = limits.pipeline.stats.batches
        await asyncio.gather(*(limits.settle_tokens(hold, 60) for hold in holds[:35]))
        assert limits.pipeline.stats.batches - before == 4
        assert await limits.usage("k0") == (60.0, 0.0) and await limits.usage("k99") == (0.0, 100.0)

        # one call alone is sent at once, in its own pipeline
        before = limits.pipeline.stats.batches
        await limits.admit("alone", 5, None, request_id="alone")
        assert limits.pipeline.stats.batches - before == 1

        # what is queued when the limits close is still sent
        queued = limits.pipeline.run(Script("return 7"), [], [])
        await limits.close()
        assert queued.result() == 7

    asyncio.run(main())


def test_a_scripts_error_reaches_its_caller_only(redis_url: str) -> None:
    limits = RedisLimits(redis_url, month=lambda: MONTH)
    with redis.Redis.from_url(redis_url) as client:
        client.set(limits.window_keys("broken")[0], "not a sorted set")

    async def main() -> list[Any]:
        await limits.admit("warm", 10, None)
        before = limits.pipeline.stats.batches
        found = await asyncio.gather(
            *(outcome(limits.admit(key, 5, None, request_id=key)) for key in ("a", "broken", "b"))
        )
        assert limits.pipeline.stats.batches - before == 1
        await limits.close()
        return found

    first, broken, last = asyncio.run(main())
    assert isinstance(first, TokenHold) and isinstance(last, TokenHold)
    assert isinstance(broken, LimitsUnavailable)
    assert "failed (ResponseError" in str(broken) and "WRONGTYPE" in str(broken)


def test_script_flush_between_calls_is_recovered_once(redis_url: str) -> None:
    async def main() -> None:
        limits = RedisLimits(redis_url, month=lambda: MONTH)
        first = await limits.reserve("acme", Decimal(1), Decimal("0.1"), lambda: Decimal(0), request_id="a")
        with redis.Redis.from_url(redis_url) as client:
            client.script_flush()
        stats = limits.pipeline.stats
        batches, reloads = stats.batches, stats.reloads
        found = await asyncio.gather(
            limits.settle(first, Decimal("0.05")),
            *(
                outcome(limits.reserve("acme", Decimal(1), Decimal("0.2"), zero, request_id=f"b{i}"))
                for i in range(6)
            ),
        )
        # one pipeline, every call NOSCRIPT; the scripts loaded; one pipeline of all of them again
        assert (stats.batches - batches, stats.reloads - reloads) == (2, 1)
        admitted = [r for r in found[1:] if isinstance(r, Reservation)]
        assert len(admitted) == 4 and sum(isinstance(r, OverBudget) for r in found) == 2
        assert await limits.account("acme") == (Decimal("0.05"), Decimal("0.8"))
        await limits.close()

    asyncio.run(main())


def test_redis_stopped_mid_batch_gives_every_caller_the_unavailable_path(
    redis_proc: Any, redis_url: str
) -> None:
    """The batch is on the wire, held by ``CLIENT PAUSE``, when Redis stops: every caller's admit or reserve
    raises LimitsUnavailable (unreachable), every close is queued; once Redis is back, empty and without
    its scripts, the queued closes and new calls run."""

    async def main() -> None:
        limits = RedisLimits(redis_url, month=lambda: MONTH)
        held = [
            await limits.reserve("acme", Decimal(1), Decimal("0.1"), lambda: Decimal(0), request_id=f"h{i}")
            for i in range(3)
        ]
        pauser = redis.asyncio.Redis.from_url(redis_url)
        await pauser.client_pause(5000, all=False)  # scripts that write wait: the batch stays in flight
        await pauser.aclose()
        calls = [
            *(outcome(limits.admit(f"k{i}", 5, 1000, 10, request_id=f"r{i}")) for i in range(10)),
            *(outcome(limits.reserve("acme", Decimal(1), Decimal("0.1"), zero)) for _ in range(5)),
            *(limits.settle(each, Decimal("0.05")) for each in held),
        ]
        batches = limits.pipeline.stats.batches
        running = asyncio.gather(*calls)
        await asyncio.sleep(0.2)
        assert limits.pipeline.stats.batches - batches == 1  # all of them in one pipeline, unanswered
        redis_proc.stop()
        try:
            found = await running
            refused = found[:15]
            assert all(isinstance(r, LimitsUnavailable) for r in refused), refused
            assert all(f"Redis at 127.0.0.1:{redis_proc.port} are unreachable" in str(r) for r in refused)
            assert limits.waiting == 3  # the closes, kept for a retry
        finally:
            redis_proc.start()
        with redis.Redis.from_url(redis_url) as client:
            client.flushall()  # as after a loss (the snapshot may hold the counters)
        reloads = limits.pipeline.stats.reloads
        again = await limits.reserve("acme", Decimal(1), Decimal("0.1"), lambda: Decimal(0), request_id="n")
        assert again.tracked and limits.pipeline.stats.reloads == reloads + 1
        await limits.close()  # runs the queued closes (idempotent; their reservations are gone with Redis)
        assert limits.waiting == 0

    asyncio.run(main())


@pytest.mark.parametrize("fail_open", [False, True])
def test_a_batch_redis_does_not_answer_in_time_fails_every_caller(redis_url: str, fail_open: bool) -> None:
    """Redis holds the batch past the command timeout (and redis-py's one retry): each caller gets the 503
    path, or with ``fail_open`` an untracked hold, as for one call at a time."""

    async def main() -> list[Any]:
        limits = RedisLimits(redis_url, month=lambda: MONTH, fail_open=fail_open)
        await limits.admit("warm", 10, None)
        pauser = redis.asyncio.Redis.from_url(redis_url)
        await pauser.client_pause(2500, all=False)
        found = await asyncio.gather(*(outcome(limits.admit(f"k{i}", 5, None)) for i in range(8)))
        await pauser.client_unpause()
        await pauser.aclose()
        await limits.close()
        return found

    found = asyncio.run(main())
    if fail_open:
        assert all(isinstance(r, TokenHold) and not r.tracked for r in found), found
    else:
        assert all(isinstance(r, LimitsUnavailable) and "TimeoutError" in str(r) for r in found), found
