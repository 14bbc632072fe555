"""Back-fill for ``verticals demo``: N days of a small AI company's history written straight into the ledger.

The company (see ``verticals.demo.fleet`` for its devices and latencies, ``verticals.demo.customers``
for its customers, ``verticals.demo.plans`` for its price list): its LLMs on GPUs (an L4 all day, an
H100 for weekday peaks), its small models on shared CPU nodes, each device recorded once with the models
it serves (``Ledger.record_device``). Requests follow a daily rhythm and a weekly dip; each model gets
its share of ``DAILY_REQUESTS``; sizes follow ``PROFILE``; latencies are drawn from what this machine
measured for each model, and a request's compute seconds from its latency, so utilization (busy seconds
over device hours) lands between about 20% and 70% with the day's rhythm. ``demo-wingtip`` buys only
long LLM reports on short prompts and costs more compute than it pays. About 1% server errors and 2%
client errors, and one cost spike (one customer-day at ``SPIKE_SCALE`` times its usual size). Budgets of
new demo customers are sized on their generated spend, one of them below it; like the gateway, a request
that would take a customer past its monthly budget is refused (402) and earns nothing.

Billing: the demo plans that do not exist yet are created with their allowances, and their price rows in
force from the first back-filled day. Customers are created as of the first back-filled day (so
month-to-date run-rates are honest), each with its first subscription from then; a new customer with a
``credit_usd`` gets that credit then (expiring ``CREDIT_DAYS`` later), and one with ``upgrade_to`` moves
to that plan at ``plan_change_at`` (the middle of the latest closed month's back-filled days when it has
at least two of them, else of the month in progress's), so its invoice has two prorated fee lines. Each
request is priced by the plan its customer is on at that moment. Finally the **closed months are
finalized** for the demo customers (``verticals.billing.invoices.finalize_month``, as of the end of the
history), so the Billing page has numbered invoices with fee, usage, tier and credit lines; the month in
progress stays a draft. Customers of other names are never invoiced here, and a month a customer already
has an invoice for is skipped (a second back-fill into the same ledger does not re-invoice it).

Every back-filled event is marked: its request id starts with ``BACKFILL_PREFIX`` and its key prefix
is ``vk_backfill``, so the dashboard can say the history is demo data (``analytics.demo_history``).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from verticals.demo.customers import SPIKE_CUSTOMER, DemoCustomer, diurnal
from verticals.demo.fleet import GATEWAY_MS, device_class, measured, on_gpu, plan_fleet
from verticals.demo.plans import LedgerPlans, ensure_plans
from verticals.ledger.analytics.demo import DEMO_REQUEST_PREFIX

BACKFILL_PREFIX = DEMO_REQUEST_PREFIX
NANO = Decimal("0.000000001")
SPIKE_SCALE = 5  # the cost spike: one customer-day of requests this many times their usual size
# Requests per day per model (a weekday's average; weekends get 55%): the LLM carries the business.
DAILY_REQUESTS = {"llm": 2_800, "transcription": 450, "other": 250}
# (units in, units out) by task: RAG prompts of a few thousand tokens and answers of a few hundred,
# recorded calls of one to ten minutes, small batches of rows.
PROFILE: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "chat": ((1_000, 7_000), (20, 200)),
    "completion": ((500, 3_000), (20, 200)),
    "embedding": ((10, 300), (0, 0)),
    "transcription": ((60, 600), (0, 0)),
    "image-classification": ((1, 4), (0, 0)),
}
DEFAULT_PROFILE = ((1, 16), (0, 0))
CREDIT_DAYS = 90  # a demo credit grant expires this many days after the customer is created


def backfill(
    home: Path, days: int, customers: Sequence[DemoCustomer], rng: random.Random, now: datetime | None = None
) -> int:
    """Write ``days`` days of the demo company's history ending at ``now`` (default: now, UTC) into the
    ledger in ``home`` (the PostgreSQL one when its settings name a ``database_url``); returns how many
    events were written. Raises LedgerError when no model is registered or the ledger refuses a write
    (e.g. a gateway holds it).
    """
    from rich.progress import Progress

    from verticals.config import load_settings
    from verticals.ledger import Ledger, LedgerError, UsageEvent
    from verticals.ledger._cli import open_shared_ledger
    from verticals.registry import Registry

    end = (now or datetime.now(UTC)).replace(microsecond=0)
    start = end - timedelta(days=days)
    specs = [spec.item for spec in Registry.load().models.values()]
    if not specs:
        raise LedgerError(
            "no model is registered, so there is nothing to back-fill: see `verticals plugins list`"
        )
    weights = [float(_daily(spec)) for spec in specs]
    per_day = sum(weights)
    clock = [start]  # the ledger's "now": the first back-filled day, then the end of the history
    settings = load_settings(home=home)
    opened = (
        open_shared_ledger(settings, clock=lambda: clock[0])
        if settings.database_url
        else Ledger.open(home, clock=lambda: clock[0])
    )
    with opened as ledger, Progress() as progress:
        ensure_plans(LedgerPlans(ledger, start), specs)
        known = {c.name for c in ledger.list_customers()}
        new = [c for c in customers if c.name not in known]
        for customer in new:
            ledger.create_customer(customer.name, customer.plan)
        clock[0] = end  # plan changes are written as of the end of the history, so the current plan follows
        _billing_history(ledger, new, start, end)
        plans = {c.name: c.plan for c in ledger.list_customers()}
        # one calendar day (UTC) in the last week, with enough days before it to count as unusual
        spike_day = (start + timedelta(days=rng.randrange(max(days - 7, 1), days) if days > 1 else 0)).date()
        rates = {cls: ledger.cost_rate(cls, start) for cls in {"cpu", "l4", "h100"}}
        task = progress.add_task("back-filling the demo company's history", total=days * 24)
        events: list[dict[str, Any]] = []
        for hour in range(days * 24):
            at = start + timedelta(hours=hour)
            weekday_factor = 0.55 if at.weekday() >= 5 else 1.0
            for _ in range(_poisson(rng, per_day / 24 / 0.6 * diurnal(at.hour / 24) * weekday_factor)):
                customer = rng.choices(customers, [c.weight for c in customers])[0]
                ts = at + timedelta(seconds=rng.uniform(0, 3600))
                if ts < end:
                    focus = [s for s in specs if str(s.task) in customer.tasks] if customer.tasks else []
                    spec = rng.choice(focus) if focus else rng.choices(specs, weights)[0]
                    plan = plans[customer.name]
                    events.append(_event(ledger, rng, customer, plan, spec, ts, spike_day, rates))
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
                    latency_ms=round(rng.uniform(1.0, 3.0), 3),
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
        for device in plan_fleet(specs, start, end, spike_day):
            ledger.record_device(
                device.device_id, device.device_class, device.models, device.up_at, device.down_at
            )
        _finalize_closed_months(ledger, [c.name for c in customers], specs, start, end)
    return len(events)


def _daily(spec: Any) -> int:
    if on_gpu(spec):
        return DAILY_REQUESTS["llm"]
    return DAILY_REQUESTS.get(str(spec.task), DAILY_REQUESTS["other"])


def plan_change_at(start: datetime, end: datetime) -> datetime:
    """When a demo customer with ``upgrade_to`` changes plan in a history ``[start, end)``: the middle of the
    latest closed month's part of it when that part is at least two days long (so a finalized invoice shows
    the change), else the middle of the month in progress's part; whole seconds."""
    this_month = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if this_month - start >= timedelta(days=2):
        first = max(start, (this_month - timedelta(days=1)).replace(day=1))
        middle = first + (this_month - first) / 2
    else:
        first = max(start, this_month)
        middle = first + (end - first) / 2
    return middle.replace(microsecond=0)


