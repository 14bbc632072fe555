"""Redis unreachable, through real gateways on the session's Redis: limited requests get a 503 that names
Redis and the fix (never per-replica counters), unlimited ones are served, ``redis_fail_open`` admits them
all with a warning, and once Redis is back (empty) the month's spend is seeded from the ledger again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from verticals.serving.limits import Reservation
from verticals.serving.limits.redis import RedisLimits

CHAT = {"model": "echo/chat", "messages": [{"role": "user", "content": "one two three"}], "max_tokens": 4}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ask(gateway: Any, key: str) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json=CHAT,
        timeout=30,
    )


def test_redis_down_refuses_limited_requests_with_a_503_and_fail_open_admits_them(
    redis_proc: Any,
    redis_url: str,
    tmp_path: Path,
    launch_gateway: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    strict_server, strict = launch_gateway(
        tmp_path / "strict", free_port(), models=("echo/chat",), settings_overrides={"redis_url": redis_url}
    )
    open_server, lenient = launch_gateway(
        tmp_path / "open",
        free_port(),
        models=("echo/chat",),
        settings_overrides={"redis_url": redis_url, "redis_fail_open": True},
    )
    try:
        keys = {}
        for name, gateway in (("strict", strict), ("open", lenient)):
            keys[name, "budget"] = gateway.customer(f"{name}-budget", budget="10")
            keys[name, "tpm"] = gateway.customer(f"{name}-tpm", tpm=10_000)
            keys[name, "free"] = gateway.customer(f"{name}-free")
        for (name, _), key in keys.items():
            assert ask(strict if name == "strict" else lenient, key).status_code == 200
        spent = strict.ledger.month_spend("strict-budget")

        redis_proc.stop()
        try:
            for kind in ("budget", "tpm"):
                refused = ask(strict, keys["strict", kind])
                assert refused.status_code == 503, refused.text
                error = refused.json()["error"]
                assert error["code"] == "limits_unavailable"
                assert f"Redis at 127.0.0.1:{redis_proc.port} are unreachable" in error["message"]
                assert "VERTICALS_REDIS_FAIL_OPEN=true" in error["message"]
                assert refused.headers["retry-after"] == "5"
                (event,) = strict.events(request_id=refused.headers["x-request-id"])
                assert event["status"] == 503 and Decimal(str(event["revenue_usd"])) == 0
            assert ask(strict, keys["strict", "free"]).status_code == 200  # nothing to check: no Redis call
            with caplog.at_level(logging.WARNING, logger="verticals.serving"):
                for kind in ("budget", "tpm", "free", "budget"):
                    assert ask(lenient, keys["open", kind]).status_code == 200
            warnings = [r.getMessage() for r in caplog.records if "WITHOUT rate limits" in r.getMessage()]
            assert len(warnings) == 1  # at most once a minute
        finally:
            redis_proc.start()

        # Redis is back (its snapshot may hold the counters; emptied here as after a loss): the first
        # budgeted request seeds the month's spend from the ledger
        with redis.Redis.from_url(redis_url) as client:
            client.flushall()
        assert ask(strict, keys["strict", "budget"]).status_code == 200
        counted = asyncio.run(RedisLimits(redis_url).account("strict-budget"))
        assert counted is not None
        assert counted[0] == strict.ledger.month_spend("strict-budget") > spent
    finally:
        strict_server.stop()
        open_server.stop()
        strict.ledger.close()
        lenient.ledger.close()


def test_a_close_that_timed_out_is_retried_and_counted_once(redis_url: str) -> None:
    """Redis stops answering writes for a while (``CLIENT PAUSE``): the settle times out and is queued,
    and retried after the next call that Redis answers; counted once, whichever attempt ran."""

    async def main() -> None:
        limits = RedisLimits(redis_url, month=lambda: "2030-01")
        held = await limits.reserve("c", Decimal(1), Decimal("0.5"), lambda: Decimal(0), request_id="slow")
        pauser = redis.asyncio.Redis.from_url(redis_url)
        # longer than a command's timeout and its one retry
        await pauser.client_pause(2500, all=False)  # CLIENT PAUSE 2500 WRITE
        await limits.settle(held, Decimal("0.25"))  # timed out twice: queued, the request goes on
        assert limits.waiting == 1
        await asyncio.sleep(1.0)  # the pause is over
        other = await limits.reserve("c", Decimal(1), Decimal("0.1"), lambda: Decimal(0), request_id="next")
        await limits.release(other)
        await limits.close()  # waits for the retry
        assert limits.waiting == 0
        again = RedisLimits(redis_url, month=lambda: "2030-01")
        assert await again.account("c") == (Decimal("0.25"), Decimal(0))
        await again.settle(Reservation("c", held.amount, "2030-01", request_id="slow"), Decimal("0.25"))
        assert await again.account("c") == (Decimal("0.25"), Decimal(0))
        await again.close()
        await pauser.aclose()

    asyncio.run(main())
