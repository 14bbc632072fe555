"""The Risk page lists the alerts the gateway raised, read from the ledger like every other figure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verticals.alerts.conditions import BudgetThresholds, FailingEvaluations
from verticals.alerts.sender import RecordOnly
from verticals.alerts.service import AlertService
from verticals.ledger import Ledger


def test_risk_page_lists_recent_alerts(app_test: Callable[..., Any], tmp_path: Path) -> None:
    with Ledger.open(tmp_path, fsync_ms=5) as ledger:
        ledger.create_customer("acme", "pro", budget_usd="10")
        ledger.record_evaluation("nlp/chat", "2", "qa", {"accuracy": 0.6}, {"accuracy": {"min": 0.7}}, False)
        # no webhook configured: the alert is recorded for the Risk page only
        service = AlertService(
            ledger, [FailingEvaluations(ledger), BudgetThresholds(ledger, [0.5])], RecordOnly(), 30
        )
        raised = asyncio.run(service.run_once())
        assert [a.kind for a in raised] == ["evaluation_failed"]  # acme spent nothing of its budget
        assert asyncio.run(service.run_once()) == []  # the same event again: nothing new

    at = app_test(tmp_path, "risk")
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    table = next(d.value for d in at.dataframe if "severity" in d.value.columns)
    assert list(table["kind"]) == ["evaluation_failed"]
    assert list(table["status"]) == ["recorded"]
    assert list(table["subject"]) == ["nlp/chat"]
    assert "accuracy 0.6 (min 0.7)" in table["text"].iloc[0]
    assert table["time"].iloc[0].date() == datetime.now(UTC).date()


def test_risk_page_says_when_there_is_no_alert(app_test: Callable[..., Any], tmp_path: Path) -> None:
    with Ledger.open(tmp_path, fsync_ms=5):
        pass
    at = app_test(tmp_path, "risk")
    assert not at.exception and not at.error
    assert any("No alert in this range" in s.value for s in at.success)
