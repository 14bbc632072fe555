"""The admin API and /metrics."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any as Running

import httpx
import pytest

from verticals.client import AdminClient, AdminError, running_server
from verticals.serving.auth import load_admin_token

from .conftest import in_flight_gauge


def test_customers_keys_and_plans_round_trip(gateway_server: Running) -> None:
    created = gateway_server.admin("POST", "/admin/customers", json={"name": "admin-rt", "plan": "free"})
    assert created.status_code == 201
    names = [c["name"] for c in gateway_server.admin("GET", "/admin/customers").json()]
    assert "admin-rt" in names
    key = gateway_server.admin("POST", "/admin/keys", json={"customer": "admin-rt", "rpm": 5}).json()
    assert key["key"].startswith("vk_") and key["prefix"] == key["key"][:11]
    listed = gateway_server.admin("GET", "/admin/keys", params={"customer": "admin-rt"}).json()
    assert [k["prefix"] for k in listed] == [key["prefix"]]
    assert "key" not in listed[0] and key["key"] not in str(listed)
    assert {p["name"] for p in gateway_server.admin("GET", "/admin/plans").json()} >= {"free", "pro"}


def test_ledger_errors_are_400_with_the_ledger_message(gateway_server: Running) -> None:
    response = gateway_server.admin(
        "POST", "/admin/customers", json={"name": "x-plan", "plan": "no-such-plan"}
    )
    assert response.status_code == 400
    assert "unknown plan 'no-such-plan'" in response.json()["error"]["message"]


def test_plugins_lists_every_plugin(gateway_server: Running) -> None:
    rows = gateway_server.admin("GET", "/admin/plugins").json()
    assert {"echo", "tabular"} <= {r["name"] for r in rows}
    assert all("error" in r and "status" in r for r in rows)


def test_every_analytics_function_answers(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    key = new_customer()
    httpx.post(
        gateway_server.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "echo/chat", "messages": [{"role": "user", "content": "hello"}]},
    )
    functions = gateway_server.admin("GET", "/admin/analytics").json()
    names = {f["name"] for f in functions}
    assert {"usage_summary", "concentration", "budget_status", "latency_by_model"} <= names
    for name in sorted(names):
        response = gateway_server.admin("GET", f"/admin/analytics/{name}")
        assert response.status_code in (200, 400), (name, response.text)
        if response.status_code == 400:  # a function that needs a parameter says which
            assert name in response.json()["error"]["message"]
    by_model = gateway_server.admin("GET", "/admin/analytics/usage_summary", params={"by": "model"}).json()
    assert any(row["model"] == "echo/chat" and row["requests"] >= 1 for row in by_model)
    bad = gateway_server.admin("GET", "/admin/analytics/usage_summary", params={"since": "yesterday"})
    assert bad.status_code == 400 and "ISO 8601" in bad.json()["error"]["message"]


def test_admin_client_finds_the_running_server(gateway_server: Running) -> None:
    from verticals.config import load_settings

    settings = load_settings(home=gateway_server.home, admin_token=gateway_server.admin_token)
    client = running_server(settings)
    assert client is not None
    gateway_server.customer("seen-by-client")
    assert "seen-by-client" in [c["name"] for c in client.get("/admin/customers")]
    with pytest.raises(AdminError, match="unknown customer"):
        client.post("/admin/keys", {"customer": "nobody-here"})
    unreachable = AdminClient("http://127.0.0.1:18299", "t", timeout=2)
    with pytest.raises(AdminError, match="cannot reach"):
        unreachable.get("/admin/customers")


def test_no_server_file_means_no_client(tmp_path: Path) -> None:
    from verticals.config import load_settings

    assert running_server(load_settings(home=tmp_path)) is None


def test_admin_token_is_generated_once_with_0600(tmp_path: Path) -> None:
    token = load_admin_token(tmp_path, None)
    path = tmp_path / "admin_token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_admin_token(tmp_path, None) == token
    assert load_admin_token(tmp_path, "from-env") == "from-env"


def test_metrics_count_requests_without_customer_labels(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    key = new_customer()
    customer = gateway_server.ledger.find_key(key).customer
    httpx.post(
        gateway_server.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "echo/chat", "messages": [{"role": "user", "content": "metrics please"}]},
    )
    text = httpx.get(gateway_server.url + "/metrics").text
    assert 'verticals_requests_total{endpoint="/v1/chat/completions",model="echo/chat",status="200"}' in text
    assert "verticals_request_latency_seconds_bucket" in text and "verticals_revenue_usd_total" in text
    assert customer not in text and "customer" not in text


def test_requests_in_flight_fall_back_to_zero_whatever_the_outcome(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    headers = {"Authorization": f"Bearer {new_customer()}"}
    answered = httpx.post(
        gateway_server.url + "/v1/chat/completions",
        headers=headers,
        json={"model": "echo/chat", "messages": [{"role": "user", "content": "in flight"}]},
    )
    wrong_task = httpx.post(
        gateway_server.url + "/v1/embeddings", headers=headers, json={"model": "echo/chat", "input": "x"}
    )
    assert (answered.status_code, wrong_task.status_code) == (200, 400)
    assert in_flight_gauge(gateway_server.url)["echo/chat"] == 0
    assert gateway_server.gateway.meter.in_flight == 0


def test_remote_ledger_answers_like_the_ledger(gateway_server: Running) -> None:
    """What the CLI uses while the server holds the ledger: the same calls and dataclasses over the API."""
    from verticals.client import open_remote_ledger
    from verticals.config import load_settings
    from verticals.ledger import ApiKey, Customer, LedgerError

    remote = open_remote_ledger(
        load_settings(home=gateway_server.home, admin_token=gateway_server.admin_token)
    )
    assert remote is not None
    customer = remote.create_customer("remote-co", "pro", "12.5")
    assert isinstance(customer, Customer) and customer.budget_usd == Decimal("12.5")
    plaintext, key = remote.create_key("remote-co", rpm=7)
    assert isinstance(key, ApiKey) and plaintext.startswith(key.prefix) and key.rpm == 7
    remote.revoke_key(key.prefix)
    assert remote.list_keys("remote-co")[0].revoked_at is not None
    assert remote.update_customer("remote-co", status="suspended").status == "suspended"
    assert any(p.name == "pro" for p in remote.list_plans())
    assert remote.set_cost("h200", "3.5").usd_per_hour == Decimal("3.5")
    with pytest.raises(LedgerError, match="unknown plan"):
        remote.create_customer("remote-2", "no-such-plan")
    rows = remote.analytics("usage_summary", by=["customer"])
    assert isinstance(rows, list)
