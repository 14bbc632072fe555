"""The demo company's back-filled history tells a story an owner could act on (issue 16, item 2).

One 30-day back-fill, as ``make up`` runs it (every plugin installed), into a temporary home; then the
figures the dashboard's Overview, Customers and Compute pages read, from the ledger's analytics.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

VERTICALS = str(Path(sys.executable).parent / "verticals")
PLUGINS = "nlp,health,finance,vision,speech"  # make up's fleet: the LLM on GPUs, the rest on CPU nodes


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from verticals.ledger import Ledger

    home = tmp_path_factory.mktemp("demo-company")
    env = {**os.environ, "VERTICALS_HOME": str(home), "VERTICALS_LOAD_PLUGINS": PLUGINS}
    result = subprocess.run(
        [VERTICALS, "demo", "--backfill-days", "30", "--duration", "0", "--seed", "11"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with Ledger.open(home, read_only=True) as opened:
        yield opened


def test_gross_margin_after_all_compute_is_between_30_and_80_percent(ledger: Any) -> None:
    from verticals.ledger.analytics import usage_summary

    [total] = usage_summary(ledger, by=[])
    assert total["idle_cost_usd"] > 0
    # revenue minus everything provisioned, idle included
    assert total["margin_usd"] == total["revenue_usd"] - total["cost_usd"]
    assert 0.30 <= total["margin_ratio"] <= 0.80, total
    # and the busy compute is real money, not cents against an idle fleet
    assert total["request_cost_usd"] >= total["cost_usd"] / 5, total


def test_idle_cost_is_visible_and_utilization_is_between_10_and_80_percent(ledger: Any) -> None:
    from verticals.ledger.analytics import utilization

    classes = {row["device_class"]: row for row in utilization(ledger, by="device_class")}
    assert {"cpu", "l4", "h100"} <= set(classes)
    for row in classes.values():
        assert 0.10 <= row["utilization"] <= 0.80, row
        assert row["idle_cost_usd"] > 0, row
    # each device too, the day of the cost spike included (a second H100 takes its load)
    devices = utilization(ledger, by="device")
    for row in devices:
        assert 0.10 <= row["utilization"] <= 0.80, row
    assert "demo-gpu-h100-1" in {row["device_id"] for row in devices}


def test_utilization_follows_the_day(ledger: Any) -> None:
    # the L4 is up all day: its busy share per hour of the day, over the 30 days
    rows = ledger.connection.execute(
        "SELECT hour(ts), sum(compute_seconds) / (30 * 3600) FROM usage_events "
        "WHERE device_class = 'l4' GROUP BY 1"
    ).fetchall()
    by_hour = dict(rows)
    assert len(by_hour) == 24
    assert max(by_hour.values()) < 1.0  # never more busy seconds than the hour has
    assert max(by_hour.values()) > 2 * min(by_hour.values())  # busy afternoons, quiet nights


def test_the_llm_runs_on_gpus_priced_from_the_cost_book(ledger: Any) -> None:
    from verticals.ledger.analytics import utilization

    devices = utilization(ledger, by="device")
    gpus = [row for row in devices if row["device_class"] in ("l4", "h100")]
    assert gpus and all(row["models"] == ["nlp/chat"] for row in gpus)
    for row in gpus:  # each paid at its class's rate in the cost book, for the hours it was up
        rate = float(ledger.cost_rate(row["device_class"]))
        assert float(row["provisioned_cost_usd"]) == pytest.approx(rate * row["provisioned_hours"])
    assert {row["device_class"] for row in gpus} == {"l4", "h100"}


def test_each_shared_cpu_node_is_one_device_serving_several_models(ledger: Any) -> None:
    from verticals.ledger.analytics import utilization

    nodes = [row for row in utilization(ledger, by="device") if row["device_class"] == "cpu"]
    models = [m for row in nodes for m in row["models"]]
    assert len(nodes) == len({row["device_id"] for row in nodes}) < len(set(models))
    assert all(len(row["models"]) > 1 for row in nodes)
    assert {"health/diagnosis", "finance/fraud", "speech/transcribe"} <= set(models)


def test_a_customer_loses_money_and_plans_have_monthly_fees(ledger: Any) -> None:
    from verticals.ledger.analytics import usage_summary

    customers = {row["customer"]: row for row in usage_summary(ledger, by=["customer"])}
    losing = [name for name, row in customers.items() if row["revenue_usd"] < row["cost_usd"]]
    assert losing, {name: (row["revenue_usd"], row["cost_usd"]) for name, row in customers.items()}
    fees = {plan.name: plan.monthly_fee_usd for plan in ledger.list_plans()}
    plans = {c.plan for c in ledger.list_customers() if c.name.startswith("demo-")}
    assert sum(1 for plan in plans if fees[plan] > 0) >= 2


def test_latencies_are_the_ones_measured_for_each_backend(ledger: Any) -> None:
    from verticals.demo.fleet import LATENCY_MS
    from verticals.ledger.analytics import latency_by_model

    rows = {row["model"]: row for row in latency_by_model(ledger)}
    # small CPU models answer in milliseconds, the LLM in seconds: not one synthetic curve for all
    assert rows["finance/fraud"]["p50_ms"] < 0.1 * rows["nlp/chat"]["p50_ms"]
    assert rows["echo/chat"]["p50_ms"] < 50  # an echo answers in milliseconds (it read 878 ms)
    fraud = LATENCY_MS["finance/fraud"]
    assert 0.5 * fraud.p50_ms < rows["finance/fraud"]["p50_ms"] < 3 * fraud.p95_ms


def test_backfilled_history_is_marked_as_demo_data(ledger: Any) -> None:
    from verticals.ledger.analytics import demo_history, usage_summary

    [total] = usage_summary(ledger, by=[])
    found = demo_history(ledger)
    assert found["events"] == total["requests"]
    assert found["first_at"] < found["last_at"]
