"""Charge models of the price book: checking a row's package size and tiers, storing and reading tiers.

A price row charges its quantity one of four ways (``ChargeModel``; the billing engine computes them):

- ``per_unit``: quantity x ``price_per_unit_usd``. 1,500 images at $0.01: $15.00.
- ``package``: every started package of ``package_size`` units at ``price_per_unit_usd``, which is the price
  of one package. 2,500 tokens in packages of 1,000 at $0.50: 3 packages, $1.50.
- ``graduated``: each tier prices the units that fall in it, plus its flat fee once reached. Tiers
  (up to 1,000,000 at $0.000002; above at $0.000001): 1,500,000 tokens cost $2.00 + $0.50 = $2.50.
- ``volume``: every unit at the price of the tier the total reaches (plus that tier's flat fee). The same
  tiers, 1,500,000 tokens: all at $0.000001, $1.50.

Tier bounds are cumulative from 0 and strictly increasing; the last tier has no bound (``up_to`` None).
For graduated and volume rows ``price_per_unit_usd`` is the first tier's unit price: the gateway prices
each request per unit as it goes (``per_request_price``), and the invoice applies the tiers to the month.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from verticals.billing.model import ChargeModel, Tier
from verticals.ledger._values import parse_money
from verticals.ledger.errors import LedgerError

_TIERED = (ChargeModel.GRADUATED, ChargeModel.VOLUME)


def parse_quantity(value: Any, what: str) -> Decimal:
    """A non-negative exact quantity of units (Decimal, str or int; up to 6 places); LedgerError naming the
    rule otherwise (floats are refused: they cannot hold every quantity exactly)."""
    if isinstance(value, bool | float):
        raise LedgerError(f"{what} {value!r} must be given as a whole or decimal string, such as '1000000'")
    try:
        quantity = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise LedgerError(
            f"{what} {value!r} is not a number: give a count of units such as '1000000'"
        ) from None
    if not quantity.is_finite() or quantity < 0:
        raise LedgerError(f"{what} {value!r} must be a finite number of units, zero or more")
    exponent = quantity.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > 6:
        raise LedgerError(f"{what} {value!r} has more than 6 decimal places")
    if quantity >= Decimal(10) ** 18:
        raise LedgerError(f"{what} {value!r} is too large for the ledger (below 10^18)")
    return quantity


def charge_model_of(value: ChargeModel | str) -> ChargeModel:
    """``value`` as a ChargeModel; LedgerError listing the four for anything else."""
    try:
        return ChargeModel(value)
    except ValueError:
        known = ", ".join(model.value for model in ChargeModel)
        raise LedgerError(f"unknown charge model {value!r}: use one of {known}") from None


def check_charge(
    charge_model: ChargeModel | str,
    price: Decimal,
    package_size: Any,
    tiers: Sequence[Tier] | None,
) -> tuple[ChargeModel, Decimal | None, tuple[Tier, ...]]:
    """The charge model, package size and tiers of a new price row, checked against ``price`` (its
    ``price_per_unit_usd``, already parsed).

    A package row needs ``package_size`` > 0 and no tiers; a graduated or volume row needs tiers (strictly
    increasing bounds, only the last unbounded) whose first unit price equals ``price``, and no package
    size; a per-unit row neither. Raises LedgerError naming the rule and the fix.
    """
    model = charge_model_of(charge_model)
    given = tuple(tiers or ())
    size = None if package_size is None else parse_quantity(package_size, "package size")
    if model is ChargeModel.PACKAGE:
        if size is None or size <= 0:
            raise LedgerError(
                "a package price needs a package size above 0 (--package-size 1000): the price is per package"
            )
    elif size is not None:
        raise LedgerError(f"a package size only goes with the package charge model, not {model.value}")
    if model not in _TIERED:
        if given:
            raise LedgerError(f"tiers only go with the graduated or volume charge models, not {model.value}")
        return model, size, ()
    checked = check_tiers(given)
    if checked[0].unit_price != price:
        raise LedgerError(
            f"a {model.value} price's unit price is its first tier's ({checked[0].unit_price}), not {price}: "
            "give the first tier's unit price as the price (the tiers carry the others)"
        )
    return model, None, checked


def check_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """``tiers`` with exact amounts, if they are a valid tier list: at least one, bounds above 0 and
    strictly increasing, only the last without a bound (``up_to`` None) and it must be unbounded.
    LedgerError otherwise.
    """
    if not tiers:
        raise LedgerError(
            "a graduated or volume price needs tiers, such as --tier 1000000:0.000002 --tier inf:0.000001"
        )
    out: list[Tier] = []
    previous = Decimal(0)
    for position, tier in enumerate(tiers, start=1):
        last = position == len(tiers)
        if tier.up_to is None and not last:
            raise LedgerError(
                f"tier {position} has no upper bound but is not the last: only the last may be 'inf'"
            )
        if tier.up_to is not None:
            if last:
                raise LedgerError(
                    f"the last tier ends at {tier.up_to}: make it unbounded ('inf') so every unit has a price"
                )
            bound = parse_quantity(tier.up_to, f"tier {position}'s upper bound")
            if bound <= previous:
                raise LedgerError(
                    f"tier {position}'s upper bound {bound} must be above the previous one ({previous}): "
                    "bounds are cumulative from 0"
                )
            previous = bound
        out.append(
            Tier(
                up_to=None if tier.up_to is None else previous,
                unit_price=parse_money(tier.unit_price, f"tier {position}'s unit price", places=12),
                flat_fee=parse_money(tier.flat_fee, f"tier {position}'s flat fee", places=6),
            )
        )
    return tuple(out)


def parse_tier(text: str) -> Tier:
    """A tier from the CLI's ``UP_TO:PRICE[:FLAT]`` (``UP_TO`` ``inf`` for the last), e.g.
    ``1000000:0.000002`` or ``inf:0.000001:5``; LedgerError naming the form otherwise."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise LedgerError(
            f"tier {text!r} is not UP_TO:PRICE[:FLAT], such as 1000000:0.000002 or inf:0.000001"
        )
    up_to = None if parts[0].lower() in ("inf", "infinity") else parse_quantity(parts[0], "tier upper bound")
    price = parse_money(parts[1], "tier unit price", places=12)
    flat = parse_money(parts[2], "tier flat fee", places=6) if len(parts) == 3 else Decimal(0)
    return Tier(up_to, price, flat)


