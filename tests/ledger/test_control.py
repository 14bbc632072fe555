"""Customers, plans and API keys: creation, lookups, and refusals that write nothing."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from verticals.ledger import Ledger, LedgerError

ENGINES = ("duckdb", "postgres")  # every test taking `ledger` runs on both (conftest)


def test_fresh_ledger_has_example_plans_and_costs(ledger: Ledger) -> None:
    assert [plan.name for plan in ledger.list_plans()] == ["enterprise", "free", "pro"]
    assert all(plan.example for plan in ledger.list_plans())
    rates = {row.device_class: row.usd_per_hour for row in ledger.list_costs()}
    assert set(rates) == {"cpu", "l4", "a100", "h100", "h200"}
    assert all(row.example and "example" in row.note for row in ledger.list_costs())
    assert ledger.cost_rate("h100") == rates["h100"]


def test_customer_round_trip(ledger: Ledger) -> None:
    created = ledger.create_customer("acme", "pro", Decimal("250.50"))
    assert created.budget_usd == Decimal("250.50")
    assert created.status == "active"
    assert ledger.get_customer("acme") == created
    assert [c.name for c in ledger.list_customers()] == ["acme"]
    updated = ledger.update_customer("acme", plan="enterprise", status="suspended")
    assert (updated.plan, updated.status, updated.budget_usd) == (
        "enterprise",
        "suspended",
        Decimal("250.50"),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("acme", "gold"), "unknown plan 'gold'"),
        (("Acme Corp", "pro"), "customer name 'Acme Corp' is not allowed"),
        (("acme", "pro", "-5"), "negative"),
        (("acme", "pro", "lots"), "not a number"),
        (("acme", "pro", 1.5), "decimal string"),
    ],
)
def test_bad_customer_writes_nothing(ledger: Ledger, args: tuple[object, ...], message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        ledger.create_customer(*args)  # type: ignore[arg-type]
    assert ledger.list_customers() == []
    assert ledger.connection.execute("SELECT count(*) FROM customers").fetchone() == (0,)


def test_duplicate_customer_is_refused(ledger: Ledger) -> None:
    ledger.create_customer("acme", "free")
    with pytest.raises(LedgerError, match="already exists"):
        ledger.create_customer("acme", "pro")
    assert ledger.get_customer("acme").plan == "free"


def test_unknown_customer_names_the_fix(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="verticals customers create nobody"):
        ledger.get_customer("nobody")


def test_plans(ledger: Ledger) -> None:
    plan = ledger.create_plan("startup", "19.99", included_units=1000, description="for small teams")
    assert plan.monthly_fee_usd == Decimal("19.99") and not plan.example
    with pytest.raises(LedgerError, match="already exists"):
        ledger.create_plan("startup")
    with pytest.raises(LedgerError, match="negative"):
        ledger.create_plan("cheap", "-1")


def test_key_lifecycle(ledger: Ledger) -> None:
    ledger.create_customer("acme", "pro")
    plaintext, key = ledger.create_key("acme", rpm=60, tpm=10_000)
    assert plaintext.startswith("vk_") and len(plaintext) > 40
    assert plaintext.startswith(key.prefix) and len(key.prefix) == 11
    assert (key.customer, key.rpm, key.tpm, key.revoked_at) == ("acme", 60, 10_000, None)
    assert ledger.find_key(plaintext) == key
    assert ledger.find_key(plaintext + "x") is None
    assert ledger.find_key("vk_nothing") is None
    stored = ledger.connection.execute("SELECT key_sha256 FROM api_keys").fetchone()[0]
    assert stored == hashlib.sha256(plaintext.encode()).hexdigest()
    ledger.revoke_key(key.prefix)
    revoked = ledger.find_key(plaintext)
    assert revoked is not None and revoked.revoked_at is not None and not revoked.active
    with pytest.raises(LedgerError, match="already revoked"):
        ledger.revoke_key(key.prefix)
    with pytest.raises(LedgerError, match="no key with prefix"):
        ledger.revoke_key("vk_missing")


def test_keys_are_listed_per_customer(ledger: Ledger) -> None:
    ledger.create_customer("acme", "pro")
    ledger.create_customer("globex", "free")
    _, first = ledger.create_key("acme")
    _, second = ledger.create_key("globex")
    assert {k.prefix for k in ledger.list_keys()} == {first.prefix, second.prefix}
    assert [k.prefix for k in ledger.list_keys("globex")] == [second.prefix]
    with pytest.raises(LedgerError, match="unknown customer"):
        ledger.create_key("nobody")
    with pytest.raises(LedgerError, match="whole number above 0"):
        ledger.create_key("acme", rpm=0)
    assert len(ledger.list_keys()) == 2


def test_key_plaintext_is_nowhere_in_the_data_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Ledger.open(home, fsync_ms=20) as ledger:
        ledger.create_customer("acme", "pro")
        plaintexts = [ledger.create_key("acme")[0] for _ in range(3)]
    with Ledger.open(home, fsync_ms=20) as ledger:  # reopen: checkpoint and WAL replay both happen
        assert all(ledger.find_key(p) is not None for p in plaintexts)
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for plaintext in plaintexts:
            assert plaintext.encode() not in data, path
            assert plaintext[11:].encode() not in data, path  # not even the secret part alone


def test_keys_and_customers_survive_reopen(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        ledger.create_customer("acme", "pro", "10")
        plaintext, _ = ledger.create_key("acme")
    with Ledger.open(tmp_path, read_only=True) as ledger:
        assert ledger.get_customer("acme").budget_usd == Decimal("10")
        found = ledger.find_key(plaintext)
        assert found is not None and found.customer == "acme"
        with pytest.raises(LedgerError, match="read-only"):
            ledger.create_customer("globex", "pro")
