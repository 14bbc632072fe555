"""Where alerts go: the operator's webhook (Slack-compatible JSON) with retries and a dead-letter log, or
nowhere but the ledger when no webhook is configured.

The URL comes from the operator's ``[alerts] webhook_url`` only; nothing a customer sends reaches it.
It is a secret (a Slack webhook URL is a credential), so neither the dead-letter log nor any error
message names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from verticals.config import AlertSettings
from verticals.ledger.alerts import DEAD, RECORDED, SENT, AlertRow

log = logging.getLogger("verticals.alerts")

DEAD_LETTER_FILE = "alerts-dead.jsonl"  # under <home>/logs/
MAX_RETRY_AFTER_S = 60.0
_COLORS = {"info": "#439FE0", "warning": "warning", "critical": "danger"}


@dataclass(frozen=True)
class Delivery:
    """How sending one alert ended: ``status`` (sent, dead or recorded), webhook ``attempts`` made and the
    last ``error`` (None when delivered or not sent at all)."""

    status: str
    attempts: int = 0
    error: str | None = None


def payload(alert: AlertRow) -> dict[str, Any]:
    """The JSON body for ``alert``: Slack's ``text`` (one line, ``&<>`` escaped as Slack asks) and an
    attachment with the fields, plus ``alert``, the same facts unescaped for programs (key, kind, severity,
    subject, raised_at as ISO 8601 UTC, fields).
    """
    fields = [
        {"title": name, "value": _slack(str(value)), "short": True} for name, value in alert.fields.items()
    ]
    return {
        "text": _slack(f"[{alert.severity}] {alert.text}"),
        "attachments": [{"color": _COLORS.get(alert.severity, "warning"), "fields": fields}],
        "alert": {
            "key": alert.key,
            "kind": alert.kind,
            "severity": alert.severity,
            "subject": alert.subject,
            "text": alert.text,
            "raised_at": alert.raised_at.isoformat(),
            "fields": json.loads(json.dumps(alert.fields, default=str)),
        },
    }


def _slack(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel>): a name must not become one
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Sender(ABC):
    """Delivers one alert and says how it ended; never raises for a failed delivery."""

    @abstractmethod
    async def deliver(self, alert: AlertRow) -> Delivery:
        """Send ``alert``; the Delivery says whether it arrived."""

    async def close(self) -> None:  # noqa: B027 - most senders hold nothing
        """Release what the sender holds (an HTTP client)."""


class RecordOnly(Sender):
    """No webhook configured: alerts are recorded in the ledger (and shown on the Risk page) only."""

    async def deliver(self, alert: AlertRow) -> Delivery:
        return Delivery(RECORDED)


class Webhook(Sender):
    """POSTs each alert to ``settings.webhook_url`` (``payload``), ``settings.timeout_s`` per call. A
    connection error, a timeout, a 429 or a 5xx is retried ``settings.retries`` times, ``backoff_s`` x 1,
    2, 4, ... seconds apart (at least a 429's Retry-After, up to 60 s); another 4xx is not retried. When
    every attempt failed the alert is appended to ``dead_letter`` (JSON lines: at, key, attempts, error,
    payload) and its Delivery is ``dead``.
    """

    def __init__(self, settings: AlertSettings, dead_letter: Path) -> None:
        assert settings.webhook_url is not None
        self.url = settings.webhook_url
        self.settings = settings
        self.dead_letter = dead_letter
        self._http = httpx.AsyncClient(timeout=settings.timeout_s, follow_redirects=False)

    async def deliver(self, alert: AlertRow) -> Delivery:
        body = payload(alert)
        error = ""
        attempts = 0
        for attempt in range(self.settings.retries + 1):
            if attempt:
                await asyncio.sleep(self._delay(attempt, error))
            attempts += 1
            retry, error = await self._post(body)
            if not error:
                return Delivery(SENT, attempts)
            log.warning("alert %s: webhook call %d failed: %s", alert.key, attempts, error)
            if not retry:
                break
        await asyncio.to_thread(self._write_dead_letter, alert, body, attempts, error)
        return Delivery(DEAD, attempts, error)

    async def _post(self, body: dict[str, Any]) -> tuple[bool, str]:
        """(worth retrying, error: "" when delivered)."""
        try:
            response = await self._http.post(self.url, json=body)
        except httpx.HTTPError as error:
            # the exception's text may hold the URL, a secret: name only its kind
            return True, f"{type(error).__name__}: the webhook could not be reached"
        if response.is_success:
            return False, ""
        status = response.status_code
        retry_after = response.headers.get("retry-after", "")
        text = f"HTTP {status}: {response.text[:200]}"
        if retry_after:
            text += f" (Retry-After: {retry_after[:20]})"
        return status == 429 or status >= 500, text

    def _delay(self, attempt: int, error: str) -> float:
        delay = self.settings.backoff_s * 2 ** (attempt - 1)
        marker = "(Retry-After: "
        if marker in error:
            with contextlib.suppress(ValueError):  # an HTTP date: the backoff stands
                delay = max(delay, float(error.split(marker, 1)[1].rstrip(")")))
        return float(min(delay, MAX_RETRY_AFTER_S))

    def _write_dead_letter(self, alert: AlertRow, body: dict[str, Any], attempts: int, error: str) -> None:
        self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "at": datetime.now(UTC).isoformat(),
            "key": alert.key,
            "attempts": attempts,
            "error": error,
            "payload": body,
        }
        with self.dead_letter.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry, default=str) + "\n")

    async def close(self) -> None:
        await self._http.aclose()
