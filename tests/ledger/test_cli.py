"""The ledger's commands, run through the real click root group against a temporary data directory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from verticals.cli import cli as root
from verticals.ledger import Ledger
from verticals.ledger.commands import attach

from .conftest import make_event


@pytest.fixture(scope="module")
def app() -> click.Group:
    group = click.Group(commands=dict(root.commands))
    attach(group)
    return group


Invoke = Callable[..., Result]


@pytest.fixture
def run(app: click.Group, verticals_home: Path) -> Invoke:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)

    return invoke


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def refused(result: Result, message: str) -> None:
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_customers(run: Invoke, verticals_home: Path) -> None:
    ok(run("customers", "create", "acme", "--plan", "pro", "--budget", "250"))
    data = json.loads(ok(run("customers", "list", "--json")).output)
    assert [(c["name"], c["plan"], c["budget_usd"]) for c in data] == [("acme", "pro", "250.000000")]
    refused(run("customers", "create", "acme", "--plan", "pro"), "already exists")
    refused(run("customers", "create", "globex", "--plan", "gold"), "unknown plan 'gold'")
    refused(run("customers", "create", "globex", "--plan", "pro", "--budget", "lots"), "not a number")
    assert len(json.loads(ok(run("customers", "list", "--json")).output)) == 1
    ok(run("customers", "set", "acme", "--status", "suspended", "--no-budget"))
    (customer,) = json.loads(ok(run("customers", "list", "--json")).output)
    assert (customer["status"], customer["budget_usd"]) == ("suspended", None)
    assert "acme" in ok(run("customers", "list")).output


def test_keys(run: Invoke, verticals_home: Path) -> None:
    ok(run("customers", "create", "acme", "--plan", "free"))
    created = json.loads(ok(run("keys", "create", "--customer", "acme", "--rpm", "60", "--json")).output)
    assert created["key"].startswith(created["prefix"]) and created["customer"] == "acme"
    listing = ok(run("keys", "list", "--json")).output
    assert created["key"] not in listing
    assert [(k["prefix"], k["rpm"], k["active"]) for k in json.loads(listing)] == [
        (created["prefix"], 60, True)
    ]
    plain = ok(run("keys", "create", "--customer", "acme"))
    assert plain.stdout.strip().startswith("vk_") and "cannot be shown again" in plain.stderr
    ok(run("keys", "revoke", created["prefix"]))
    refused(run("keys", "revoke", created["prefix"]), "already revoked")
    refused(run("keys", "create", "--customer", "nobody"), "unknown customer 'nobody'")
    with Ledger.open(verticals_home, read_only=True) as ledger:
        found = ledger.find_key(created["key"])
        assert found is not None and found.revoked_at is not None


def test_plans_prices_and_costs(run: Invoke) -> None:
    ok(run("plans", "create", "startup", "--fee", "19", "--included-units", "1000"))
    plans = {p["name"]: p for p in json.loads(ok(run("plans", "list", "--json")).output)}
    assert plans["startup"]["monthly_fee_usd"] == "19.000000" and plans["free"]["example"] is True
    ok(run("prices", "set", "startup", "tokens", "0.000002", "--model", "nlp/chat", "--note", "launch"))
    ok(run("prices", "set", "startup", "images", "0.01", "--plugin", "vision", "--from", "2099-01-01"))
    rows = json.loads(ok(run("prices", "list", "--plan", "startup", "--json")).output)
    assert [(r["model"], r["plugin"], r["price_per_unit_usd"]) for r in rows] == [
        ("nlp/chat", None, "0.000002000000"),
        (None, "vision", "0.010000000000"),
    ]
    refused(
        run("prices", "set", "startup", "tokens", "1", "--model", "nlp/chat", "--from", "2020-01-01"),
        "in the past",
    )
    refused(run("prices", "set", "startup", "tokens", "--model", "nlp/chat", "--", "-1"), "negative")
    refused(run("prices", "set", "gold", "tokens", "1", "--model", "nlp/chat"), "unknown plan")
    ok(run("costs", "set", "h100", "2.10", "--note", "reserved"))
    costs = json.loads(ok(run("costs", "list", "--json")).output)
    assert [c["usd_per_hour"] for c in costs if c["device_class"] == "h100"] == ["3.000000", "2.100000"]
    refused(run("costs", "set", "h100", "cheap"), "not a number")


def test_usage_report(run: Invoke, verticals_home: Path) -> None:
    with Ledger.open(verticals_home, fsync_ms=20) as ledger:
        for index, (customer, revenue) in enumerate([("acme", "0.5"), ("acme", "0.25"), ("globex", "2")]):
            ts = datetime(2026, 11, 10 + index, tzinfo=UTC)
            ledger.record(
                make_event(request_id=f"r{index}", customer=customer, ts=ts, revenue_usd=Decimal(revenue))
            )
    # usage at list price (these events' customers were never created, so nothing is invoiced to them;
    # billed revenue is tested in tests/billing/test_billed_revenue.py)
    data = json.loads(ok(run("usage", "report", "--basis", "list", "--json")).output)
    assert [(r["customer"], r["requests"], r["revenue_usd"]) for r in data] == [
        ("globex", 1, "2.000000000"),
        ("acme", 2, "0.750000000"),
    ]
    text = ok(
        run(
            "usage",
            "report",
            "--by",
            "day",
            "--by",
            "model",
            "--since",
            "2026-11-11",
            "--basis",
            "list",
            "--csv",
        )
    ).output
    table = list(csv.DictReader(io.StringIO(text)))
    assert [(r["bucket"][:10], r["model"], r["revenue_usd"]) for r in table] == [
        ("2026-11-11", "nlp/chat", "0.250000000"),
        ("2026-11-12", "nlp/chat", "2.000000000"),
    ]
    refused(run("usage", "report", "--json", "--csv"), "not both")
    refused(run("usage", "report", "--since", "yesterday"), "Invalid value for '--since'")


def test_usage_report_gross_margin_includes_idle(run: Invoke, verticals_home: Path) -> None:
    """The report's margin is revenue minus everything provisioned (a cpu device up 10 h: $1.00), not
    only what requests carried; that one is the contribution margin, shown beside it."""
    up = datetime(2026, 11, 10, tzinfo=UTC)
    with Ledger.open(verticals_home, fsync_ms=20) as ledger:
        ledger.record_device("cpu-1", "cpu", ["nlp/chat"], up, datetime(2026, 11, 10, 10, tzinfo=UTC))
        ledger.record(
            make_event(
                request_id="r1",
                ts=datetime(2026, 11, 10, 1, tzinfo=UTC),
                revenue_usd=Decimal("3"),
                cost_usd=Decimal("0.25"),
                compute_seconds=9000.0,
            )
        )
    data = json.loads(ok(run("usage", "report", "--basis", "list", "--json")).output)
    assert [(r["customer"], r["cost_usd"], r["margin_usd"], r["contribution_margin_usd"]) for r in data] == [
        ("acme", "1.000000000", "2.000000000", "2.750000000")
    ]
    text = ok(run("usage", "report", "--csv")).output
    header = text.splitlines()[0].split(",")
    assert {"request_cost_usd", "idle_cost_usd", "contribution_margin_usd"} <= set(header)


def test_ledger_in_use_by_another_process_is_explained(run: Invoke, verticals_home: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys, time; from verticals.ledger import Ledger; "
        "ledger = Ledger.open(sys.argv[1], fsync_ms=20); print('open', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(verticals_home)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        refused(run("customers", "list"), "in use by another process")
    finally:
        holder.kill()
        holder.wait()
