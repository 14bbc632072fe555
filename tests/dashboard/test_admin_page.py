"""The Admin page in a real headless Chromium, against a running gateway: unlock with the admin token, then
create a customer and a key (the key shown once), suspend and reactivate, set a budget, change the plan,
grant a credit and revoke the key; each change is checked in the ledger and in its audit log, which the
page lists. Without a gateway the page says where actions come from and still shows the audit log."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from verticals.evaluate.backends import free_port
from verticals.ledger.analytics import admin_audit

from ..serving.conftest import ADMIN_TOKEN, Running, start_gateway
from . import chromium
from .conftest import running_dashboard

pytestmark = pytest.mark.slow
VERTICALS = Path(sys.executable).with_name("verticals")
ACTOR = "alice (dashboard, admin token)"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    server, running = start_gateway(tmp_path_factory.mktemp("admin-home"), free_port(), models=())
    try:
        yield running
    finally:
        server.stop()
        running.ledger.close()


@pytest.fixture(scope="module")
def dashboard(gateway: Running) -> Iterator[str]:
    env = {**os.environ, "VERTICALS_HOME": str(gateway.home), "VERTICALS_ADMIN_TOKEN": ADMIN_TOKEN}
    source = ("--source", "api", "--gateway-url", gateway.url)
    with running_dashboard(VERTICALS, free_port(), env, source=source) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium.chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def form(driver: Any, title: str) -> Any:
    """The form whose bold title is ``title``."""
    from selenium.webdriver.common.by import By

    forms = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stForm"]')
    found = [f for f in forms if title in f.text.splitlines()[:1]]
    assert found, f"no form {title!r}: {[f.text.splitlines()[:1] for f in forms]}"
    return found[0]


def fill(scope: Any, label: str, text: str) -> None:
    """Type ``text`` into the text or number input labelled ``label`` inside ``scope``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = scope.find_element(By.CSS_SELECTOR, f'input[aria-label="{label}"]')
    field.send_keys(Keys.CONTROL, "a")  # clear() leaves React's copy of the value behind
    field.send_keys(Keys.DELETE)
    field.send_keys(text)


