"""Fixtures for the ledger tests: a fresh ledger on a clock the test controls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from verticals.ledger import Ledger, UsageEvent


class Clock:
    """A settable clock, so tests can move time forward past effective dates."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    opened = Ledger.open(tmp_path / "home", fsync_ms=20, clock=clock)
    yield opened
    opened.close()


def make_event(**fields: Any) -> UsageEvent:
    values: dict[str, Any] = {
        "request_id": "req-1",
        "ts": datetime(2026, 11, 15, 12, 0, tzinfo=UTC),
        "customer": "acme",
        "key_prefix": None,
        "plugin": "nlp",
        "model": "nlp/chat",
        "model_version": "1",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 100.0,
        "units_in": 10,
        "units_out": 20,
        "unit": "tokens",
        "compute_seconds": 0.5,
        "revenue_usd": Decimal("0.003"),
        "cost_usd": Decimal("0.001"),
    }
    values.update(fields)
    return UsageEvent(**values)
