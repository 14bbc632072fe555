"""Alerts: a real gateway sends them to a webhook on a local HTTP server (``http.server`` on loopback).

Budget thresholds are crossed by real chat requests (echo/chat counts a token per word; each test's plan
prices it at $0.01 a token, so 10 words and ``max_tokens=1`` cost $0.11). Nothing waits on time: a test
polls, with a deadline, for the alert to arrive, and counts the alert service's rounds to know that a
later check ran and sent nothing new.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from verticals.ledger.analytics import recent_alerts
from verticals.ledger.events import UsageEvent

from .conftest import Running, ServerThread, start_gateway
from .webhook import Receiver, wait_for

PORTS = {"budget": 18285, "budget_again": 18286, "dead": 18287, "down": 18288, "anomaly": 18289}


def quiet_rounds(gw: Running, count: int = 3) -> None:
    """Wait until the alert service finished ``count`` more rounds (each a full check of every condition)."""
    service = gw.app.state.alerts
    start = service.rounds
    wait_for(f"{count} more alert rounds", lambda: service.rounds >= start + count)


def alerts_gateway(
    home: Path, port: int, receiver: Receiver, interval_s: float = 0.1, **extra: Any
) -> tuple[ServerThread, Running]:
    alerts = {"webhook_url": receiver.url, "interval_s": interval_s, "backoff_s": 0.01, "retries": 2}
    overrides = {"alerts": alerts, **extra.pop("settings_overrides", {})}
    return start_gateway(
        home, port, models=extra.pop("models", ("echo/chat",)), settings_overrides=overrides, **extra
    )


def stop(server: ServerThread, gw: Running) -> None:
    server.stop()
    gw.ledger.close()


def rows(gw: Running) -> dict[str, dict[str, Any]]:
    """The ledger's alerts by key."""
    return {row["key"]: row for row in recent_alerts(gw.ledger.connection.cursor())}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(statuses=[500])  # the first call fails: the alert must be retried
    yield found
    found.close()