def _billing_history(ledger: Any, created: Sequence[DemoCustomer], start: datetime, end: datetime) -> None:
    """The new customers' credit grants (from ``start``, for ``CREDIT_DAYS``) and mid-month plan changes
    (at ``plan_change_at``)."""
    for customer in created:
        if customer.credit_usd is not None:
            ledger.grant_credit(
                customer.name,
                customer.credit_usd,
                reason="demo: launch credit",
                granted_at=start,
                expires_at=start + timedelta(days=CREDIT_DAYS),
            )
        if customer.upgrade_to is not None:
            ledger.set_subscription(customer.name, customer.upgrade_to, plan_change_at(start, end))


def _finalize_closed_months(
    ledger: Any, names: Sequence[str], specs: Sequence[Any], start: datetime, end: datetime
) -> None:
    """Finalize, as of ``end``, the invoices of ``names`` for each month of ``[start, end)`` that ended."""
    from verticals.billing.invoices import finalize_month
    from verticals.billing.proration import month_bounds, month_of

    tasks = {spec.name: str(spec.task) for spec in specs}
    month = month_of(start)
    while month_bounds(month)[1] <= end:
        for name in names:
            finalize_month(ledger, month, name, now=end, model_tasks=tasks)
        month = month_of(month_bounds(month)[1])


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
    ledger: Any,
    rng: random.Random,
    customer: DemoCustomer,
    plan: str,
    spec: Any,
    ts: datetime,
    spike_day: date,
    rates: dict[str, Decimal],
) -> dict[str, Any]:
    """One request's event: sizes from ``PROFILE``, latency from the measured table, the price in force for
    the customer's plan (else the model's list price) and the device class's rate in ``rates``.
    """
    task = str(spec.task)
    spike = customer.name == SPIKE_CUSTOMER and ts.date() == spike_day
    (in_lo, in_hi), (out_lo, out_hi) = PROFILE.get(task, DEFAULT_PROFILE)
    scale = SPIKE_SCALE if spike else (3 if customer.big_prompts else 1)
    if customer.reports and out_hi:  # short prompts, long answers
        in_lo, in_hi, out_lo, out_hi = in_lo // 5, in_hi // 5, out_lo * 2, out_hi * 2
    units_in = float(rng.randint(in_lo, in_hi) * scale)
    units_out = float(rng.randint(out_lo, out_hi) * (scale if spike else 1)) if out_hi else 0.0
    roll = rng.random()
    status = 500 if roll < 0.01 else (400 if roll < 0.03 else 200)
    where = device_class(spec, ts, rng, spike_day)
    queue_ms = rng.expovariate(1 / 15)
    if status == 400:  # refused before the model ran: the gateway's own work only
        units_in = units_out = 0.0
        model_ms = 0.0
        latency_ms = GATEWAY_MS + rng.uniform(0.5, 3.0)
    else:
        # latency grows with the output for generative models, with the input for the others
        model_ms = measured(spec).draw(rng, units_out if out_hi else units_in)
        latency_ms = model_ms + GATEWAY_MS + queue_ms + (rng.uniform(2_000, 30_000) if status == 500 else 0)
    compute = model_ms / 1000
    price = ledger.price_per_unit(customer.name, spec.name, spec.plugin, task, str(spec.unit), ts)
    price = spec.price_per_unit_usd if price is None else price
    revenue = (Decimal(price) * Decimal(str(units_in + units_out))) if status == 200 else Decimal(0)
    rate = rates[where] if where in rates else ledger.cost_rate(where, ts)
    cost = Decimal(rate) * Decimal(str(round(compute, 6))) / Decimal(3600)
    first_token = queue_ms + model_ms / max(units_out, 1.0) * 8  # prefill: about 8 tokens' time
    return {
        "request_id": f"{BACKFILL_PREFIX}{uuid.UUID(int=rng.getrandbits(128)).hex}",
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
        "ttft_ms": round(first_token, 3) if task == "chat" and status == 200 else None,
        "units_in": units_in,
        "units_out": units_out,
        "unit": str(spec.unit),
        "compute_seconds": round(compute, 6),
        "device_class": where,
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
