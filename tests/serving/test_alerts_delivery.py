"""Alert delivery without a gateway: the webhook sender against a local HTTP server, the alert service over a
real ledger, and the ``[alerts]`` settings refused up front."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from verticals.alerts.conditions import FailingEvaluations
from verticals.alerts.sender import Webhook, payload
from verticals.alerts.service import AlertService
from verticals.config import AlertSettings, ConfigError, load_settings
from verticals.ledger import Ledger
from verticals.ledger.alerts import AlertRow

from .webhook import Receiver


def alert(key: str = "evaluation_failed:run-1", subject: str = "nlp/chat") -> AlertRow:
    return AlertRow(
        key=key,
        kind="evaluation_failed",
        severity="critical",
        subject=subject,
        text=f"Evaluation of {subject} failed.",
        raised_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
        fields={"model": subject},
    )


def webhook(receiver: Receiver, tmp_path: Path, **settings: object) -> Webhook:
    config = AlertSettings.model_validate({"webhook_url": receiver.url, "backoff_s": 0.01, **settings})
    return Webhook(config, tmp_path / "logs" / "alerts-dead.jsonl")


def test_a_refused_call_is_not_retried_and_goes_to_the_dead_letter_log(tmp_path: Path) -> None:
    receiver = Receiver(always=404)  # a wrong URL does not get better by retrying
    sender = webhook(receiver, tmp_path, retries=3)
    try:
        delivery = asyncio.run(sender.deliver(alert()))
    finally:
        receiver.close()
    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert delivery.error is not None and delivery.error.startswith("HTTP 404")
    entry = json.loads((tmp_path / "logs" / "alerts-dead.jsonl").read_text())
    assert entry["key"] == "evaluation_failed:run-1" and entry["attempts"] == 1


def test_an_unreachable_webhook_is_retried_then_dead_lettered_without_its_url(tmp_path: Path) -> None:
    receiver = Receiver()
    url = receiver.url
    receiver.close()  # nothing listens there any more
    sender = webhook(receiver, tmp_path, retries=2)
    delivery = asyncio.run(sender.deliver(alert()))
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    assert delivery.error is not None and url not in delivery.error
    assert url not in (tmp_path / "logs" / "alerts-dead.jsonl").read_text()


def test_the_payload_is_slack_text_that_no_name_can_turn_into_a_mention() -> None:
    body = payload(alert(subject="<!channel>"))
    assert body["text"] == "[critical] Evaluation of &lt;!channel&gt; failed."
    assert body["attachments"][0]["fields"] == [
        {"title": "model", "value": "&lt;!channel&gt;", "short": True}
    ]
    assert body["alert"]["subject"] == "<!channel>"  # unescaped for programs
    assert body["alert"]["raised_at"] == "2026-11-30T12:00:00+00:00"


def test_an_alert_left_pending_by_a_stopped_gateway_is_sent_at_the_next_start(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        with Ledger.open(tmp_path, fsync_ms=5) as ledger:
            # claimed, then the process stopped before the webhook answered
            assert ledger.claim_alert(alert())
            assert not ledger.claim_alert(alert())  # claimed once only

            async def start_and_wait() -> None:
                service = AlertService(
                    ledger, [FailingEvaluations(ledger)], webhook(receiver, tmp_path), 3600
                )
                service.start()
                while service.rounds < 1:
                    await asyncio.sleep(0.01)
                await service.stop()

            asyncio.run(start_and_wait())
            assert ledger.pending_alerts() == []
        assert receiver.received() == ["evaluation_failed:run-1"]
    finally:
        receiver.close()


@pytest.mark.parametrize(
    ("alerts", "named"),
    [
        ({"webhook_url": "ftp://hooks.example/x"}, "webhook_url"),
        ({"budget_thresholds": [0.5, 0]}, "budget_thresholds"),
        ({"interval_s": 0}, "interval_s"),
        ({"webhook": "https://hooks.example/x"}, "webhook"),  # a misspelt key
    ],
)
def test_bad_alert_settings_are_refused_naming_the_key(alerts: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=rf"alerts.*\b{named}\b"):
        load_settings(alerts=alerts)