def per_request_price(charge_model: ChargeModel, price: Decimal, package_size: Decimal | None) -> Decimal:
    """What one unit costs when the gateway prices a request as it goes: the unit price for per-unit and
    tiered rows (their first tier), the package price over the package size for a package row."""
    if charge_model is ChargeModel.PACKAGE and package_size:
        return price / package_size
    return price


def insert_tiers(conn: Any, price_id: int, tiers: Sequence[Tier]) -> None:
    """Store ``tiers`` of price row ``price_id`` in ``price_tiers``, in order."""
    for position, tier in enumerate(tiers, start=1):
        conn.execute(
            "INSERT INTO price_tiers VALUES (?, ?, ?, ?, ?)",
            [price_id, position, tier.up_to, tier.unit_price, tier.flat_fee],
        )


def load_tiers(conn: Any) -> dict[int, tuple[Tier, ...]]:
    """Every price row's tiers, by price row id, in order (rows without tiers are absent)."""
    rows = conn.execute(
        "SELECT price_id, up_to, unit_price_usd, flat_fee_usd FROM price_tiers ORDER BY price_id, position"
    ).fetchall()
    out: dict[int, list[Tier]] = {}
    for price_id, up_to, unit_price, flat_fee in rows:
        out.setdefault(price_id, []).append(Tier(up_to, unit_price, flat_fee))
    return {price_id: tuple(tiers) for price_id, tiers in out.items()}
