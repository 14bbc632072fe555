"""The admin API refuses what the CLI refuses, with the same suggestions: a price for a model no plugin
registers or in a unit it is not metered in, a usage report for a customer or model nobody knows; and its
money is always a fixed-point decimal string."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from verticals.serving.admin.access import json_response, plain

from .conftest import Running


def refusal(response: Any) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["error"]["message"])


def test_price_for_an_unregistered_model_or_unit_is_a_400_with_suggestions(gateway_server: Running) -> None:
    admin = gateway_server.admin
    price = {"plan": "pro", "unit": "tokens", "price_per_unit_usd": "0.000002", "model": "echo/chta"}
    message = refusal(admin("POST", "/admin/prices", json=price))
    assert "unknown model 'echo/chta'" in message and "did you mean 'echo/chat'" in message
    assert "is metered in tokens, not images" in refusal(
        admin("POST", "/admin/prices", json={**price, "model": "echo/chat", "unit": "images"})
    )
    assert all(row["model"] != "echo/chta" for row in admin("GET", "/admin/prices").json())
    forced = admin("POST", "/admin/prices", json={**price, "model": "later/chat", "force": True})
    assert forced.status_code == 201 and forced.json()["model"] == "later/chat"


def test_unknown_customers_and_models_are_400s_with_suggestions(gateway_server: Running) -> None:
    admin = gateway_server.admin
    assert admin("POST", "/admin/customers", json={"name": "refusals-acme", "plan": "pro"}).status_code == 201
    assert "unknown customer 'nosuch'" in refusal(admin("GET", "/admin/usage", params={"customer": "nosuch"}))
    message = refusal(admin("GET", "/admin/usage", params={"customer": "refusals-acm"}))
    assert "did you mean 'refusals-acme'" in message
    assert "did you mean 'echo/chat'" in refusal(admin("GET", "/admin/usage", params={"model": "echo/chta"}))
    assert admin("GET", "/admin/usage", params={"customer": "refusals-acme"}).status_code == 200
    patched = admin("PATCH", "/admin/customers/refusals-acm", json={"budget_usd": "5"})
    assert "did you mean 'refusals-acme'" in refusal(patched)
    key = admin("POST", "/admin/keys", json={"customer": "refusals-acm"})
    assert "did you mean 'refusals-acme'" in refusal(key)


class _Amount(BaseModel):
    amount_usd: Decimal


def test_admin_json_money_is_fixed_point() -> None:
    data = {
        "revenue_usd": Decimal("1.45E-7"),
        "cost_usd": Decimal("0E-9"),
        "rows": [_Amount(amount_usd=Decimal("2E-6"))],
    }
    assert plain(data) == {
        "revenue_usd": "0.000000145",
        "cost_usd": "0.000000000",
        "rows": [{"amount_usd": "0.000002"}],
    }
    assert json.loads(json_response(data).body)["revenue_usd"] == "0.000000145"
