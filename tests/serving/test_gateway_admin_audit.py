"""Every mutating admin call lands in the ledger's audit log: who (the x-verticals-actor header, else "admin
token"), what (the route, its body with secrets masked, the new key's prefix), when and how it ended. Reads,
flushes and calls without the admin token are not recorded; the header never opens the admin API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from verticals.evaluate.backends import free_port
from verticals.ledger.analytics import admin_audit

from .conftest import Running, start_gateway

ACTOR = {"x-verticals-actor": "alice via dashboard (dashboard password)"}


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Running]:
    server, running = start_gateway(tmp_path / "home", free_port(), models=())
    try:
        yield running
    finally:
        server.stop()
        running.ledger.close()


def as_alice(gw: Running, method: str, path: str, body: Any = None) -> httpx.Response:
    """An admin call with the admin token, saying it comes from alice on the dashboard."""
    headers = {"Authorization": f"Bearer {gw.admin_token}", **ACTOR}
    return httpx.request(method, gw.url + path, json=body, headers=headers, timeout=30)


def audit(gw: Running) -> list[dict[str, Any]]:
    """The audit log, oldest first."""
    return list(reversed(admin_audit(gw.ledger.connection.cursor())))


def test_each_admin_action_is_recorded_with_who_what_and_when(gw: Running) -> None:
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/admin/customers", {"name": "acme", "plan": "free"}),
        ("POST", "/admin/keys", {"customer": "acme", "rpm": 60}),
        ("PATCH", "/admin/customers/acme", {"status": "suspended"}),
        ("PATCH", "/admin/customers/acme", {"status": "active"}),
        ("PATCH", "/admin/customers/acme", {"budget_usd": "25.50"}),
        ("POST", "/admin/subscriptions", {"customer": "acme", "plan": "pro"}),
        ("POST", "/admin/credits", {"customer": "acme", "amount_usd": "10", "reason": "launch"}),
    ]
    answers = []
    for method, path, body in calls:
        response = as_alice(gw, method, path, body)
        assert response.status_code < 300, response.text
        answers.append(response.json())
    prefix = answers[1]["prefix"]
    revoked = gw.admin("POST", f"/admin/keys/{prefix}/revoke")  # no header: the token's name
    assert revoked.status_code == 200, revoked.text

    rows = audit(gw)
    assert [(r["action"], r["method"], r["path"], r["subject"], r["status"]) for r in rows] == [
        ("create_customer", "POST", "/admin/customers", "acme", 201),
        ("create_key", "POST", "/admin/keys", "acme", 201),
        ("update_customer", "PATCH", "/admin/customers/acme", "acme", 200),
        ("update_customer", "PATCH", "/admin/customers/acme", "acme", 200),
        ("update_customer", "PATCH", "/admin/customers/acme", "acme", 200),
        ("set_subscription", "POST", "/admin/subscriptions", "acme", 201),
        ("grant_credit", "POST", "/admin/credits", "acme", 201),
        ("revoke_key", "POST", f"/admin/keys/{prefix}/revoke", prefix, 200),
    ]
    assert {r["actor"] for r in rows[:-1]} == {ACTOR["x-verticals-actor"]}
    assert rows[-1]["actor"] == "admin token"
    assert all(r["error"] is None for r in rows)
    assert rows[1]["detail"] == {"customer": "acme", "rpm": 60, "prefix": prefix}
    assert rows[2]["detail"] == {"status": "suspended"}
    assert rows[6]["detail"]["amount_usd"] == "10" and rows[6]["detail"]["reason"] == "launch"
    times = [r["acted_at"] for r in rows]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    # the plaintext key was shown once, in the answer, and is nowhere in the audit log
    stored = gw.ledger.connection.cursor().execute("SELECT string_agg(detail, ' ') FROM admin_audit")
    assert answers[1]["key"] not in stored.fetchone()[0]
    # and the admin API reads the log like any other analytics
    listed = gw.admin("GET", "/admin/analytics/admin_audit", params={"subject": "acme"}).json()
    assert [r["action"] for r in listed][:2] == ["grant_credit", "set_subscription"]


def test_refusals_are_recorded_with_their_reason(gw: Running) -> None:
    unknown = as_alice(gw, "POST", "/admin/credits", {"customer": "nosuch", "amount_usd": "5"})
    assert unknown.status_code == 400
    malformed = as_alice(gw, "POST", "/admin/customers", {"name": "x"})
    assert malformed.status_code == 400
    first, second = audit(gw)
    assert (first["action"], first["status"], first["subject"]) == ("grant_credit", 400, "nosuch")
    assert "nosuch" in first["error"] and first["error"] == unknown.json()["error"]["message"]
    assert (second["action"], second["status"]) == ("create_customer", 400)
    assert second["error"]


def test_reads_flushes_and_calls_without_the_token_are_not_recorded(gw: Running) -> None:
    assert gw.admin("GET", "/admin/customers").status_code == 200
    assert gw.admin("POST", "/admin/flush").status_code == 200
    # the actor header opens nothing: without the admin token the call is refused and leaves no row
    stranger = httpx.post(
        gw.url + "/admin/customers", json={"name": "evil", "plan": "free"}, headers=ACTOR, timeout=30
    )
    assert stranger.status_code == 401
    wrong = httpx.post(
        gw.url + "/admin/customers",
        json={"name": "evil", "plan": "free"},
        headers={**ACTOR, "Authorization": "Bearer not-the-token"},
        timeout=30,
    )
    assert wrong.status_code == 401
    assert audit(gw) == []
    assert "evil" not in {c["name"] for c in gw.admin("GET", "/admin/customers").json()}


def test_the_admin_client_names_its_actor_whatever_the_characters(gw: Running) -> None:
    from verticals.client import AdminClient

    client = AdminClient(gw.url, gw.admin_token, actor="José Núñez (dashboard, admin token)")
    client.post("/admin/customers", {"name": "acme", "plan": "free"})
    (row,) = audit(gw)
    assert row["actor"] == "José Núñez (dashboard, admin token)"


def test_a_cli_command_is_recorded_under_the_login_name(gw: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    from verticals.client import running_server
    from verticals.client.admin import write_server_file
    from verticals.config import load_settings

    monkeypatch.setenv("VERTICALS_ADMIN_TOKEN", gw.admin_token)
    write_server_file(gw.home, gw.url)  # as `verticals serve` does; this process is the live server
    client = running_server(load_settings(home=gw.home))
    assert client is not None
    client.post("/admin/customers", {"name": "acme", "plan": "free"})
    (row,) = audit(gw)
    assert row["actor"] == f"{getpass.getuser()} (cli)"
