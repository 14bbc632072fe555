"""Billing benchmark (run with `make bench`, or
`.venv/bin/pytest -o python_files='bench_*.py' tests/bench/bench_billing.py -s`).

Target from the billing issue: preview every customer's invoice for a month of 10 million events in
under 2 s in total. Printed beside two baselines measured in the same run: the month's plain
``usage_summary`` by customer x model x unit (what revenue was before billing), and the bare scan billing
reads its usage with (``Ledger.usage_totals_many``), so the cost of the invoice arithmetic on top shows.

200 customers (the synthetic mix: 3 enterprise, 12 pro, the rest free), on plans with every charge model
(graduated and volume tokens, package audio, per-unit images, the list price for the rest), allowances
per model, plugin and unit, 20 customers switching plan mid-month and 50 with a credit grant. The
target is asserted on CPU time of this process (all threads), as the ledger benchmarks do: wall time on
a shared machine measures the neighbours. ``VERTICALS_BENCH_EVENTS`` shrinks the 10 million for a
quick run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from verticals.billing.invoices import finalize_month, preview_all
from verticals.billing.model import ChargeModel, Tier
from verticals.ledger import Ledger
from verticals.ledger import analytics as A
from verticals.ledger.synthetic import generate_usage

BIG = int(os.environ.get("VERTICALS_BENCH_EVENTS", "10000000"))
OCT = datetime(2026, 10, 1, tzinfo=UTC)
MID = datetime(2026, 10, 16, tzinfo=UTC)
NOV = datetime(2026, 11, 1, tzinfo=UTC)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _price_book(ledger: Ledger) -> None:
    """Every charge model on the synthetic plans, effective before October."""
    tiers = [Tier(Decimal(10**6), Decimal("0.000003")), Tier(Decimal(10**8), Decimal("0.000002"), Decimal(5)),
             Tier(None, Decimal("0.000001"))]  # fmt: skip
    for plan, kind in (("pro", ChargeModel.GRADUATED), ("enterprise", ChargeModel.VOLUME)):
        ledger.set_price(plan, "tokens", "0.000003", model="nlp/chat", charge_model=kind, tiers=tiers)
        ledger.set_price(plan, "images", "0.0015", model="vision/classify")
        ledger.set_price(plan, "audio-seconds", "0.05", model="speech/transcribe",
                         charge_model=ChargeModel.PACKAGE, package_size="600")  # fmt: skip
    ledger.set_price("free", "tokens", "0.000002", plugin="nlp")
    ledger.set_allowance("pro", "tokens", "1000000", model="nlp/*")
    ledger.set_allowance("pro", "images", "1000")
    ledger.set_allowance("enterprise", "tokens", "20000000", model="nlp/chat")
    ledger.set_allowance("enterprise", "rows", "100000")


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    home = tmp_path_factory.mktemp("billing")
    clock = _Clock(datetime(2026, 9, 20, tzinfo=UTC))
    with Ledger.open(home, fsync_ms=50, clock=clock) as ledger:
        _price_book(ledger)
        began = time.perf_counter()
        generate_usage(ledger, BIG, start=OCT, days=31, customers=200)
        print(f"\ngenerated {BIG:,} events in {time.perf_counter() - began:.1f} s")
        # the synthetic customers are written without a plan history: give every one its plan from
        # October, 20 of them a change on the 16th, 50 a credit
        customers = ledger.list_customers()
        for index, customer in enumerate(customers):
            ledger.set_subscription(customer.name, customer.plan, OCT)
            if index % 10 == 5:
                ledger.set_subscription(customer.name, "pro" if customer.plan != "pro" else "enterprise", MID)
            if index % 4 == 0:
                ledger.grant_credit(customer.name, "20", reason="welcome", granted_at=OCT)
        ledger.connection.execute("CHECKPOINT")
        clock.now = datetime(2026, 11, 2, tzinfo=UTC)
        yield ledger


def _best(fn: Callable[[], Any], runs: int = 3) -> tuple[float, float, Any]:
    """Best wall and CPU time (all threads) of ``runs`` calls, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        began, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def test_preview_every_invoice_of_a_month(month: Ledger) -> None:
    ledger = month
    windows = [(c.name, OCT, NOV) for c in ledger.list_customers()]
    summary_wall, summary_cpu, _ = _best(
        lambda: A.usage_summary(ledger, by=["customer", "model", "unit"], since=OCT, until=NOV)
    )
    scan_wall, scan_cpu, _ = _best(lambda: ledger.usage_totals_many(windows))
    wall, cpu, drafts = _best(lambda: preview_all(ledger, "2026-10"))
    lines = sum(len(d.fees) + len(d.usage) + len(d.credits) for d in drafts)
    billed = sum(d.total_usd for d in drafts)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {BIG:,} events in October")
    print(f"  baseline usage_summary(customer x model x unit): {summary_wall * 1000:6.0f} ms wall, "
          f"{summary_cpu * 1000:6.0f} ms CPU")  # fmt: skip
    print(f"  baseline usage_totals_many (billing's one scan):   {scan_wall * 1000:6.0f} ms wall, "
          f"{scan_cpu * 1000:6.0f} ms CPU")  # fmt: skip
    print(f"  preview_all: {len(drafts)} invoices, {lines} lines, ${billed:,.2f} billed: "
          f"{wall * 1000:6.0f} ms wall ({wall / summary_wall:.2f}x usage_summary), {cpu * 1000:6.0f} ms CPU "
          "(goal < 2 s)")  # fmt: skip
    began = time.perf_counter()
    issued = finalize_month(ledger, "2026-10")
    print(
        f"  finalize_month: {len(issued)} invoices numbered and stored in {time.perf_counter() - began:.2f} s"
    )
    assert len(drafts) == len(issued) == 200
    assert sum(i.total_usd for i in issued) == billed
    # CPU time summed over DuckDB's threads and Python: under 2 s of it is under 2 s of wall time on an
    # otherwise idle machine, whatever else shares the cores while the benchmark runs
    assert cpu < 2.0, f"previewing every invoice took {cpu:.2f} CPU-seconds"
