"""The demo company's price list: one plan per business model an AI company chooses between.

- ``payg`` (**pay as you go**): no fee; the LLM's tokens at graduated prices (the first 10M a month at
  $8/M, up to 50M at $6/M, the rest at $5/M), every other model at its list price.
- ``team`` (**subscription**): $249 a month including 20M tokens of ``nlp/*`` (a plugin pattern) and 5M
  of any other model, 5,000 images (any model billed in images), 5,000 rows of ``health/diagnosis`` (one
  model) and 20,000 of the others, 500,000 audio-seconds and 10,000 calls: a small customer pays the fee
  alone; the LLM's tokens above it at $6/M.
- ``scale`` (**mix**: a fee and metered overage): $499 a month including 30M tokens of ``nlp/*``, 10,000
  images and 10,000 rows of ``health/diagnosis``; the LLM's tokens above it graduated (the next 30M at
  $5/M, the rest at $4/M) and transcription in packages of 100,000 audio-seconds at $8 each.
- ``commit`` (**committed use**): $1,500 a month committed, including 80M tokens of ``nlp/*``, 30,000
  rows of ``health/*`` and 2M audio-seconds of ``speech/*``; the LLM's tokens above it at volume prices
  (all at $3/M up to 50M over, all at $2.50/M beyond).

Prepaid or promotional use is a credit grant on top of a plan (``DemoCustomer.credit_usd``; the demo's
is a launch credit, which billed revenue counts as a discount). "The LLM" is every
registered model served by vLLM and billed in tokens (``verticals.demo.fleet.on_gpu``); the allowances
name ``nlp/*`` as the brief's example does, and match nothing when the nlp plugin is not installed.

``ensure_plans`` writes the plans that do not exist yet, with their allowances and price rows, through a
``PlanWriter``: ``LedgerPlans`` (the back-fill, straight into the ledger, prices in force from a given
time) or ``AdminPlans`` (live traffic, through the running gateway's admin API). A plan that exists is
left as it is, so an operator's own plan of the same name is never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from verticals.billing.model import ChargeModel, Tier
from verticals.demo.fleet import on_gpu

LLM = "llm"  # a PriceRule target: every registered LLM billed in tokens
PER_M = Decimal("0.000001")  # USD per token of $1 per million tokens
NOTE = "demo company's price list (verticals demo)"


@dataclass(frozen=True)
class PriceRule:
    """A price row a demo plan gets: for ``target`` (``LLM``, or a model name), ``price`` USD per ``unit``
    (a package's price for ``package``; the first tier's unit price for graduated and volume), charged by
    ``charge_model`` with ``package_size`` or ``tiers``."""

    target: str
    unit: str
    price: Decimal
    charge_model: ChargeModel = ChargeModel.PER_UNIT
    package_size: Decimal | None = None
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True)
class DemoPlan:
    """A demo plan: ``business_model`` (what it shows of how AI is sold), ``fee_usd`` a month,
    ``allowances`` as (unit, model or ``plugin/*`` or None for the whole unit, quantity a month) and the
    price rows in ``prices`` (units without one are charged at the model's list price)."""

    name: str
    business_model: str
    fee_usd: Decimal
    description: str
    allowances: tuple[tuple[str, str | None, Decimal], ...] = ()
    prices: tuple[PriceRule, ...] = ()


def _per_m(usd: str) -> Decimal:
    return Decimal(usd) * PER_M


def _tier(up_to_millions: int | None, usd_per_m: str) -> Tier:
    return Tier(None if up_to_millions is None else Decimal(up_to_millions * 1_000_000), _per_m(usd_per_m))


DEMO_PLANS: tuple[DemoPlan, ...] = (
    DemoPlan(
        "payg",
        "pay as you go",
        Decimal(0),
        "demo: pay as you go, no fee, graduated LLM prices",
        prices=(
            PriceRule(
                LLM,
                "tokens",
                _per_m("8"),
                ChargeModel.GRADUATED,
                tiers=(_tier(10, "8"), _tier(50, "6"), _tier(None, "5")),
            ),
        ),
    ),
    DemoPlan(
        "team",
        "subscription",
        Decimal(249),
        "demo: subscription, $249/month with allowances",
        allowances=(
            ("tokens", "nlp/*", Decimal(20_000_000)),
            ("tokens", None, Decimal(5_000_000)),
            ("images", None, Decimal(5_000)),
            ("rows", "health/diagnosis", Decimal(5_000)),
            ("rows", None, Decimal(20_000)),
            ("audio-seconds", None, Decimal(500_000)),
            ("calls", None, Decimal(10_000)),
        ),
        prices=(PriceRule(LLM, "tokens", _per_m("6")),),
    ),
    DemoPlan(
        "scale",
        "mix",
        Decimal(499),
        "demo: fee with allowances and graduated overage",
        allowances=(
            ("tokens", "nlp/*", Decimal(30_000_000)),
            ("images", None, Decimal(10_000)),
            ("rows", "health/diagnosis", Decimal(10_000)),
        ),
        prices=(
            PriceRule(
                LLM, "tokens", _per_m("5"), ChargeModel.GRADUATED, tiers=(_tier(30, "5"), _tier(None, "4"))
            ),
            PriceRule(
                "speech/transcribe",
                "audio-seconds",
                Decimal(8),
                ChargeModel.PACKAGE,
                package_size=Decimal(100_000),
            ),
        ),
    ),
    DemoPlan(
        "commit",
        "committed use",
        Decimal(1_500),
        "demo: committed use, $1,500/month with large allowances",
        allowances=(
            ("tokens", "nlp/*", Decimal(80_000_000)),
            ("rows", "health/*", Decimal(30_000)),
            ("audio-seconds", "speech/*", Decimal(2_000_000)),
        ),
        prices=(
            PriceRule(
                LLM, "tokens", _per_m("3"), ChargeModel.VOLUME, tiers=(_tier(50, "3"), _tier(None, "2.5"))
            ),
        ),
    ),
)


class PlanWriter(Protocol):
    """Where ``ensure_plans`` writes: the plans that exist, and the three writes a plan needs."""

    def plan_names(self) -> set[str]: ...
    def create_plan(self, plan: DemoPlan) -> None: ...
    def set_allowance(self, plan: str, unit: str, quantity: Decimal, model: str | None) -> None: ...
    def set_price(self, plan: str, model: str, rule: PriceRule) -> None: ...


def ensure_plans(
    writer: PlanWriter, specs: Sequence[Any], plans: Sequence[DemoPlan] = DEMO_PLANS
) -> list[str]:
    """Create each of ``plans`` that ``writer`` does not have yet, with its allowances and price rows for
    the registered models in ``specs`` (ModelSpecs; a rule for a model not registered is skipped); returns
    the names created. Errors are the writer's (LedgerError, AdminError)."""
    existing = writer.plan_names()
    created = []
    for plan in plans:
        if plan.name in existing:
            continue  # an operator's plan, or one a previous run made: left as it is
        writer.create_plan(plan)
        for unit, model, quantity in plan.allowances:
            writer.set_allowance(plan.name, unit, quantity, model)
        for rule in plan.prices:
            for spec in specs:
                if _targets(rule, spec):
                    writer.set_price(plan.name, spec.name, rule)
        created.append(plan.name)
    return created


def _targets(rule: PriceRule, spec: Any) -> bool:
    if str(spec.unit) != rule.unit:
        return False
    return on_gpu(spec) if rule.target == LLM else spec.name == rule.target


@dataclass
class LedgerPlans:
    """A ``PlanWriter`` on an open, writable ``Ledger``: price rows in force from ``effective_from``."""

    ledger: Any  # verticals.ledger.Ledger
    effective_from: datetime

    def plan_names(self) -> set[str]:
        return {plan.name for plan in self.ledger.list_plans()}

    def create_plan(self, plan: DemoPlan) -> None:
        self.ledger.create_plan(plan.name, plan.fee_usd, description=plan.description)

    def set_allowance(self, plan: str, unit: str, quantity: Decimal, model: str | None) -> None:
        self.ledger.set_allowance(plan, unit, quantity, model=model)

    def set_price(self, plan: str, model: str, rule: PriceRule) -> None:
        self.ledger.set_price(
            plan,
            rule.unit,
            rule.price,
            model=model,
            effective_from=self.effective_from,
            note=NOTE,
            charge_model=rule.charge_model,
            package_size=rule.package_size,
            tiers=rule.tiers or None,
        )


@dataclass
class AdminPlans:
    """A ``PlanWriter`` through the running gateway's admin API (``get``/``post`` of an AdminClient): price
    rows in force from now."""

    get: Callable[..., Any]
    post: Callable[..., Any]

    def plan_names(self) -> set[str]:
        return {row["name"] for row in self.get("/admin/plans")}

    def create_plan(self, plan: DemoPlan) -> None:
        body = {"name": plan.name, "monthly_fee_usd": str(plan.fee_usd), "description": plan.description}
        self.post("/admin/plans", body)

    def set_allowance(self, plan: str, unit: str, quantity: Decimal, model: str | None) -> None:
        body = {"plan": plan, "unit": unit, "quantity": str(quantity), "model": model}
        self.post("/admin/allowances", body)

    def set_price(self, plan: str, model: str, rule: PriceRule) -> None:
        tiers = [
            {"up_to": None if t.up_to is None else str(t.up_to), "unit_price": str(t.unit_price)}
            for t in rule.tiers
        ]
        body = {
            "plan": plan,
            "unit": rule.unit,
            "price_per_unit_usd": str(rule.price),
            "model": model,
            "note": NOTE,
            "charge_model": str(rule.charge_model),
            "package_size": None if rule.package_size is None else str(rule.package_size),
            "tiers": tiers or None,
        }
        self.post("/admin/prices", body)
