"""Capacity records and evaluation runs: what is stored and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from verticals.ledger import Ledger, LedgerError

UP = datetime(2026, 11, 1, tzinfo=UTC)
DOWN = datetime(2026, 11, 2, tzinfo=UTC)


def test_capacity_open_then_close(ledger: Ledger) -> None:
    ledger.record_capacity("vllm-0", "nlp/chat", "h100", UP)
    ledger.record_capacity("vllm-0", "nlp/chat", "h100", UP)  # repeated "up" is harmless
    ledger.record_capacity("vllm-0", "nlp/chat", "h100", UP, DOWN)
    rows = ledger.connection.execute("SELECT instance_id, up_at, down_at FROM capacity").fetchall()
    assert rows == [("vllm-0", UP.replace(tzinfo=None), DOWN.replace(tzinfo=None))]
    with pytest.raises(LedgerError, match="was closed"):
        ledger.record_capacity("vllm-0", "nlp/chat", "h100", UP, DOWN)
    with pytest.raises(LedgerError, match="give the instance a new id"):
        ledger.record_capacity("vllm-0", "nlp/other", "h100", UP, DOWN)
    with pytest.raises(LedgerError, match="before it came up"):
        ledger.record_capacity("vllm-1", "nlp/chat", "h100", DOWN, UP)
    with pytest.raises(LedgerError, match="no cost rate for device class 'tpu'"):
        ledger.record_capacity("tpu-0", "nlp/chat", "tpu", UP)
    assert ledger.connection.execute("SELECT count(*) FROM capacity").fetchone() == (1,)


def test_evaluation_runs(ledger: Ledger) -> None:
    run_id = ledger.record_evaluation(
        "tabular/diabetes",
        "3",
        "holdout",
        {"r2": 0.41, "mae": 44.0},
        {"r2": {"min": 0.3, "max": None}, "mae": {"max": 40.0}},
        passed=False,
        at=UP,
    )
    conn = ledger.connection
    assert conn.execute("SELECT model, version, suite, passed, run_at FROM evaluation_runs").fetchall() == [
        ("tabular/diabetes", "3", "holdout", False, UP.replace(tzinfo=None))
    ]
    metrics = conn.execute(
        "SELECT metric, value, min, max, passed FROM evaluation_metrics WHERE run_id = ? ORDER BY metric",
        [run_id],
    ).fetchall()
    assert metrics == [("mae", 44.0, None, 40.0, False), ("r2", 0.41, 0.3, None, True)]
    with pytest.raises(LedgerError, match="did not report"):
        ledger.record_evaluation("tabular/diabetes", "3", "holdout", {"r2": 0.5}, {"mae": {"max": 1}}, True)
    assert conn.execute("SELECT count(*) FROM evaluation_runs").fetchone() == (1,)


def test_evaluation_history_over_time(ledger: Ledger) -> None:
    from verticals.ledger.analytics import evaluation_history

    later = UP + timedelta(days=1)
    ledger.record_evaluation(
        "vision/digits", "1", "holdout", {"accuracy": 0.95}, {"accuracy": {"min": 0.97}}, passed=False, at=UP
    )
    ledger.record_evaluation(
        "vision/digits",
        "2",
        "holdout",
        {"accuracy": 0.99},
        {"accuracy": {"min": 0.97}},
        passed=True,
        at=later,
    )
    ledger.record_evaluation("nlp/chat", "1", "qa", {"exact": 0.5}, {}, passed=True, at=later)
    history = evaluation_history(ledger, model="vision/digits")
    assert [
        (r["version"], r["value"], r["min"], r["max"], r["passed"], r["run_passed"]) for r in history
    ] == [
        ("1", 0.95, 0.97, None, False, False),
        ("2", 0.99, 0.97, None, True, True),
    ]
    assert history[0]["at"] == UP
    assert [r["model"] for r in evaluation_history(ledger, since=later)] == ["nlp/chat", "vision/digits"]
    assert evaluation_history(ledger, until=UP) == []
