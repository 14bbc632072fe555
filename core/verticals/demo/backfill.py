"""Back-fill for ``verticals demo``: N days of synthetic usage written straight into the ledger.

The events are generated, not served: they follow a daily rhythm and a weekly dip, skewed customers,
the registered models with their real prices (the plan's price book in force, else the model's list
price) and the cost book's device rates, about 1% server errors and 2% client errors, and one cost
spike (one customer-day at about 8x its usual compute). Budgets of new demo customers are sized on
their generated spend, one of them below it; like the gateway, a request that would take a customer
past its monthly budget is refused (402) and earns nothing. Backend capacity is recorded for the
whole period so idle cost shows. Customers are created as of the first back-filled day, so month-to-date
run-rates are honest.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from verticals.demo.customers import SPIKE_CUSTOMER, DemoCustomer, diurnal

EVENTS_PER_DAY = 1_500
NANO = Decimal("0.000000001")
# (units in, units out, compute seconds per unit) by task: a rough shape of each kind of call.
PROFILE: dict[str, tuple[tuple[int, int], tuple[int, int], float]] = {
    "chat": ((30, 600), (20, 400), 0.0015),
    "completion": ((20, 400), (20, 300), 0.0015),
    "embedding": ((10, 300), (0, 0), 0.0004),
    "transcription": ((5, 60), (0, 0), 0.05),
    "image-classification": ((1, 4), (0, 0), 0.03),
}
DEFAULT_PROFILE = ((1, 64), (0, 0), 0.002)


def backfill(
    home: Path, days: int, customers: Sequence[DemoCustomer], rng: random.Random, now: datetime | None = None
) -> int:
    """Write ``days`` days of synthetic events ending at ``now``; returns how many were written."""
    from rich.progress import Progress

    from verticals.ledger import Ledger, LedgerError, UsageEvent
    from verticals.registry import Registry

    end = (now or datetime.now(UTC)).replace(microsecond=0)
    start = end - timedelta(days=days)
    specs = [spec.item for spec in Registry.load().models.values()]
    if not specs:
        raise LedgerError(
            "no model is registered, so there is nothing to back-fill: see `verticals plugins list`"
        )
    model_weights = [3.0 if str(s.task) == "chat" else 1.0 for s in specs]
    with Ledger.open(home, clock=lambda: start) as ledger, Progress() as progress:
        known = {c.name for c in ledger.list_customers()}
        new = [c for c in customers if c.name not in known]
        for customer in new:
            ledger.create_customer(customer.name, customer.plan)
        plans = {c.name: c.plan for c in ledger.list_customers()}
        # one calendar day (UTC) in the last week, with enough days before it to count as unusual
        spike_day = (start + timedelta(days=rng.randrange(max(days - 7, 1), days) if days > 1 else 0)).date()
        task = progress.add_task("back-filling synthetic history", total=days * 24)
        events: list[dict[str, Any]] = []
        for hour in range(days * 24):
            at = start + timedelta(hours=hour)
            weekday_factor = 0.55 if at.weekday() >= 5 else 1.0
            for _ in range(_poisson(rng, EVENTS_PER_DAY / 24 / 0.6 * diurnal(at.hour / 24) * weekday_factor)):
                customer = rng.choices(customers, [c.weight for c in customers])[0]
                ts = at + timedelta(seconds=rng.uniform(0, 3600))
                if ts < end:
                    spec = rng.choices(specs, model_weights)[0]
                    spike = customer.name == SPIKE_CUSTOMER and ts.date() == spike_day
                    events.append(_event(ledger, rng, customer, plans[customer.name], spec, ts, spike))
            progress.update(task, advance=1)
        events.sort(key=lambda event: event["ts"])
        _size_budgets(ledger, new, events, start, end)
        budgets = {c.name: c.budget_usd for c in ledger.list_customers()}
        # month-to-date revenue per customer: like the gateway, refuse (402) what would pass a budget
        spent: dict[tuple[str, int, int], Decimal] = {}
        for event in events:
            month = (event["customer"], event["ts"].year, event["ts"].month)
            budget = budgets.get(event["customer"])
            if budget is not None and spent.get(month, Decimal(0)) + event["revenue_usd"] > budget:
                event.update(
                    status=402,
                    units_in=0.0,
                    units_out=0.0,
                    compute_seconds=0.0,
                    ttft_ms=None,
                    revenue_usd=Decimal(0),
                    cost_usd=Decimal(0),
                )
            spent[month] = spent.get(month, Decimal(0)) + event["revenue_usd"]
            ledger.record(UsageEvent(**event))
        ledger.flush()
        for spec in specs:
            ledger.record_capacity(f"demo-{spec.name}-{uuid.uuid4().hex[:8]}", spec.name, "cpu", start, end)
    return len(events)


def _size_budgets(
    ledger: Any, created: Sequence[DemoCustomer], events: list[dict[str, Any]], start: datetime, end: datetime
) -> None:
    """Budgets for the customers created now, sized on their projected spend this month (prices depend on
    the installed plugins): comfortable for most, 15% short of it for the one heading over budget.

    The projection is the ledger's own forecast rule: month-to-date spend over the time since the month
    (or the customer) began, extended to month end.
    """
    month_begin = max(end.replace(day=1, hour=0, minute=0, second=0, microsecond=0), start)
    month_end = (month_begin.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0)
    elapsed = (end - month_begin).total_seconds()
    spend: dict[str, Decimal] = {}
    for event in events:
        if event["ts"] >= month_begin:
            spend[event["customer"]] = spend.get(event["customer"], Decimal(0)) + event["revenue_usd"]
    for customer in created:
        projected = spend.get(customer.name, Decimal(0)) * Decimal((month_end - month_begin).total_seconds())
        projected = projected / Decimal(elapsed) if elapsed > 0 else Decimal(0)
        if customer.budget_usd is None or not projected:
            continue  # no budget, or no spend yet this month: keep the demo's default
        factor = Decimal("0.85") if customer.big_prompts else Decimal("1.6")
        budget = max(projected * factor, Decimal("0.01")).quantize(Decimal("0.01"))
        ledger.update_customer(customer.name, budget_usd=budget)


def _event(
    ledger: Any, rng: random.Random, customer: DemoCustomer, plan: str, spec: Any, ts: datetime, spike: bool
) -> dict[str, Any]:
    task = str(spec.task)
    (in_lo, in_hi), (out_lo, out_hi), seconds_per_unit = PROFILE.get(task, DEFAULT_PROFILE)
    scale = 8 if spike else (3 if customer.big_prompts else 1)
    units_in = float(rng.randint(in_lo, in_hi) * scale)
    units_out = float(rng.randint(out_lo, out_hi) * (scale if spike else 1)) if out_hi else 0.0
    roll = rng.random()
    status = 500 if roll < 0.01 else (400 if roll < 0.03 else 200)
    compute = (units_in + units_out) * seconds_per_unit * rng.uniform(0.7, 1.4)
    if status == 400:
        units_in = units_out = 0.0
        compute = 0.0
    queue_ms = rng.expovariate(1 / 15)
    latency_ms = (
        compute * 1000 + queue_ms + rng.uniform(5, 40) + (rng.uniform(2_000, 30_000) if status == 500 else 0)
    )
    price = ledger.price_per_unit(customer.name, spec.name, spec.plugin, task, str(spec.unit), ts)
    price = spec.price_per_unit_usd if price is None else price
    revenue = (Decimal(price) * Decimal(str(units_in + units_out))) if status == 200 else Decimal(0)
    rate = ledger.cost_rate("cpu", ts)
    cost = Decimal(rate) * Decimal(str(round(compute, 6))) / Decimal(3600)
    return {
        "request_id": f"backfill-{uuid.UUID(int=rng.getrandbits(128)).hex}",
        "ts": ts,
        "customer": customer.name,
        "key_prefix": "vk_backfill",
        "plugin": spec.plugin,
        "model": spec.name,
        "model_version": spec.version,
        "endpoint": _endpoint(task),
        "status": status,
        "latency_ms": round(latency_ms, 3),
        "queue_ms": round(queue_ms, 3),
        "ttft_ms": round(queue_ms + rng.uniform(20, 120), 3) if task == "chat" and status == 200 else None,
        "units_in": units_in,
        "units_out": units_out,
        "unit": str(spec.unit),
        "compute_seconds": round(compute, 6),
        "device_class": "cpu",
        "revenue_usd": revenue.quantize(NANO, rounding=ROUND_HALF_EVEN),
        "cost_usd": cost.quantize(NANO, rounding=ROUND_HALF_EVEN),
    }


def _endpoint(task: str) -> str:
    return {
        "chat": "/v1/chat/completions",
        "completion": "/v1/completions",
        "embedding": "/v1/embeddings",
        "transcription": "/v1/audio/transcriptions",
    }.get(task, "/v2/models/{name}/infer")


def _poisson(rng: random.Random, mean: float) -> int:
    # Normal approximation is fine at these means; never negative.
    return max(0, round(rng.gauss(mean, mean**0.5))) if mean > 0 else 0
