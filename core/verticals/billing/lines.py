"""The lines of one plan segment of an invoice: its prorated fee, and its usage after allowances, priced.

A *segment* is the part of the month one subscription covered. Its fee line is the plan's monthly fee
prorated by second (``verticals.billing.proration``). Its usage is grouped by (model, unit); each group
draws its included units from the plan's allowances, prorated like the fee, most specific first:

1. an allowance for the model itself (``nlp/chat``),
2. then one for its plugin (``nlp/*``),
3. then the unit-wide one (any model billed in tokens).

An allowance is a pool shared by every model it matches: the models draw from it in name order, each
taking what it needs until the pool is empty, so the segment never includes more than the allowance.
Included units are free; the rest (``billable``) is charged by the price row in force at the segment's
start (``Ledger.price_row``) with its charge model (``verticals.billing.charges``), and tiers restart in
each segment. A model with no price row in force is charged the list price the gateway recorded for it:
its recorded charges x billable / quantity. Each line is rounded to cents half-even, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal
from typing import Protocol

from verticals.billing.charges import charge, to_cents
from verticals.billing.model import ChargeModel, FeeLine, Tier, TierUsage, UsageLine
from verticals.billing.proration import fraction, prorate, prorate_allowance

_EXACT = Context(prec=60)
_ZERO = Decimal(0)
#: ``FeeLine.fraction`` is shown to this many places; the amount is computed from the seconds exactly.
FRACTION_PLACES = Decimal("1e-12")


class AllowanceLike(Protocol):
    """What the engine reads of a ``verticals.ledger.allowances.Allowance``."""

    @property
    def unit(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def specificity(self) -> int: ...
    def matches(self, model: str) -> bool: ...


class UsageTotalLike(Protocol):
    """What the engine reads of a ``verticals.ledger`` usage total: one (model, plugin, task, unit) group."""

    @property
    def model(self) -> str: ...
    @property
    def plugin(self) -> str: ...
    @property
    def task(self) -> str | None: ...
    @property
    def unit(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def compute_cost_usd(self) -> Decimal: ...
    @property
    def revenue_usd(self) -> Decimal: ...


class PriceRowLike(Protocol):
    """What the engine reads of a ``verticals.ledger.books.PriceRow``."""

    @property
    def charge_model(self) -> ChargeModel: ...
    @property
    def price_per_unit_usd(self) -> Decimal: ...
    @property
    def package_size(self) -> Decimal | None: ...
    @property
    def tiers(self) -> tuple[Tier, ...]: ...


class PriceLookup(Protocol):
    """``Ledger.price_row``: the row in force for (plan, model, plugin, task, unit) at a time, or None."""

    def __call__(
        self, plan: str, model: str, plugin: str, task: str | None, unit: str, at: datetime | None = None
    ) -> PriceRowLike | None: ...


@dataclass(frozen=True)
class Segment:
    """``plan`` over ``[start, end)`` of ``month``; ``subscribed`` is False for usage outside any
    subscription, which has no fee and no allowance."""

    plan: str
    start: datetime
    end: datetime
    month: str
    subscribed: bool = True


def fee_line(segment: Segment, monthly_fee_usd: Decimal) -> FeeLine:
    """The segment's share of ``monthly_fee_usd``: fee x seconds covered / seconds in the month, rounded to
    cents half-even once ($49 for 10 days of November: $16.33)."""
    exact = prorate(monthly_fee_usd, segment.start, segment.end, segment.month)
    share = fraction(segment.start, segment.end, segment.month).quantize(FRACTION_PLACES, context=_EXACT)
    return FeeLine(
        segment.plan, segment.start, segment.end, monthly_fee_usd, share.normalize(), to_cents(exact)
    )


@dataclass
class _Group:
    """The usage totals of one (model, unit) in a segment; the ``plugin``/``task`` of its largest part
    choose its price row."""

    model: str
    unit: str
    plugin: str = ""
    task: str | None = None
    largest: Decimal = _ZERO
    quantity: Decimal = _ZERO
    compute_cost: Decimal = _ZERO
    revenue: Decimal = _ZERO
    parts: list[UsageTotalLike] = field(default_factory=list)


def _groups(totals: Iterable[UsageTotalLike]) -> list[_Group]:
    groups: dict[tuple[str, str], _Group] = {}
    for total in totals:
        group = groups.setdefault((total.unit, total.model), _Group(total.model, total.unit))
        if not group.parts or total.quantity > group.largest:
            group.plugin, group.task, group.largest = total.plugin, total.task, total.quantity
        group.quantity += total.quantity
        group.compute_cost += total.compute_cost_usd
        group.revenue += total.revenue_usd
        group.parts.append(total)
    return [groups[key] for key in sorted(groups)]


class _Pools:
    """The segment's prorated allowances, drawn down as the lines take their included units."""

    def __init__(self, allowances: Iterable[AllowanceLike], segment: Segment) -> None:
        self._left: list[tuple[AllowanceLike, Decimal]] = []
        if segment.subscribed:
            for allowance in allowances:
                prorated = prorate_allowance(allowance.quantity, segment.start, segment.end, segment.month)
                self._left.append((allowance, prorated))

    def draw(self, model: str, unit: str, wanted: Decimal) -> Decimal:
        """Take up to ``wanted`` units of ``model`` in ``unit`` from the matching pools, most specific
        first; returns what was taken."""
        order = sorted(
            (index for index, (allowance, _) in enumerate(self._left)
             if allowance.unit == unit and allowance.matches(model)),
            key=lambda index: -self._left[index][0].specificity,
        )  # fmt: skip
        taken = _ZERO
        for index in order:
            allowance, left = self._left[index]
            take = min(left, wanted - taken)
            if take > 0:
                self._left[index] = (allowance, left - take)
                taken += take
        return taken


