"""Many replicas, one business: three ``verticals serve`` processes on loopback sharing one PostgreSQL and one
Redis hold one budget and one tokens-per-minute limit between them, and lose nothing when one is killed.

echo/chat counts a token per word and answers the last user message cut to ``max_tokens`` words: ten words
in and ``max_tokens=1`` is 11 tokens, exactly what admission holds, so the figures below are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from verticals.serving.limits.redis import RedisLimits

TEN_WORDS = "one two three four five six seven eight nine ten"
CHAT = {"model": "echo/chat", "messages": [{"role": "user", "content": TEN_WORDS}], "max_tokens": 1}

pytestmark = pytest.mark.slow


def priced_customer(replicas: Any, name: str, *, budget: str | None = None, tpm: int | None = None) -> str:
    """A customer on a plan of its own pricing echo/chat at $0.01 a token, made through replica 0; its key."""
    assert replicas.admin("POST", "/admin/plans", json={"name": f"plan-{name}"}).status_code == 201
    price = {"plan": f"plan-{name}", "unit": "tokens", "price_per_unit_usd": "0.01", "model": "echo/chat"}
    assert replicas.admin("POST", "/admin/prices", json=price).status_code == 201
    body: dict[str, Any] = {"name": name, "plan": f"plan-{name}"}
    if budget is not None:
        body["budget_usd"] = budget
    assert replicas.admin("POST", "/admin/customers", json=body).status_code == 201
    response = replicas.admin("POST", "/admin/keys", json={"customer": name, "tpm": tpm})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def round_robin(urls: list[str], key: str, count: int) -> list[httpx.Response]:
    """``count`` concurrent chats, request i sent to replica i mod len(urls)."""

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(limits=limits, timeout=120) as http:
            targets = itertools.cycle(urls)
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            next(targets) + "/v1/chat/completions",
                            json=CHAT,
                            headers={"Authorization": f"Bearer {key}"},
                        )
                        for _ in range(count)
                    )
                )
            )

    return asyncio.run(run())


def ledger_rows(
    database_url: str, customer: str, expected: int, timeout: float = 60.0
) -> list[tuple[Any, ...]]:
    """The customer's usage events in PostgreSQL, once ``expected`` have arrived (replicas drain their spools
    about once a second): (request_id, status, units_in + units_out, revenue_usd)."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT request_id, status, units_in + units_out, revenue_usd FROM usage_events "
                "WHERE customer = %s AND status = 200",
                [customer],
            ).fetchall()
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.25)


def redis_month_spend(redis_url: str, customer: str) -> Decimal:
    """This month's spend of ``customer`` as Redis counts it (USD); fails when nothing is reserved."""

    async def read() -> tuple[Decimal, Decimal] | None:
        limits = RedisLimits(redis_url)
        try:
            return await limits.account(customer)
        finally:
            await limits.close()

    account = asyncio.run(read())
    assert account is not None, "no spend counter in Redis"
    spent, reserved = account
    assert reserved == 0, "a reservation is still open after every response"
    return spent


def redis_minute_tokens(redis_url: str, key_prefix: str) -> float:
    """Tokens Redis counts in ``key_prefix``'s current minute; fails when a hold is still open."""

    async def read() -> tuple[float, float]:
        limits = RedisLimits(redis_url)
        try:
            return await limits.usage(key_prefix)
        finally:
            await limits.close()

    used, held = asyncio.run(read())
    assert held == 0, "tokens are still held after every response"
    return used


def test_three_replicas_admit_no_more_than_one_budget_allows(
    launch_replicas: Callable[..., Any], database_url: str, redis_url: str
) -> None:
    replicas = launch_replicas(3)
    key = priced_customer(replicas, "budgeted", budget="1.10")  # 10 requests of $0.11

    responses = round_robin(replicas.urls, key, 300)

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 10, statuses
    assert statuses.count(402) == 290
    rows = ledger_rows(database_url, "budgeted", 10)
    assert len(rows) == 10
    assert sum((row[3] for row in rows), Decimal(0)) == Decimal("1.10")
    assert redis_month_spend(redis_url, "budgeted") == Decimal("1.10")