def chats(gw: Running, key: str, count: int) -> None:
    body = {
        "model": "echo/chat",
        "messages": [{"role": "user", "content": "one two three four five six seven eight nine ten"}],
        "max_tokens": 1,
    }
    for _ in range(count):
        response = httpx.post(
            gw.url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        assert response.status_code == 200, response.text


def priced_customer(gw: Running, name: str, budget: str) -> str:
    assert gw.admin("POST", "/admin/plans", json={"name": f"plan-{name}"}).status_code == 201
    price = {"plan": f"plan-{name}", "unit": "tokens", "price_per_unit_usd": "0.01", "model": "echo/chat"}
    assert gw.admin("POST", "/admin/prices", json=price).status_code == 201
    return gw.customer(name, plan=f"plan-{name}", budget=budget)


def test_budget_thresholds_crossed_by_requests_are_sent_once_with_a_retry(
    tmp_path: Path, receiver: Receiver
) -> None:
    server, gw = alerts_gateway(tmp_path, PORTS["budget"], receiver)
    try:
        key = priced_customer(gw, "acme", budget="1.00")
        month = datetime.now(UTC).strftime("%Y-%m")
        chats(gw, key, 5)  # $0.55 of $1.00
        half = f"budget:acme:{month}:0.5"
        # the first call was answered 500 and retried: the same alert twice, then delivered
        wait_for("the 50% alert, retried", lambda: receiver.received(half) == [half, half])
        body = receiver.bodies[-1]
        assert body["text"].startswith("[warning] Customer acme has used 55% of its $1.00 budget")
        assert body["alert"]["fields"]["spend_usd"] == "0.550000000"
        assert body["alert"]["kind"] == "budget"
        wait_for("the delivery recorded", lambda: rows(gw)[half]["status"] == "sent")
        assert rows(gw)[half]["attempts"] == 2
        # the dashboard reads them through the admin API while the gateway runs
        listed = gw.admin("GET", "/admin/analytics/recent_alerts", params={"limit": 10})
        assert listed.status_code == 200, listed.text
        assert [(r["key"], r["status"], r["attempts"]) for r in listed.json()] == [(half, "sent", 2)]

        chats(gw, key, 3)  # $0.88: past 80%
        eighty = f"budget:acme:{month}:0.8"
        wait_for("the 80% alert", lambda: receiver.received(eighty) == [eighty])
        quiet_rounds(gw)  # later checks find both thresholds still crossed, and send nothing new
        assert receiver.received("budget:") == [half, half, eighty]
    finally:
        stop(server, gw)

    # a restarted gateway reads what was sent from the ledger: nothing is sent again
    server, gw = alerts_gateway(tmp_path, PORTS["budget_again"], receiver)
    try:
        quiet_rounds(gw)
        assert receiver.received("budget:") == [half, half, eighty]
    finally:
        stop(server, gw)


def test_a_failing_evaluation_goes_to_the_dead_letter_log_when_every_call_fails(tmp_path: Path) -> None:
    receiver = Receiver(always=503)
    server, gw = alerts_gateway(tmp_path, PORTS["dead"], receiver)
    try:
        run_id = gw.ledger.record_evaluation(
            "echo/chat", "1", "smoke", {"accuracy": 0.5}, {"accuracy": {"min": 0.9}}, passed=False
        )
        key = f"evaluation_failed:{run_id}"
        dead_letter = tmp_path / "logs" / "alerts-dead.jsonl"
        wait_for("the dead-letter entry", dead_letter.exists)
        assert receiver.received() == [key, key, key]  # the first call and 2 retries
        entry = json.loads(dead_letter.read_text().splitlines()[0])
        assert entry["key"] == key and entry["attempts"] == 3
        assert entry["error"].startswith("HTTP 503")
        assert entry["payload"]["alert"]["fields"]["failed_metrics"] == {"accuracy": 0.5}
        assert (
            "echo/chat" in entry["payload"]["text"] and "accuracy 0.5 (min 0.9)" in entry["payload"]["text"]
        )
        assert receiver.url not in dead_letter.read_text()  # a webhook URL is a secret
        wait_for("the dead alert recorded", lambda: rows(gw)[key]["status"] == "dead")
        quiet_rounds(gw)
        assert receiver.received() == [key, key, key]
        assert len(dead_letter.read_text().splitlines()) == 1
    finally:
        stop(server, gw)
        receiver.close()


def test_a_backend_that_stops_taking_requests_is_an_alert_at_once(
    tmp_path: Path, receiver: Receiver, model_cache: Path
) -> None:
    # a round an hour: only the backend's event can make the service look again within the test
    server, gw = alerts_gateway(
        tmp_path,
        PORTS["down"],
        receiver,
        models=("echo/chat", "tabular/linear"),
        settings_overrides={"model_cache": model_cache},
        interval_s=3600,
    )
    try:
        service = gw.app.state.alerts
        wait_for("the first round", lambda: service.rounds >= 1)
        assert receiver.received() == []  # both backends up

        async def crash() -> None:
            # the backend stops taking requests and says so, as a supervisor does when it restarts one
            await gw.gateway.backends["tabular/linear"].stop()
            gw.gateway.backend_changed("tabular/linear")

        asyncio.run_coroutine_threadsafe(crash(), service.loop).result(60)
        found = wait_for(
            "the backend-down alert", lambda: receiver.received("backend_down:tabular/linear:")[-1:]
        )
        body = receiver.bodies[-1]
        assert body["alert"]["key"] == found[0] and body["alert"]["severity"] == "critical"
        assert "The backend of tabular/linear is down" in body["text"]
        rounds = service.rounds
        service.loop.call_soon_threadsafe(gw.gateway.backend_changed, "tabular/linear")
        wait_for("another round", lambda: service.rounds > rounds)
        assert len(set(receiver.received("backend_down:"))) == 1  # still down: the same episode
    finally:
        stop(server, gw)


def test_a_cost_anomaly_is_an_alert_once_per_customer_day(tmp_path: Path, receiver: Receiver) -> None:
    server, gw = alerts_gateway(tmp_path, PORTS["anomaly"], receiver)
    try:
        gw.customer("spiky")
        now = datetime.now(UTC)
        daily = {4: "1.00", 3: "1.00", 2: "1.00", 0: "20.00"}  # days ago -> compute cost that day
        for ago, cost in daily.items():
            ts = now if ago == 0 else now - timedelta(days=ago)
            gw.ledger.record(event(f"spike-{ago}", ts, Decimal(cost)))
        key = f"cost_anomaly:spiky:{now.date()}"
        wait_for("the anomaly alert", lambda: key in receiver.received())
        body = receiver.bodies[-1]
        assert "Customer spiky cost $20.00 of compute on" in body["text"]
        assert "20.0 x the median of its previous 3 days" in body["text"]
        quiet_rounds(gw)
        assert receiver.received("cost_anomaly:") == [key, key]  # the 500, its retry, and no more
    finally:
        stop(server, gw)


def event(request_id: str, ts: datetime, cost: Decimal) -> UsageEvent:
    return UsageEvent(
        request_id=request_id,
        ts=ts,
        customer="spiky",
        plugin="echo",
        model="echo/chat",
        model_version="1",
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=10.0,
        units_in=10,
        unit="tokens",
        compute_seconds=1.0,
        revenue_usd=Decimal("0.10"),
        cost_usd=cost,
    )
