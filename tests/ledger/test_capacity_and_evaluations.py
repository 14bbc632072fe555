"""Capacity records and evaluation runs: what is stored and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from verticals.ledger import Ledger, LedgerError

ENGINES = ("duckdb", "postgres")  # every test taking `ledger` runs on both (conftest)

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


NINE = [f"vision/m{i}" for i in range(9)]


def test_one_machine_serving_nine_models_is_one_device_day(ledger: Ledger) -> None:
    """The acceptance check: one machine up for a day serving nine models shows one device-day of
    capacity ($2.40 at cpu's $0.10/h), not nine; per model the day is shared by busy seconds."""
    from verticals.ledger.analytics import usage_summary, utilization

    from .conftest import make_event

    ledger.record_device("cpu-host-1", "cpu", NINE, UP)
    ledger.record_device("cpu-host-1", "cpu", NINE, UP, DOWN)
    for i, model in enumerate(NINE[:3]):  # three of the nine carry 1, 2 and 3 busy hours
        ledger.record(
            make_event(
                request_id=f"r{i}",
                ts=UP + timedelta(hours=1),
                plugin="vision",
                model=model,
                device_class="cpu",
                compute_seconds=3600.0 * (i + 1),
                cost_usd="0",
            )
        )
    ledger.flush()
    [cpu] = utilization(ledger, since=UP, until=DOWN, by="device_class", basis="list")
    assert (cpu["instances"], cpu["provisioned_hours"], cpu["provisioned_cost_usd"]) == (1, 24.0, D("2.40"))
    assert cpu["busy_hours"] == 6 and cpu["utilization"] == 0.25
    per_model = {row["model"]: row for row in utilization(ledger, since=UP, until=DOWN, basis="list")}
    assert set(per_model) == set(NINE[:3])  # models with no request share nothing; no "torch", no "-"
    assert sum(row["provisioned_hours"] for row in per_model.values()) == pytest.approx(24)
    assert per_model["vision/m2"]["provisioned_cost_usd"] == D("1.20")  # 3 of the 6 busy hours
    [device] = utilization(ledger, since=UP, until=DOWN, by="device")
    assert (device["device_id"], device["models"], device["provisioned_hours"]) == ("cpu-host-1", NINE, 24.0)
    [total] = usage_summary(ledger, by=[], since=UP, until=DOWN, basis="list")
    assert total["cost_usd"] == D("2.40") and total["request_cost_usd"] == 0


def test_device_records_and_refusals(ledger: Ledger) -> None:
    ledger.record_device("gpu0-host", "h100", ["nlp/chat"], UP)
    ledger.record_device("gpu0-host", "h100", ["nlp/chat", "nlp/embed"], UP)  # a model loaded later
    ledger.record_device("gpu0-host", "h100", [], UP, DOWN)
    conn = ledger.connection
    assert conn.execute("SELECT device_id, device_class, down_at FROM devices").fetchall() == [
        ("gpu0-host", "h100", DOWN.replace(tzinfo=None))
    ]
    assert conn.execute("SELECT model FROM device_models ORDER BY model").fetchall() == [
        ("nlp/chat",),
        ("nlp/embed",),
    ]
    with pytest.raises(LedgerError, match="was closed"):
        ledger.record_device("gpu0-host", "h100", ["nlp/chat"], UP, DOWN)
    with pytest.raises(LedgerError, match="recorded as h100, not l4"):
        ledger.record_device("gpu0-host", "l4", ["nlp/chat"], UP)
    with pytest.raises(LedgerError, match="before it came up"):
        ledger.record_device("gpu1-host", "h100", ["nlp/chat"], DOWN, UP)
    with pytest.raises(LedgerError, match="no cost rate for device class 'tpu'"):
        ledger.record_device("tpu-0", "tpu", ["nlp/chat"], UP)
    with pytest.raises(LedgerError, match="needs an id"):
        ledger.record_device("", "cpu", ["nlp/chat"], UP)
    assert conn.execute("SELECT count(*) FROM devices").fetchone() == (1,)


def test_shared_device_idle_follows_busy_share_per_customer(ledger: Ledger) -> None:
    """Two customers on one device shared by two models: each pays its busy share of the idle time;
    the contribution margin is what their requests carried; a device no one used is the idle line."""
    from verticals.ledger.analytics import latency_by_model, unit_economics, usage_summary

    from .conftest import make_event

    ledger.record_device("cpu-a", "cpu", ["nlp/chat", "vision/cls"], UP, DOWN)  # $2.40
    ledger.record_device("l4-b", "l4", ["nlp/big"], UP, DOWN)  # $19.20, no request
    for rid, customer, model, seconds, cost, revenue in (
        ("a", "acme", "nlp/chat", 2700.0, "0.075", "1.00"),
        ("b", "globex", "vision/cls", 900.0, "0.025", "0.50"),
        ("c", "globex", "-", 0.0, "0", "0"),  # named no model: 404
    ):
        ledger.record(
            make_event(
                request_id=rid,
                ts=UP + timedelta(hours=2),
                customer=customer,
                plugin=model.split("/")[0],
                model=model,
                device_class="cpu",
                compute_seconds=seconds,
                cost_usd=cost,
                revenue_usd=revenue,
            )
        )
    ledger.flush()
    rows = {
        r["customer"]: r for r in usage_summary(ledger, by=["customer"], since=UP, until=DOWN, basis="list")
    }
    # cpu-a idle: 2.40 - 0.10 carried = 2.30, shared 3:1 by busy seconds
    assert (rows["acme"]["request_cost_usd"], rows["acme"]["idle_cost_usd"]) == (D("0.075"), D("1.725"))
    assert rows["acme"]["cost_usd"] == D("1.80") and rows["acme"]["margin_usd"] == D("-0.80")
    assert rows["acme"]["contribution_margin_usd"] == D("0.925")
    assert rows["globex"]["cost_usd"] == D("0.60")
    assert rows["(idle)"]["cost_usd"] == D("19.20") and rows["(idle)"]["requests"] == 0
    assert sum(r["cost_usd"] for r in rows.values()) == D("21.60")  # both devices, each once
    only_acme = usage_summary(ledger, by=[], customer="acme", since=UP, until=DOWN, basis="list")[0]
    assert only_acme["cost_usd"] == D("1.80")  # the unused device is nobody's
    models = {r["model"] for r in usage_summary(ledger, by=["model"], since=UP, until=DOWN)}
    assert models == {"nlp/chat", "vision/cls", "no model", "(idle)"}
    [none] = usage_summary(ledger, by=["model"], model="no model", since=UP, until=DOWN)
    assert none["requests"] == 1
    assert {r["model"] for r in latency_by_model(ledger)} == {"nlp/chat", "vision/cls", "no model"}
    assert "no model" not in {r["model"] for r in unit_economics(ledger)}  # it has no units to price