def test_three_replicas_hold_one_tokens_per_minute(
    launch_replicas: Callable[..., Any], database_url: str, redis_url: str
) -> None:
    replicas = launch_replicas(3)
    key = priced_customer(replicas, "limited", tpm=220)  # 20 requests of 11 tokens in a minute

    responses = round_robin(replicas.urls, key, 300)

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 20, statuses
    assert statuses.count(429) == 280
    rows = ledger_rows(database_url, "limited", 20)
    assert sum(row[2] for row in rows) == 220
    assert redis_minute_tokens(redis_url, key[:11]) == 220


def test_a_replica_killed_under_load_loses_no_acknowledged_request(
    launch_replicas: Callable[..., Any], database_url: str
) -> None:
    replicas = launch_replicas(3)
    key = priced_customer(replicas, "steady")
    acknowledged: list[str] = []
    stop = asyncio.Event()

    async def client(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while not stop.is_set():
                try:
                    response = await http.post(
                        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
                    )
                except httpx.TransportError:
                    await asyncio.sleep(0.05)  # the killed replica: refused until it is back
                    continue
                if response.status_code == 200:
                    acknowledged.append(response.headers["x-request-id"])

    async def load() -> None:
        clients = [asyncio.create_task(client(url)) for url in replicas.urls for _ in range(4)]
        await asyncio.sleep(3)
        await asyncio.to_thread(replicas.kill, 1)  # kill -9 while its clients have requests in flight
        await asyncio.sleep(1)
        await asyncio.to_thread(replicas.start, 1)  # same home: it replays the spool it left behind
        await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*clients)

    asyncio.run(load())
    for index in range(3):
        replicas.stop(index)  # drain and flush

    assert len(acknowledged) > 100
    with psycopg.connect(database_url) as conn:
        counts = dict(
            conn.execute(
                "SELECT request_id::text, count(*) FROM usage_events WHERE customer = 'steady' GROUP BY 1"
            ).fetchall()
        )
    missing = [rid for rid in acknowledged if rid not in counts]
    assert missing == []
    assert {rid: n for rid, n in counts.items() if n != 1} == {}


def test_replicas_keep_serving_while_postgresql_is_down_and_lose_nothing(
    launch_replicas: Callable[..., Any], database_url: str, postgres_server: Any
) -> None:
    replicas = launch_replicas(2)
    key = priced_customer(replicas, "outage", budget="1000")
    acknowledged: list[str] = []
    during: list[int] = []  # statuses answered while PostgreSQL was stopped
    down = asyncio.Event()
    stop = asyncio.Event()

    async def client(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while not stop.is_set():
                response = await http.post(
                    "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
                )
                if down.is_set():
                    during.append(response.status_code)
                if response.status_code == 200:
                    acknowledged.append(response.headers["x-request-id"])

    async def load() -> None:
        clients = [asyncio.create_task(client(url)) for url in replicas.urls for _ in range(3)]
        await asyncio.sleep(2)
        await asyncio.to_thread(postgres_server.stop)
        down.set()
        try:
            await asyncio.sleep(10)
        finally:
            down.clear()
            await asyncio.to_thread(postgres_server.start)
        await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*clients)

    try:
        asyncio.run(load())
    finally:
        with contextlib.suppress(Exception):
            postgres_server.start()  # the session's server: always up again for the next test
    assert during and set(during) == {200}, "a replica refused requests while PostgreSQL was down"
    rows = ledger_rows(database_url, "outage", len(acknowledged))
    stored = [row[0] for row in rows]
    assert len(stored) == len(set(stored))
    assert set(acknowledged) <= set(stored)
    assert len(stored) == len(acknowledged)
