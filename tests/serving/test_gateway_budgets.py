"""Budgets, tokens-per-minute and prices hold under concurrency, max_tokens and effective dates.

echo/chat counts a token per word and answers with the last user message, cut to ``max_tokens``
words. Each test prices echo/chat on a plan of its own, so its figures are round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from .conftest import Running, money

TEN_WORDS = "one two three four five six seven eight nine ten"


def priced_customer(
    gw: Running, price: str, *, budget: str | None = None, tpm: int | None = None
) -> tuple[str, str]:
    """A customer on a new plan that prices echo/chat at ``price`` per token: (key, plan)."""
    plan = f"plan-{time.monotonic_ns()}"
    assert gw.admin("POST", "/admin/plans", json={"name": plan}).status_code == 201
    row = {"plan": plan, "unit": "tokens", "price_per_unit_usd": price, "model": "echo/chat"}
    assert gw.admin("POST", "/admin/prices", json=row).status_code == 201
    return gw.customer(f"cust-{plan}", plan=plan, budget=budget, tpm=tpm), plan


def chat(content: str = TEN_WORDS, **extra: Any) -> dict[str, Any]:
    return {"model": "echo/chat", "messages": [{"role": "user", "content": content}], **extra}


def burst(gw: Running, key: str, body: dict[str, Any], count: int) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=gw.url, limits=httpx.Limits(max_connections=count), timeout=60
        ) as http:
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
                        )
                        for _ in range(count)
                    )
                )
            )

    return asyncio.run(run())


def spent(gw: Running, key: str) -> Decimal:
    return sum((money(e["revenue_usd"]) for e in gw.events(key_prefix=key[:11])), Decimal(0))


def test_concurrent_chats_with_max_tokens_stay_within_the_budget(gateway_server: Running) -> None:
    # Each request may cost 10 + 1 tokens = $0.11: 9 fit in $1.00, and echo answers 1 word, not 10.
    key, _ = priced_customer(gateway_server, "0.01", budget="1.00")
    responses = burst(gateway_server, key, chat(max_tokens=1), 20)
    answered = [r for r in responses if r.status_code == 200]
    assert len(answered) == 9
    assert [r.status_code for r in responses].count(402) == 11
    for response in answered:
        assert response.json()["choices"][0]["message"]["content"] == "one"
        assert response.json()["usage"]["completion_tokens"] == 1
    assert spent(gateway_server, key) == Decimal("0.99")


def test_sequential_chats_stay_within_the_budget(gateway_server: Running) -> None:
    key, _ = priced_customer(gateway_server, "0.01", budget="0.95")
    statuses = []
    for _ in range(12):
        response = httpx.post(
            gateway_server.url + "/v1/chat/completions",
            json=chat(max_tokens=1),
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        statuses.append(response.status_code)
    assert statuses == [200] * 8 + [402] * 4
    assert spent(gateway_server, key) == Decimal("0.88")


def test_echo_honours_max_completion_tokens_and_max_tokens(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    headers = {"Authorization": f"Bearer {new_customer()}"}
    answer = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        json=chat(max_completion_tokens=3, max_tokens=5),
        headers=headers,
    ).json()
    assert answer["choices"][0]["message"]["content"] == "one two three"
    assert answer["usage"]["completion_tokens"] == 3
    stream = httpx.post(
        gateway_server.url + "/v1/chat/completions", json=chat(max_tokens=2, stream=True), headers=headers
    )
    assert '"content":"two"' in stream.text and "three" not in stream.text
    completion = httpx.post(
        gateway_server.url + "/v1/completions",
        json={"model": "echo/chat", "prompt": [TEN_WORDS, "a b c"], "max_tokens": 2},
        headers=headers,
    ).json()
    assert [c["text"] for c in completion["choices"]] == ["one two", "a b"]
    assert completion["usage"]["completion_tokens"] == 4


def test_concurrent_chats_cannot_use_more_than_the_tokens_per_minute(gateway_server: Running) -> None:
    # 10 words in and at most 10 out: each may use 20 tokens, so a 30-token minute admits one.
    key, _ = priced_customer(gateway_server, "0.01", tpm=30)
    responses = burst(gateway_server, key, chat(max_tokens=10), 10)
    assert [r.status_code for r in responses].count(200) == 1
    limited = [r for r in responses if r.status_code == 429]
    assert len(limited) == 9
    assert "tokens per minute" in limited[0].json()["error"]["message"]
    events = gateway_server.events(key_prefix=key[:11])
    assert sum(e["units_in"] + e["units_out"] for e in events if e["status"] == 200) <= 30


def test_a_request_larger_than_the_tokens_per_minute_is_told_to_lower_max_tokens(
    gateway_server: Running,
) -> None:
    key, _ = priced_customer(gateway_server, "0.01", tpm=30)
    response = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        json=chat(max_tokens=25),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert "max_tokens" in error["message"] and "30 tokens per minute" in error["message"]
    fits = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        json=chat(max_tokens=20),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert fits.status_code == 200


def test_a_future_price_applies_from_its_instant_on(gateway_server: Running) -> None:
    key, plan = priced_customer(gateway_server, "0.01")
    headers = {"Authorization": f"Bearer {key}"}
    starts = datetime.now(UTC) + timedelta(seconds=1.5)
    row = {
        "plan": plan,
        "unit": "tokens",
        "price_per_unit_usd": "0.02",
        "model": "echo/chat",
        "effective_from": starts.isoformat(),
    }
    assert gateway_server.admin("POST", "/admin/prices", json=row).status_code == 201
    before = httpx.post(gateway_server.url + "/v1/chat/completions", json=chat(), headers=headers)
    assert money(before.json()["usage"]["cost_usd"]) == Decimal("0.20")  # 20 tokens at the old price
    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.05)
    after = httpx.post(gateway_server.url + "/v1/chat/completions", json=chat(), headers=headers)
    assert money(after.json()["usage"]["cost_usd"]) == Decimal("0.40")
    [event] = gateway_server.events(request_id=after.headers["x-request-id"])
    assert money(event["revenue_usd"]) == Decimal("0.40")
