"""Billing data through the admin API while the gateway holds the ledger: ``/admin/subscriptions``,
``/admin/credits``, ``/admin/allowances``, prices with charge models, the client's ``RemoteLedger`` and the
CLI going through them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import click
import pytest
from click.testing import CliRunner

from verticals.billing.model import ChargeModel, Tier

from .conftest import ADMIN_TOKEN, Running


def error_of(response: Any) -> str:
    return str(response.json()["error"]["message"])


def test_routes_round_trip_and_refusals_are_400(gateway_server: Running) -> None:
    admin = gateway_server.admin
    assert admin("POST", "/admin/customers", json={"name": "bd-routes", "plan": "free"}).status_code == 201
    moved = admin(
        "POST",
        "/admin/subscriptions",
        json={"customer": "bd-routes", "plan": "pro", "starts_at": "2099-01-01"},
    )
    assert moved.status_code == 201 and moved.json()["plan"] == "pro"
    history = admin("GET", "/admin/subscriptions", params={"customer": "bd-routes"}).json()
    assert [(s["plan"], s["ends_at"]) for s in history] == [
        ("free", "2099-01-01T00:00:00+00:00"),
        ("pro", None),
    ]
    ended = admin("POST", "/admin/subscriptions/bd-routes/cancel", json={"at": "2099-02-01T00:00:00Z"})
    assert ended.status_code == 200 and ended.json()["ends_at"] == "2099-02-01T00:00:00+00:00"
    granted = admin(
        "POST", "/admin/credits", json={"customer": "bd-routes", "amount_usd": "7.25", "reason": "x"}
    )
    assert granted.status_code == 201 and Decimal(granted.json()["amount_usd"]) == Decimal("7.25")
    assert [g["reason"] for g in admin("GET", "/admin/credits", params={"customer": "bd-routes"}).json()] == [
        "x"
    ]
    balance = admin("GET", "/admin/credits/balance", params={"customer": "bd-routes"}).json()
    assert Decimal(balance["balance_usd"]) == Decimal("7.25")
    allowance = {"plan": "enterprise", "unit": "images", "quantity": "10000", "model": "vision/*"}
    assert admin("POST", "/admin/allowances", json=allowance).status_code == 201
    rows = admin("GET", "/admin/allowances", params={"plan": "enterprise"}).json()
    assert [(a["unit"], a["model"], Decimal(a["quantity"])) for a in rows] == [("images", "vision/*", 10000)]
    price = {
        "plan": "enterprise", "unit": "tokens", "price_per_unit_usd": "0.000002", "model": "echo/chat",
        "effective_from": "2099-01-01T00:00:00Z", "charge_model": "volume",
        "tiers": [{"up_to": "1000000", "unit_price": "0.000002"}, {"up_to": None, "unit_price": "0.000001"}],
    }  # fmt: skip
    row = admin("POST", "/admin/prices", json=price)
    assert row.status_code == 201 and row.json()["charge_model"] == "volume" and len(row.json()["tiers"]) == 2
    # what the ledger refuses is a 400 naming the problem and the fix
    refusals = [
        ("/admin/subscriptions", {"customer": "bd-routes", "plan": "gold"}, "unknown plan 'gold'"),
        ("/admin/subscriptions", {"customer": "nobody", "plan": "pro"}, "unknown customer 'nobody'"),
        ("/admin/subscriptions/bd-routes/cancel", {}, "no open subscription"),
        ("/admin/credits", {"customer": "bd-routes", "amount_usd": "1", "expires_at": "2000-01-01T00:00:00Z",
                            "granted_at": "2001-01-01T00:00:00Z"}, "expire"),
        ("/admin/allowances", {"plan": "pro", "unit": "tokens", "quantity": "1", "model": "nlp"},
         "neither a model"),
        ("/admin/prices", {**price, "charge_model": "package", "tiers": None}, "needs a package size"),
    ]  # fmt: skip
    for path, body, message in refusals:
        response = admin("POST", path, json=body)
        assert response.status_code == 400 and message in error_of(response), (path, response.text)
    assert (
        admin("POST", "/admin/credits", json={"customer": "bd-routes", "amount_usd": "0"}).status_code == 400
    )
    assert admin("GET", "/admin/allowances", params={"plan": "gold"}).status_code == 400


def test_remote_ledger_answers_the_billing_records(gateway_server: Running) -> None:
    from verticals.client import open_remote_ledger
    from verticals.config import load_settings
    from verticals.ledger import Allowance, CreditGrant, LedgerError, PriceRow, Subscription

    remote = open_remote_ledger(load_settings(home=gateway_server.home, admin_token=ADMIN_TOKEN))
    assert remote is not None
    remote.create_customer("bd-remote", "free")
    moved = remote.set_subscription("bd-remote", "pro", datetime(2099, 3, 1, tzinfo=UTC))
    assert isinstance(moved, Subscription) and moved.starts_at == datetime(2099, 3, 1, tzinfo=UTC)
    assert [s.plan for s in remote.subscriptions("bd-remote")] == ["free", "pro"]
    assert remote.cancel_subscription("bd-remote", datetime(2099, 4, 1, tzinfo=UTC)).ends_at is not None
    grant = remote.grant_credit(
        "bd-remote", "3", reason="goodwill", expires_at=datetime(2099, 1, 1, tzinfo=UTC)
    )
    assert isinstance(grant, CreditGrant) and grant.amount_usd == 3 and grant.expires_at is not None
    assert remote.credit_grants("bd-remote") == [grant]
    assert remote.credit_balance("bd-remote") == Decimal(3)
    assert remote.credit_balance("bd-remote", datetime(2099, 6, 1, tzinfo=UTC)) == 0
    allowance = remote.set_allowance("free", "rows", "500", model="tabular/linear")
    assert allowance == Allowance("free", "rows", "tabular/linear", Decimal(500))
    assert allowance in remote.allowances("free")
    tiers = [Tier(Decimal(100), Decimal("0.01")), Tier(None, Decimal("0.005"), Decimal(1))]
    row = remote.set_price(
        "free", "rows", "0.01", model="tabular/linear", charge_model=ChargeModel.GRADUATED, tiers=tiers,
        effective_from=datetime(2099, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert (
        isinstance(row, PriceRow) and row.charge_model is ChargeModel.GRADUATED and row.tiers == tuple(tiers)
    )
    assert row in remote.list_prices("free")
    package = remote.set_price(
        "free", "calls", "2", model="echo/chat", charge_model="package", package_size=10
    )
    assert package.package_size == 10 and package.unit_price_usd == Decimal("0.2")
    with pytest.raises(LedgerError, match="unknown customer"):
        remote.grant_credit("nobody", "1")


def test_the_cli_goes_through_the_running_gateway(
    gateway_server: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verticals.cli import cli as root
    from verticals.ledger.commands import attach

    app = click.Group(commands=dict(root.commands))
    attach(app)
    monkeypatch.setenv("VERTICALS_HOME", str(gateway_server.home))
    monkeypatch.setenv("VERTICALS_ADMIN_TOKEN", ADMIN_TOKEN)
    runner = CliRunner(env={"COLUMNS": "180"})

    def run(*args: str) -> str:
        # the gateway holds the ledger's lock: a command that opened the file itself would fail
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("customers", "create", "bd-cli", "--plan", "free")
    run("subscriptions", "set", "bd-cli", "pro", "--from", "2099-05-01")
    assert [
        s["plan"] for s in json.loads(run("subscriptions", "list", "--customer", "bd-cli", "--json"))
    ] == [
        "free",
        "pro",
    ]
    run("credits", "grant", "bd-cli", "4.50", "--reason", "promo")
    assert "$4.5" in run("credits", "balance", "bd-cli")
    run("plans", "allowance", "pro", "calls", "100", "--model", "echo/chat")
    assert "echo/chat" in run("plans", "allowances", "--plan", "pro")
    run("prices", "set", "pro", "tokens", "--model", "echo/chat", "--charge-model", "volume",
        "--tier", "100:0.02", "--tier", "inf:0.01", "--from", "2099-01-01")  # fmt: skip
    listed = run("prices", "list", "--plan", "pro")
    assert "volume: to 100 at $20000 / 1M tokens, rest at $10000 / 1M tokens" in listed
    refused = runner.invoke(app, ["credits", "grant", "bd-cli", "0"], catch_exceptions=False)
    assert refused.exit_code == 1 and "above $0" in refused.output and "Traceback" not in refused.output
    assert gateway_server.ledger.credit_grants("bd-cli")[0].reason == "promo"
