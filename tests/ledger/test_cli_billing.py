"""``verticals subscriptions|credits``, ``plans allowance(s)`` and ``prices set --charge-model``, run through
the real click root group against a temporary data directory."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from verticals.ledger import Ledger

from .test_cli import Invoke, app, ok, refused, run

__all__ = ["app", "run"]  # the fixtures this module uses from test_cli


def test_subscriptions_set_list_and_cancel(run: Invoke, verticals_home: Path) -> None:
    ok(run("customers", "create", "acme", "--plan", "free"))
    ok(run("subscriptions", "set", "acme", "pro", "--from", "2099-01-01"))
    rows = json.loads(ok(run("subscriptions", "list", "--customer", "acme", "--json")).output)
    assert [(r["plan"], r["ends_at"]) for r in rows] == [
        ("free", "2099-01-01 00:00:00+00:00"),
        ("pro", None),
    ]
    assert "Subscriptions" in ok(run("subscriptions", "list")).output
    refused(run("subscriptions", "set", "acme", "enterprise", "--from", "2020-01-01"), "must start after it")
    refused(run("subscriptions", "set", "acme", "gold"), "unknown plan 'gold'")
    ended = json.loads(ok(run("subscriptions", "cancel", "acme", "--at", "2099-02-01", "--json")).output)
    assert (ended["plan"], ended["ends_at"]) == ("pro", "2099-02-01 00:00:00+00:00")
    refused(run("subscriptions", "cancel", "acme"), "no open subscription")


def test_credits_grant_list_and_balance(run: Invoke, verticals_home: Path) -> None:
    ok(run("customers", "create", "acme", "--plan", "pro"))
    out = ok(run("credits", "grant", "acme", "10.50", "--reason", "launch", "--expires", "2099-01-01")).output
    assert "granted acme $10.50" in out
    ok(run("credits", "grant", "acme", "2"))
    grants = json.loads(ok(run("credits", "list", "--customer", "acme", "--json")).output)
    assert [(g["amount_usd"], g["reason"], g["expires_at"]) for g in grants] == [
        ("10.500000", "launch", "2099-01-01 00:00:00+00:00"),
        ("2.000000", "", None),
    ]
    assert Decimal(
        json.loads(ok(run("credits", "balance", "acme", "--json")).output)["balance_usd"]
    ) == Decimal("12.5")
    refused(run("credits", "grant", "acme", "0"), "above $0")
    refused(run("credits", "grant", "acme", "lots"), "not a number")
    refused(run("credits", "grant", "nobody", "5"), "unknown customer 'nobody'")


def test_plan_allowances(run: Invoke) -> None:
    ok(run("plans", "allowance", "pro", "tokens", "100000"))
    ok(run("plans", "allowance", "pro", "tokens", "1000000", "--model", "nlp/*"))
    rows = json.loads(ok(run("plans", "allowances", "--plan", "pro", "--json")).output)
    assert [(r["unit"], r["model"], r["quantity"]) for r in rows] == [
        ("tokens", None, "100000.000000"),
        ("tokens", "nlp/*", "1000000.000000"),
    ]
    refused(run("plans", "allowance", "pro", "tokens", "1", "--model", "nlp"), "neither a model")
    refused(run("plans", "allowance", "gold", "tokens", "1"), "unknown plan 'gold'")


def test_prices_set_with_charge_models(run: Invoke, verticals_home: Path) -> None:
    out = ok(
        run("prices", "set", "pro", "tokens", "--model", "nlp/chat", "--charge-model", "graduated",
            "--tier", "1000000:0.000002", "--tier", "inf:0.000001:5")
    ).output  # fmt: skip
    assert "graduated: to 1000000 at $2 per 1M tokens, rest at $1 per 1M tokens (+ $5 once)" in out
    package = ("--charge-model", "package", "--package-size", "1000")
    ok(run("prices", "set", "pro", "images", "0.50", "--model", "vision/digits", *package))
    rows = json.loads(ok(run("prices", "list", "--plan", "pro", "--json")).output)
    assert [(r["model"], r["charge_model"], r["package_size"], len(r["tiers"])) for r in rows] == [
        ("nlp/chat", "graduated", None, 2),
        ("vision/digits", "package", "1000.000000", 0),
    ]
    assert "Prices" in ok(run("prices", "list", "--plan", "pro")).output
    refused(run("prices", "set", "pro", "tokens", "--model", "nlp/chat"), "give the PRICE")
    refused(run("prices", "set", "pro", "tokens", "--model", "nlp/chat", "--tier", "lots"), "UP_TO:PRICE")
    refused(
        run("prices", "set", "pro", "tokens", "1", "--model", "nlp/chat", "--charge-model", "package"),
        "needs a package size",
    )
    with Ledger.open(verticals_home, read_only=True) as ledger:
        row = ledger.price_row("pro", "nlp/chat", "nlp", "chat", "tokens")
        assert row is not None and row.tiers[1].flat_fee == 5
