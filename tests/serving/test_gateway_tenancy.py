"""Keys, rate limits and budgets: 401, 402, 403 and 429 with errors that say what to do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any as Running

import httpx
import openai
import pytest

CHAT = {"model": "echo/chat", "messages": [{"role": "user", "content": "two words"}]}


def post(gateway_server: Running, key: str | None, body: dict[str, object] = CHAT) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(gateway_server.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_missing_key_is_401_with_the_fix(gateway_server: Running) -> None:
    response = post(gateway_server, None)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and "verticals keys create" in error["message"]
    assert set(error) == {"type", "message", "param", "code"}
    [event] = gateway_server.events(request_id=response.headers["x-request-id"])
    assert event["status"] == 401


def test_unknown_and_malformed_keys_are_401(gateway_server: Running) -> None:
    assert post(gateway_server, "vk_not_a_real_key").status_code == 401
    assert post(gateway_server, "sk-openai-style").json()["error"]["code"] == "invalid_api_key"


def test_revoked_key_is_401(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    key = new_customer()
    assert post(gateway_server, key).status_code == 200
    revoked = gateway_server.admin("POST", f"/admin/keys/{key[:11]}/revoke")
    assert revoked.status_code == 200, revoked.text
    response = post(gateway_server, key)
    assert response.status_code == 401 and response.json()["error"]["code"] == "revoked_api_key"


def test_customer_key_never_reaches_admin(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    key = new_customer()
    response = httpx.get(gateway_server.url + "/admin/customers", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert httpx.get(gateway_server.url + "/admin/customers").status_code == 401
    wrong = httpx.get(gateway_server.url + "/admin/customers", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_rpm_limit_is_429_with_retry_after(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    key = new_customer(rpm=3)
    statuses = [post(gateway_server, key).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = post(gateway_server, key)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "3 requests per minute" in limited.json()["error"]["message"]
    sdk = openai.OpenAI(base_url=gateway_server.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="echo/chat", messages=[{"role": "user", "content": "x"}])


def test_tpm_limit_is_429_once_tokens_are_used(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    key = new_customer(tpm=5)
    assert post(gateway_server, key).status_code == 200  # 2 words in, 2 out: 4 tokens
    limited = post(gateway_server, key)  # may use 4 more: 8 would be over the limit
    assert limited.status_code == 429 and "tokens per minute" in limited.json()["error"]["message"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_over_budget_customer_is_402(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    # echo/chat costs $0.000001 per token; this request is 4 tokens, so the budget fits exactly two.
    key = new_customer(budget="0.000008")
    assert [post(gateway_server, key).status_code for _ in range(2)] == [200, 200]
    refused = post(gateway_server, key)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"
    [event] = gateway_server.events(request_id=refused.headers["x-request-id"])
    assert event["status"] == 402 and event["revenue_usd"] == 0


def test_concurrent_requests_cannot_overshoot_the_budget(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    """200 at once against a budget that fits 10: exactly 10 admitted, the rest 402."""
    key = new_customer(budget=str(Decimal("0.000004") * 10))

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=gateway_server.url, limits=limits, timeout=60) as http:
            responses = await asyncio.gather(
                *(
                    http.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"})
                    for _ in range(200)
                )
            )
        return [r.status_code for r in responses]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 10
    assert statuses.count(402) == 190
    prefix = key[:11]
    events = gateway_server.events(key_prefix=prefix)
    assert len(events) == 200
    assert sum(e["revenue_usd"] for e in events) == Decimal("0.000004") * 10


def test_suspended_customer_is_403(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    key = new_customer()
    customer = gateway_server.ledger.find_key(key).customer
    patched = gateway_server.admin("PATCH", f"/admin/customers/{customer}", json={"status": "suspended"})
    assert patched.status_code == 200, patched.text
    response = post(gateway_server, key)
    assert response.status_code == 403 and "suspended" in response.json()["error"]["message"]
