"""The Pricing lab: a month's invoices under the plans as they are and under a variation of them.

The variation lives in memory only (``PlanVariation``): the billing engine (``preview_all``) runs on a
view of the ledger whose fees, allowances, price rows and subscriptions are edited as asked, so nothing is
written to the ledger. The usage is the month's real usage; compute cost does not depend on prices, so
margins differ by the revenue change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.billing.model import ChargeModel, Invoice
from verticals.ledger._values import parse_money
from verticals.ledger.allowances import Allowance, check_target
from verticals.ledger.analytics._allocation import allocate
from verticals.ledger.analytics._billed import ZERO, billing_ledger
from verticals.ledger.analytics._query import NANO, connection_of, end_of, ratio
from verticals.ledger.books import PriceRow
from verticals.ledger.errors import LedgerError
from verticals.ledger.price_models import check_charge, parse_quantity, parse_tier
from verticals.ledger.subscriptions import Subscription


@dataclasses.dataclass(frozen=True)
class _Row:
    """An edited price row: what the engine reads of one (``PriceRowLike``)."""

    charge_model: ChargeModel
    price_per_unit_usd: Decimal
    package_size: Decimal | None
    tiers: tuple[Any, ...]


class _UsageOnce:
    """``ledger`` whose ``usage_totals_many`` answers windows it was asked before from memory: both sides of
    the lab bill the same month's usage, so the variation (the same windows unless it moves a customer to
    a plan with another history) reads no second scan of the month."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger
        self._seen: dict[tuple[Any, ...], Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def usage_totals_many(self, windows: Sequence[tuple[str, datetime, datetime]]) -> Any:
        key = tuple(windows)
        if key not in self._seen:
            self._seen[key] = self._ledger.usage_totals_many(windows)
        return self._seen[key]


class PlanVariation:
    """``ledger`` seen with other plans: ``moves`` {customer: plan} (the customer's whole history on that
    plan), ``fees`` {plan: monthly fee}, ``allowances`` [{plan, unit, model?, quantity}] (replacing the row
    of that plan, unit and target, or adding it) and ``prices`` [{plan, unit, model? | plugin?,
    charge_model?, price_per_unit_usd, package_size?, tiers?: ["UP_TO:PRICE[:FLAT]", ...]}] (the row the
    engine uses for that plan's model or plugin in that unit, whatever the book says). Everything else
    is the ledger's. Raises LedgerError for an unknown plan or customer, or an invalid row (as the CLI
    would)."""

    def __init__(
        self,
        ledger: Any,
        *,
        moves: Mapping[str, str] | None = None,
        fees: Mapping[str, Any] | None = None,
        allowances: Sequence[Mapping[str, Any]] = (),
        prices: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self._ledger = ledger
        plans = {plan.name for plan in ledger.list_plans()}
        self._moves = dict(moves or {})
        for customer, plan in self._moves.items():
            ledger.get_customer(customer)
            _known(plan, plans)
        self._fees = {
            _known(p, plans): parse_money(fee, f"plan {p}'s fee", places=6) for p, fee in (fees or {}).items()
        }
        self._allowances: dict[tuple[str, str, str | None], Allowance] = {}
        for entry in allowances:
            plan, unit, target = _known(str(entry["plan"]), plans), str(entry["unit"]), entry.get("model")
            quantity = parse_quantity(entry["quantity"], "allowance")
            self._allowances[(plan, unit, check_target(target))] = Allowance(plan, unit, target, quantity)
        self._prices: dict[tuple[str, str, str], _Row] = {}
        for entry in prices:
            plan, unit = _known(str(entry["plan"]), plans), str(entry["unit"])
            target = entry.get("model") or (f"{entry['plugin']}/*" if entry.get("plugin") else None)
            if target is None:
                raise LedgerError(f"pricing lab price {dict(entry)!r}: name a model or a plugin")
            price = parse_money(entry["price_per_unit_usd"], "price per unit", places=12)
            tiers = [parse_tier(str(text)) for text in entry.get("tiers") or ()]
            model, size, checked = check_charge(
                entry.get("charge_model", "per_unit"), price, entry.get("package_size"), tiers or None
            )
            self._prices[(plan, target, unit)] = _Row(model, price, size, checked)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)  # reads the variation leaves alone

    def get_plan(self, name: str) -> Any:
        plan = self._ledger.get_plan(name)
        return dataclasses.replace(plan, monthly_fee_usd=self._fees[name]) if name in self._fees else plan

    def _customer(self, found: Any) -> Any:
        plan = self._moves.get(found.name)
        return dataclasses.replace(found, plan=plan) if plan else found

    def get_customer(self, name: str) -> Any:
        return self._customer(self._ledger.get_customer(name))

    def list_customers(self) -> list[Any]:
        return [self._customer(found) for found in self._ledger.list_customers()]

    def subscriptions(self, customer: str | None = None) -> list[Subscription]:
        history = list(self._ledger.subscriptions(customer))
        out = [s for s in history if s.customer not in self._moves]
        for name, plan in self._moves.items():
            own = [s for s in history if s.customer == name]
            if own:  # one subscription on the new plan over the whole history
                ends = [s.ends_at for s in own]
                end = None if None in ends else max(e for e in ends if e is not None)
                out.append(Subscription(own[0].id, name, plan, min(s.starts_at for s in own), end))
        return sorted(out, key=lambda s: (s.customer, s.starts_at))

    def allowances(self, plan: str | None = None) -> list[Allowance]:
        rows = {(a.plan, a.unit, a.model): a for a in self._ledger.allowances(plan)}
        rows.update({k: a for k, a in self._allowances.items() if plan is None or k[0] == plan})
        return [rows[key] for key in sorted(rows, key=lambda k: (k[0], k[1], k[2] or ""))]

    def price_row(
        self, plan: str, model: str, plugin: str, task: str | None, unit: str, at: datetime | None = None
    ) -> PriceRow | _Row | None:
        for target in (model, f"{plugin}/*", f"{model.split('/', 1)[0]}/*"):
            if (plan, target, unit) in self._prices:
                return self._prices[(plan, target, unit)]
        row: PriceRow | None = self._ledger.price_row(plan, model, plugin, task, unit, at)
        return row

    def store_invoice(self, invoice: Invoice) -> Invoice:
        raise LedgerError("the pricing lab only previews: it never stores an invoice")

    def void_invoice(self, number: str, at: datetime | None = None) -> Invoice:
        raise LedgerError("the pricing lab only previews: it never voids an invoice")


def _known(plan: str, plans: set[str]) -> str:
    if plan not in plans:
        raise LedgerError(f"unknown plan {plan!r}: see `verticals plans list`")
    return plan


def pricing_lab(
    source: Any,
    *,
    month: str,
    moves: Mapping[str, str] | None = None,
    fees: Mapping[str, Any] | None = None,
    allowances: Sequence[Mapping[str, Any]] = (),
    prices: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Every customer's invoice for ``month`` (``YYYY-MM``; the dashboard uses the last closed one) as the
    plans are and under the variation (``PlanVariation``'s ``moves``, ``fees``, ``allowances``, ``prices``),
    both by the billing engine's ``preview_all`` on the month's real usage; no writes.

    One row per customer billed on either side, then a row ``customer`` = "total": ``plan_before``,
    ``plan_after``, ``revenue_before_usd`` / ``revenue_after_usd`` (invoice totals: fees + usage after
    allowances and tiers - credits), ``fee_before_usd`` / ``fee_after_usd``, ``usage_before_usd`` /
    ``usage_after_usd`` (usage lines), ``revenue_change_usd``, ``cost_usd`` (the customer's compute spend
    in the month, idle share included, as ``usage_summary`` counts it; the total includes the idle line),
    ``margin_before_usd`` / ``margin_after_usd`` (revenue - cost) and their ``_ratio`` (fractions of revenue).
    Raises LedgerError for an unknown plan or customer or an invalid row, BillingError for a bad month.
    """
    from verticals.billing.invoices import preview_all
    from verticals.billing.proration import month_bounds

    start, end = month_bounds(month)
    ledger = billing_ledger(source)
    shared = _UsageOnce(ledger)
    variation = PlanVariation(shared, moves=moves, fees=fees, allowances=allowances, prices=prices)
    before = {i.customer: i for i in preview_all(shared, month)}
    after = {i.customer: i for i in preview_all(variation, month)}
    spent = allocate(
        connection_of(source), ["customer"], since=start, until=end, end=end_of(source, end)
    ).groups
    plans = {c.name: c.plan for c in ledger.list_customers()}
    rows = []
    for customer in sorted(set(before) | set(after)):
        spend = spent.get((customer,))
        rows.append(
            _row(customer, plans.get(customer), (moves or {}).get(customer, plans.get(customer)),
                 before.get(customer), after.get(customer), spend.cost if spend else ZERO)
        )  # fmt: skip
    total_cost = sum((spend.cost for spend in spent.values()), ZERO)
    total: dict[str, Any] = {"customer": "total", "plan_before": None, "plan_after": None}
    for key in [k for k in (rows[0] if rows else {}) if k.endswith("_usd") and k != "cost_usd"]:
        total[key] = sum((row[key] for row in rows), ZERO)
    if not rows:
        total.update({f"{p}_{s}_usd": ZERO for p in ("revenue", "fee", "usage") for s in ("before", "after")})
        total["revenue_change_usd"] = ZERO
    total["cost_usd"] = total_cost.quantize(NANO)
    _margins(total)
    return [*rows, total]


def _amounts(invoice: Invoice | None) -> tuple[Decimal, Decimal, Decimal]:
    if invoice is None:
        return ZERO, ZERO, ZERO
    fee = sum((line.amount_usd for line in invoice.fees), ZERO)
    return invoice.total_usd, fee, sum((line.amount_usd for line in invoice.usage), ZERO)


def _row(
    customer: str,
    plan: str | None,
    moved: str | None,
    before: Invoice | None,
    after: Invoice | None,
    cost: Decimal,
) -> dict[str, Any]:
    (revenue, fee, usage), (revenue_2, fee_2, usage_2) = _amounts(before), _amounts(after)
    row: dict[str, Any] = {
        "customer": customer,
        "plan_before": plan,
        "plan_after": moved,
        "revenue_before_usd": revenue,
        "revenue_after_usd": revenue_2,
        "revenue_change_usd": revenue_2 - revenue,
        "fee_before_usd": fee,
        "fee_after_usd": fee_2,
        "usage_before_usd": usage,
        "usage_after_usd": usage_2,
        "cost_usd": cost,
    }
    _margins(row)
    return row


def _margins(row: dict[str, Any]) -> None:
    for side in ("before", "after"):
        margin = row[f"revenue_{side}_usd"] - row["cost_usd"]
        row[f"margin_{side}_usd"] = margin
        row[f"margin_{side}_ratio"] = ratio(margin, row[f"revenue_{side}_usd"])
