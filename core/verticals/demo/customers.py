"""The demo's customers and the rhythm of their day, shared by the live traffic and the back-fill.

``DEMO_CUSTOMERS`` is skewed on purpose (one large customer, a long tail, one small budget that fills
up) and spread over the business models of ``verticals.demo.plans``: committed use (``commit``), a fee
with metered overage (``scale``), subscriptions (``team``; one customer moves up to ``scale`` in the
middle of a month) and pay as you go (``payg``; one customer with a credit grant). ``SPIKE_CUSTOMER`` is
the one whose burst of expensive requests makes the cost spike; ``diurnal`` gives the load through a day.
``ensure_customers`` creates the plans and customers through the admin API.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class DemoCustomer:
    """A demo customer: its plan, monthly budget (Decimal USD; None: none), ``weight`` (its share of the
    traffic), ``big_prompts`` (sends long prompts: the one that runs into its budget), ``tasks`` (the
    model tasks its back-filled history uses; empty: every model) and ``reports`` (asks for long answers
    to short prompts: the costliest kind of LLM request per token billed). In the back-filled history,
    ``upgrade_to`` is the plan it moves to in the middle of a month (``verticals.demo.backfill``), and
    ``credit_usd`` a credit grant it gets when created (USD; None: none).
    """

    name: str
    plan: str
    budget_usd: Decimal | None
    weight: float  # share of the traffic
    big_prompts: bool = False  # sends long prompts: the one heading over budget
    tasks: tuple[str, ...] = ()  # back-fill only: the tasks it buys (empty: all)
    reports: bool = False  # back-fill only: long answers to short prompts
    upgrade_to: str | None = None  # back-fill only: the plan it moves to mid-month
    credit_usd: Decimal | None = None  # back-fill only: a credit grant when it is created


# Skewed on purpose: one large customer, a long tail, one small budget that fills up, and one customer
# buying only long LLM reports, which keep the GPUs busier than its bill pays for. Every business model
# of ``verticals.demo.plans`` has customers: commit (committed use), scale (fee + overage), team
# (subscription; fabrikam outgrows it mid-month), payg (pay as you go; litware with a credit grant).
DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer("demo-northwind", "commit", Decimal("500"), 0.34),
    DemoCustomer("demo-contoso", "scale", Decimal("100"), 0.20),
    DemoCustomer("demo-fabrikam", "team", Decimal("60"), 0.12, upgrade_to="scale"),
    DemoCustomer("demo-wingtip", "payg", None, 0.10, tasks=("chat",), reports=True),
    DemoCustomer("demo-tailspin", "payg", Decimal("0.05"), 0.10, big_prompts=True),
    DemoCustomer("demo-litware", "payg", None, 0.07, credit_usd=Decimal("250")),
    DemoCustomer("demo-adatum", "team", None, 0.05),
)
SPIKE_CUSTOMER = "demo-contoso"
WORDS = [
    "revenue",
    "forecast",
    "invoice",
    "patient",
    "scan",
    "ledger",
    "margin",
    "claim",
    "audit",
    "churn",
    "summary",
    "contract",
    "risk",
    "quarter",
    "growth",
    "model",
    "latency",
    "budget",
    "customer",
    "report",
]


def diurnal(phase: float) -> float:
    """Load through a day (phase 0..1 from midnight UTC): quiet at night, peaks mid-afternoon."""
    wave = 0.5 - 0.5 * math.cos(2 * math.pi * ((phase - 0.125) % 1.0))
    return 0.25 + 0.75 * float(wave**1.5)


def ensure_customers(get: Callable[..., Any], post: Callable[..., Any]) -> None:
    """Create the demo plans (``verticals.demo.plans.ensure_plans``, prices for the models the gateway
    serves) and the demo customers that do not exist yet; existing ones are left as they are."""
    from verticals.demo.plans import AdminPlans, ensure_plans
    from verticals.registry import Registry

    served = {row["name"] for row in get("/admin/models")}
    specs = [spec.item for name, spec in Registry.load().models.items() if name in served]
    ensure_plans(AdminPlans(get, post), specs)
    existing = {row["name"] for row in get("/admin/customers")}
    for customer in DEMO_CUSTOMERS:
        if customer.name not in existing:
            post(
                "/admin/customers",
                {
                    "name": customer.name,
                    "plan": customer.plan,
                    "budget_usd": None if customer.budget_usd is None else str(customer.budget_usd),
                },
            )
