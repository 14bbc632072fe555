"""Charge models: how a price row turns a billable quantity into an amount, with Lago's semantics.

``charge(model, quantity, unit_price=..., package_size=..., tiers=...)`` returns the amount, unrounded,
and its breakdown into ``TierUsage`` entries; the invoice rounds each line once, with ``to_cents``.
Quantities are what is left after the plan's allowance (``billable``), in the price row's unit.

- **per_unit** (Lago's *standard*): ``quantity x unit_price``. 1,500 images at $0.01: $15.00. One
  breakdown entry.
- **package**: every started package of ``package_size`` units costs ``unit_price`` (the price of one
  package); a package counts from its first unit, so the count is rounded up. 2,500 tokens in packages
  of 1,000 at $0.50: ceil(2.5) = 3 packages, $1.50; 0 tokens: $0. One breakdown entry whose
  ``quantity`` is the number of packages and ``unit_price`` the package price, ``up_to`` the package
  size.
- **graduated**: tiers with cumulative upper bounds, tier i holding the units in (bound i-1, bound i];
  each tier prices the units that fall in it, and adds its ``flat_fee`` once when it is reached (holds
  at least part of a unit). First 1M tokens at $0.000002, the rest at $0.000001: 1.5M tokens cost
  $2.00 + $0.50 = $2.50. One breakdown entry per tier reached.
- **volume**: every unit at the unit price of the tier the total falls in, plus that tier's
  ``flat_fee``; nothing for a quantity of 0. Same tiers, 1.5M tokens: 1.5M x $0.000001 = $1.50, less
  than 1M tokens cost ($2.00), as volume pricing does at a tier edge. One breakdown entry.

Tiers: ascending ``up_to``, the last one None (no upper bound), as Lago and Stripe require; anything
else raises ``BillingError``. Arithmetic runs with 60 significant digits, so products of quantities and
prices (each well under 30 digits) are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal

from verticals.billing.errors import BillingError
from verticals.billing.model import CENT, ChargeModel, Tier, TierUsage

_EXACT = Context(prec=60)
_ZERO = Decimal(0)

Breakdown = tuple[Decimal, tuple[TierUsage, ...]]


def to_cents(amount: Decimal) -> Decimal:
    """``amount`` (USD) rounded to cents half-even (banker's rounding: $0.125 -> $0.12, $0.135 -> $0.14),
    the one rounding an invoice line gets."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN, context=_EXACT)


def check_tiers(tiers: Sequence[Tier]) -> None:
    """Raise ``BillingError`` unless ``tiers`` is a usable graduated/volume schedule: at least one tier,
    bounds positive and strictly ascending, only the last without a bound, prices and flat fees not
    negative.
    """
    if not tiers:
        raise BillingError("graduated and volume prices need tiers: give at least one, the last up to inf")
    previous = _ZERO
    for index, tier in enumerate(tiers):
        last = index == len(tiers) - 1
        if tier.unit_price < 0 or tier.flat_fee < 0:
            raise BillingError(f"tier {index + 1} has a negative price or flat fee: prices are >= 0")
        if tier.up_to is None:
            if not last:
                raise BillingError(f"only the last tier may be unbounded (up to inf); tier {index + 1} is")
            continue
        if last:
            raise BillingError("the last tier must be unbounded (up to inf), so every quantity has a price")
        if tier.up_to <= previous:
            raise BillingError(
                f"tier bounds must ascend: tier {index + 1} goes up to {tier.up_to}, after {previous}"
            )
        previous = tier.up_to


def _per_unit(
    quantity: Decimal, unit_price: Decimal, package_size: Decimal | None, tiers: Sequence[Tier]
) -> Breakdown:
    amount = _EXACT.multiply(quantity, unit_price)
    return amount, (TierUsage(None, quantity, unit_price, _ZERO, amount),)


def _package(
    quantity: Decimal, unit_price: Decimal, package_size: Decimal | None, tiers: Sequence[Tier]
) -> Breakdown:
    if package_size is None or package_size <= 0:
        raise BillingError("a package price needs a package size above 0 (--package-size N)")
    whole, rest = divmod(quantity, package_size)
    packages = whole + (1 if rest else 0)
    amount = _EXACT.multiply(packages, unit_price)
    return amount, (TierUsage(package_size, packages, unit_price, _ZERO, amount),)


def _graduated(
    quantity: Decimal, unit_price: Decimal, package_size: Decimal | None, tiers: Sequence[Tier]
) -> Breakdown:
    check_tiers(tiers)
    used: list[TierUsage] = []
    lower = _ZERO
    for tier in tiers:
        if quantity <= lower:
            break  # this tier is not reached: no units in it, no flat fee
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = top - lower
        amount = _EXACT.add(_EXACT.multiply(units, tier.unit_price), tier.flat_fee)
        used.append(TierUsage(tier.up_to, units, tier.unit_price, tier.flat_fee, amount))
        if tier.up_to is None:
            break
        lower = tier.up_to
    return sum((entry.amount for entry in used), _ZERO), tuple(used)


def _volume(
    quantity: Decimal, unit_price: Decimal, package_size: Decimal | None, tiers: Sequence[Tier]
) -> Breakdown:
    check_tiers(tiers)
    if quantity == 0:
        return _ZERO, ()
    tier = next(t for t in tiers if t.up_to is None or quantity <= t.up_to)
    amount = _EXACT.add(_EXACT.multiply(quantity, tier.unit_price), tier.flat_fee)
    return amount, (TierUsage(tier.up_to, quantity, tier.unit_price, tier.flat_fee, amount),)


_MODELS: dict[ChargeModel, Callable[[Decimal, Decimal, Decimal | None, Sequence[Tier]], Breakdown]] = {
    ChargeModel.PER_UNIT: _per_unit,
    ChargeModel.PACKAGE: _package,
    ChargeModel.GRADUATED: _graduated,
    ChargeModel.VOLUME: _volume,
}


def charge(
    model: ChargeModel,
    quantity: Decimal,
    *,
    unit_price: Decimal,
    package_size: Decimal | None = None,
    tiers: Sequence[Tier] = (),
) -> tuple[Decimal, tuple[TierUsage, ...]]:
    """The unrounded amount (USD) ``quantity`` billable units cost under ``model``, and its breakdown.

    ``unit_price`` is USD per unit for per_unit, per package for package (ignored by graduated and volume,
    whose ``tiers`` carry the prices); ``package_size`` is in units. Raises ``BillingError`` for a
    negative quantity, a package price without a size above 0, or unusable tiers (see ``check_tiers``).
    A quantity of 0 costs nothing under every model (graduated and volume then have no breakdown).
    """
    if quantity < 0:
        raise BillingError(f"cannot charge a negative quantity ({quantity})")
    return _MODELS[ChargeModel(model)](quantity, unit_price, package_size, tiers)