def pick(scope: Any, label: str, value: str) -> None:
    """Choose ``value`` in the select box labelled ``label`` inside ``scope``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    boxes = scope.find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"]')
    box = next((b for b in boxes if b.text.splitlines()[:1] == [label]), None)
    assert box is not None, f"no select box {label!r}: {[b.text for b in boxes]}"
    field = box.find_element(By.CSS_SELECTOR, "input")
    field.click()
    field.send_keys(value)
    field.send_keys(Keys.ENTER)


def press(driver: Any, scope: Any, button: str, expect: str) -> None:
    """Click ``button`` inside ``scope`` and wait until the Admin page has run again and shows ``expect``."""
    from selenium.webdriver.common.by import By

    buttons = [b for b in scope.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == button]
    assert buttons, f"no button {button!r}"
    buttons[0].click()
    deadline = time.monotonic() + 60
    while expect not in chromium.main_text(driver):
        assert time.monotonic() < deadline, f"{expect!r} never showed: {chromium.main_text(driver)[:1500]}"
        time.sleep(0.2)
    chromium.wait_finished(driver, "Admin")


def until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_admin_actions_go_through_the_gateway_into_the_ledger_and_its_audit_log(
    gateway: Running, dashboard: str, browser: Any, tmp_path: Path
) -> None:
    ledger = gateway.ledger
    chromium.open_page(browser, f"{dashboard}/admin", "Admin")
    # locked, even on a loopback dashboard: changing the business needs the token or the password
    assert "Create a customer" not in chromium.main_text(browser)
    unlock = form(browser, "Admin token or dashboard password")
    fill(unlock, "Admin token or dashboard password", "not the token")
    press(browser, unlock, "Unlock admin actions", "neither the admin token nor the dashboard password")
    unlock = form(browser, "Admin token or dashboard password")
    fill(unlock, "Admin token or dashboard password", ADMIN_TOKEN)
    press(browser, unlock, "Unlock admin actions", "Create a customer")
    from selenium.webdriver.common.keys import Keys

    fill(browser, "Your name, for the audit log", "alice")
    name = browser.find_element("css selector", 'input[aria-label="Your name, for the audit log"]')
    name.send_keys(Keys.TAB)  # a text input commits its value when it loses focus
    chromium.wait_finished(browser, "Admin")

    created = form(browser, "Create a customer")
    fill(created, "Customer name", "acme")
    pick(created, "Plan", "pro")
    fill(created, "Monthly budget (USD, optional)", "100")
    press(browser, created, "Create customer", "Created customer acme on plan pro.")
    assert ledger.get_customer("acme").plan == "pro"
    assert ledger.get_customer("acme").budget_usd == Decimal("100")

    keys = form(browser, "Create a key")
    pick(keys, "Customer", "acme")
    fill(keys, "Requests per minute (optional)", "60")
    press(browser, keys, "Create key", "Copy this key now")
    plaintext = browser.find_element("css selector", '[data-testid="stCode"]').text.strip()
    assert plaintext.startswith("vk_")
    found = ledger.find_key(plaintext)
    assert found is not None and found.customer == "acme" and found.rpm == 60
    chromium.screenshot(browser, tmp_path / "admin-key-shown.png", "Admin")

    status = form(browser, "Suspend or reactivate a customer")
    pick(status, "Customer", "acme")
    press(browser, status, "Suspend", "Suspended acme.")
    assert ledger.get_customer("acme").status == "suspended"
    # shown once: the next run of the page no longer has the key
    assert plaintext not in browser.page_source
    assert "Copy this key now" not in chromium.main_text(browser)
    status = form(browser, "Suspend or reactivate a customer")
    pick(status, "Customer", "acme")
    press(browser, status, "Reactivate", "Reactivated acme.")
    assert ledger.get_customer("acme").status == "active"

    budget = form(browser, "Set a monthly budget")
    pick(budget, "Customer", "acme")
    fill(budget, "Budget (USD; empty: no budget)", "250.50")
    press(browser, budget, "Set budget", "acme's budget is now $250.5")
    assert ledger.get_customer("acme").budget_usd == Decimal("250.50")

    plan = form(browser, "Change a plan")
    pick(plan, "Customer", "acme")
    pick(plan, "New plan", "enterprise")
    press(browser, plan, "Change plan", "acme is on plan enterprise from")
    assert [s.plan for s in ledger.subscriptions("acme")] == ["pro", "enterprise"]
    assert ledger.get_customer("acme").plan == "enterprise"

    credit = form(browser, "Grant a credit")
    pick(credit, "Customer", "acme")
    fill(credit, "Amount (USD)", "50")
    fill(credit, "Reason", "launch credit")
    press(browser, credit, "Grant credit", "Granted $50")
    (grant,) = ledger.credit_grants("acme")
    assert grant.amount_usd == Decimal("50") and grant.reason == "launch credit"

    revoke = form(browser, "Revoke a key")
    pick(revoke, "Key", f"{found.prefix} (acme)")
    press(browser, revoke, "Revoke key", f"Revoked key {found.prefix}")
    until("the key is revoked", lambda: ledger.find_key(plaintext) is None or _revoked(ledger, found.prefix))

    # a refusal is shown with the gateway's reason, and recorded too
    credit = form(browser, "Grant a credit")
    pick(credit, "Customer", "acme")
    fill(credit, "Amount (USD)", "-5")
    press(browser, credit, "Grant credit", "The gateway refused")

    rows = list(reversed(admin_audit(ledger.connection.cursor())))
    assert [(r["action"], r["subject"], r["status"]) for r in rows] == [
        ("create_customer", "acme", 201),
        ("create_key", "acme", 201),
        ("update_customer", "acme", 200),
        ("update_customer", "acme", 200),
        ("update_customer", "acme", 200),
        ("set_subscription", "acme", 201),
        ("grant_credit", "acme", 201),
        ("revoke_key", found.prefix, 200),
        ("grant_credit", "acme", 400),
    ]
    assert {r["actor"] for r in rows} == {ACTOR}
    assert rows[1]["detail"]["prefix"] == found.prefix
    assert rows[2]["detail"] == {"status": "suspended"} and rows[3]["detail"] == {"status": "active"}
    assert rows[-1]["error"]
    stored = ledger.connection.cursor().execute("SELECT string_agg(detail, ' ') FROM admin_audit")
    assert plaintext not in stored.fetchone()[0]

    # the page lists the same log, newest first; a reload is a new session: locked again, key long gone
    chromium.open_page(browser, f"{dashboard}/admin", "Admin")
    assert "Create a customer" not in chromium.main_text(browser)
    assert plaintext not in browser.page_source
    shown = chromium.table(browser, "What")
    assert [(row["What"], row["About"], row["Who"]) for row in shown] == [
        (r["action"], r["subject"], r["actor"]) for r in reversed(rows)
    ]
    chromium.screenshot(browser, tmp_path / "admin.png", "Admin")
    assert not chromium.errors(browser)


def _revoked(ledger: Any, prefix: str) -> bool:
    return any(k.prefix == prefix and k.revoked_at is not None for k in ledger.list_keys("acme"))