def _priced(
    group: _Group, billable: Decimal, row: PriceRowLike | None
) -> tuple[ChargeModel, Decimal, tuple[TierUsage, ...]]:
    if row is None:
        # no price row: the list price the gateway charged, on the billable share of the units
        amount = (
            _EXACT.divide(_EXACT.multiply(group.revenue, billable), group.quantity)
            if group.quantity
            else _ZERO
        )
        unit_price = _EXACT.divide(group.revenue, group.quantity) if group.quantity else _ZERO
        return (
            ChargeModel.PER_UNIT,
            amount,
            (TierUsage(None, billable, unit_price.normalize(), _ZERO, amount),),
        )
    amount, used = charge(
        row.charge_model,
        billable,
        unit_price=row.price_per_unit_usd,
        package_size=row.package_size,
        tiers=row.tiers,
    )
    return row.charge_model, amount, used


def usage_lines(
    segment: Segment,
    totals: Iterable[UsageTotalLike],
    allowances: Iterable[AllowanceLike],
    price_row: PriceLookup,
) -> list[UsageLine]:
    """One line per (model, unit) used in ``segment``, in (unit, model) order: quantity, the included
    units drawn from ``allowances`` (the plan's, prorated), billable units, their charge under the price
    row in force at the segment's start, and the compute cost of the events."""
    pools = _Pools(allowances, segment)
    lines = []
    for group in _groups(totals):
        included = pools.draw(group.model, group.unit, group.quantity)
        billable = group.quantity - included
        row = price_row(segment.plan, group.model, group.plugin, group.task, group.unit, segment.start)
        model, amount, tiers = _priced(group, billable, row)
        lines.append(
            UsageLine(
                plan=segment.plan,
                model=group.model,
                unit=group.unit,
                period_start=segment.start,
                period_end=segment.end,
                quantity=group.quantity,
                included=included,
                billable=billable,
                charge_model=model,
                tiers=tiers,
                amount_usd=to_cents(amount),
                compute_cost_usd=group.compute_cost,
            )
        )
    return lines
