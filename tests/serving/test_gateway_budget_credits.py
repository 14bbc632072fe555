"""Budgets count what credits do not cover: a grant lets a customer at its budget go on, up to the credit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .conftest import CAPITAL_QUESTION


def ask(gateway: Any, key: str) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "model": "echo/chat",
            "messages": CAPITAL_QUESTION,
            "max_tokens": 8,
        },
        timeout=30,
    )


def test_a_credit_grant_covers_spend_the_budget_would_refuse(
    gateway_server: Any, new_customer: Callable[..., str]
) -> None:
    key = new_customer(budget="0")
    refused = ask(gateway_server, key)
    assert refused.status_code == 402, refused.text
    customer = gateway_server.events(request_id=refused.headers["x-request-id"])[0]["customer"]

    granted = gateway_server.admin(
        "POST", "/admin/credits", json={"customer": customer, "amount_usd": "0.01", "reason": "pilot"}
    )
    assert granted.status_code == 201, granted.text
    answered = ask(gateway_server, key)
    assert answered.status_code == 200, answered.text
    assert "covered by credits" not in answered.text


def test_a_credit_smaller_than_the_worst_case_still_refuses_naming_it(
    gateway_server: Any, new_customer: Callable[..., str]
) -> None:
    key = new_customer(budget="0")
    customer = gateway_server.events(request_id=ask(gateway_server, key).headers["x-request-id"])[0][
        "customer"
    ]
    granted = gateway_server.admin(
        "POST", "/admin/credits", json={"customer": customer, "amount_usd": "0.000001"}
    )
    assert granted.status_code == 201, granted.text
    refused = ask(gateway_server, key)
    assert refused.status_code == 402, refused.text
    assert "credits cover $0.000001" in refused.json()["error"]["message"]
