"""Charge models (Lago's semantics) and rounding: the documented example of each, edge cases, and
properties that hold for any quantity and any tiers."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verticals.billing.charges import charge, check_tiers, to_cents
from verticals.billing.errors import BillingError
from verticals.billing.model import ChargeModel, Tier, TierUsage

PER_M = [Tier(D(1_000_000), D("0.000002")), Tier(None, D("0.000001"))]


def test_per_unit_example() -> None:
    amount, tiers = charge(ChargeModel.PER_UNIT, D(1500), unit_price=D("0.01"))
    assert amount == D("15.00")
    assert tiers == (TierUsage(None, D(1500), D("0.01"), D(0), D("15.00")),)


def test_package_example_counts_started_packages() -> None:
    amount, tiers = charge(ChargeModel.PACKAGE, D(2500), unit_price=D("0.50"), package_size=D(1000))
    assert amount == D("1.50")
    assert tiers == (TierUsage(D(1000), D(3), D("0.50"), D(0), D("1.50")),)
    assert charge(ChargeModel.PACKAGE, D(3000), unit_price=D("0.50"), package_size=D(1000))[0] == D("1.50")
    assert charge(ChargeModel.PACKAGE, D(3001), unit_price=D("0.50"), package_size=D(1000))[0] == D("2.00")
    assert charge(ChargeModel.PACKAGE, D(0), unit_price=D("0.50"), package_size=D(1000))[0] == 0


def test_graduated_example() -> None:
    amount, tiers = charge(ChargeModel.GRADUATED, D(1_500_000), unit_price=D(0), tiers=PER_M)
    assert amount == D("2.50")
    assert [(t.up_to, t.quantity, t.amount) for t in tiers] == [
        (D(1_000_000), D(1_000_000), D("2.000000")),
        (None, D(500_000), D("0.500000")),
    ]


def test_graduated_flat_fee_once_a_tier_is_reached() -> None:
    tiers = [Tier(D(10), D(1), D(5)), Tier(D(20), D("0.5"), D(3)), Tier(None, D("0.1"), D(100))]
    assert charge(ChargeModel.GRADUATED, D(0), unit_price=D(0), tiers=tiers) == (D(0), ())
    assert charge(ChargeModel.GRADUATED, D(10), unit_price=D(0), tiers=tiers)[0] == D(15)  # 10 + 5
    assert charge(ChargeModel.GRADUATED, D(11), unit_price=D(0), tiers=tiers)[0] == D("18.5")  # + 0.5 + 3
    assert charge(ChargeModel.GRADUATED, D(21), unit_price=D(0), tiers=tiers)[0] == D("123.1")


def test_volume_example_prices_every_unit_at_the_tier_reached() -> None:
    amount, tiers = charge(ChargeModel.VOLUME, D(1_500_000), unit_price=D(0), tiers=PER_M)
    assert amount == D("1.50")
    assert tiers == (TierUsage(None, D(1_500_000), D("0.000001"), D(0), D("1.500000")),)
    # the upper bound belongs to its tier: exactly 1M tokens are all at the first tier's price
    assert charge(ChargeModel.VOLUME, D(1_000_000), unit_price=D(0), tiers=PER_M)[0] == D("2.00")
    with_flat = [Tier(D(100), D(2), D(10)), Tier(None, D(1))]
    assert charge(ChargeModel.VOLUME, D(50), unit_price=D(0), tiers=with_flat)[0] == D(110)
    assert charge(ChargeModel.VOLUME, D(0), unit_price=D(0), tiers=with_flat) == (D(0), ())


def test_rounding_is_half_even_to_cents() -> None:
    assert to_cents(D("0.125")) == D("0.12")
    assert to_cents(D("0.135")) == D("0.14")
    assert to_cents(D("16.3333333")) == D("16.33")
    assert to_cents(D("2.675")) == D("2.68")
    assert str(to_cents(D(15))) == "15.00"


@pytest.mark.parametrize(
    ("tiers", "problem"),
    [
        ([], "need tiers"),
        ([Tier(D(10), D(1))], "last tier must be unbounded"),
        ([Tier(None, D(1)), Tier(None, D(1))], "only the last tier"),
        ([Tier(D(10), D(1)), Tier(D(5), D(1)), Tier(None, D(1))], "must ascend"),
        ([Tier(D(0), D(1)), Tier(None, D(1))], "must ascend"),
        ([Tier(None, D(-1))], "negative"),
    ],
)
def test_unusable_tiers_are_refused(tiers: list[Tier], problem: str) -> None:
    with pytest.raises(BillingError, match=problem):
        check_tiers(tiers)
    with pytest.raises(BillingError, match=problem):
        charge(ChargeModel.GRADUATED, D(1), unit_price=D(0), tiers=tiers)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(BillingError, match="negative quantity"):
        charge(ChargeModel.PER_UNIT, D(-1), unit_price=D(1))
    with pytest.raises(BillingError, match="package size"):
        charge(ChargeModel.PACKAGE, D(1), unit_price=D(1))
    with pytest.raises(BillingError, match="package size"):
        charge(ChargeModel.PACKAGE, D(1), unit_price=D(1), package_size=D(0))


# properties, for any quantities and tiers

quantities = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=0, max_value=10, places=6, allow_nan=False, allow_infinity=False)


@st.composite
def schedules(draw: st.DrawFn) -> list[Tier]:
    bounds = sorted(set(draw(st.lists(st.integers(1, 10**8), max_size=4))))
    tiers = [Tier(D(bound), draw(prices), draw(prices)) for bound in bounds]
    return [*tiers, Tier(None, draw(prices), draw(prices))]


def _lower(tiers: list[Tier], index: int) -> D:
    bound = tiers[index - 1].up_to if index else D(0)
    assert bound is not None
    return bound


@given(schedules(), quantities)
def test_graduated_is_the_sum_of_its_tiers(tiers: list[Tier], quantity: D) -> None:
    amount, used = charge(ChargeModel.GRADUATED, quantity, unit_price=D(0), tiers=tiers)
    expected = D(0)
    for index, tier in enumerate(tiers):
        lower = _lower(tiers, index)
        if quantity > lower:
            top = quantity if tier.up_to is None else min(quantity, tier.up_to)
            expected += (top - lower) * tier.unit_price + tier.flat_fee
    assert amount == expected
    assert sum(t.quantity for t in used) == quantity
    assert amount == sum(t.amount for t in used)


@given(schedules(), quantities, quantities)
def test_graduated_of_a_sum_adds_the_tiers_above_the_first_part(tiers: list[Tier], a: D, b: D) -> None:
    """Graduated pricing is additive along the quantity: the units from a to a+b cost what the tiers
    charge for that stretch, so the total never depends on how the usage arrived."""
    total, _ = charge(ChargeModel.GRADUATED, a + b, unit_price=D(0), tiers=tiers)
    first, _ = charge(ChargeModel.GRADUATED, a, unit_price=D(0), tiers=tiers)
    stretch = D(0)
    for index, tier in enumerate(tiers):
        lower = _lower(tiers, index)
        upper = tier.up_to
        low, high = max(lower, a), a + b if upper is None else min(upper, a + b)
        if high > low:
            stretch += (high - low) * tier.unit_price
        if a <= lower < a + b:  # the tier is first reached within the stretch
            stretch += tier.flat_fee
    assert total == first + stretch
    assert total >= first


@given(schedules(), quantities, quantities)
def test_volume_is_monotonic_within_a_tier(tiers: list[Tier], a: D, b: D) -> None:
    low, high = sorted((a, b))
    tier_of = [next(i for i, t in enumerate(tiers) if t.up_to is None or q <= t.up_to) for q in (low, high)]
    if low > 0 and tier_of[0] == tier_of[1]:
        assert (
            charge(ChargeModel.VOLUME, low, unit_price=D(0), tiers=tiers)[0]
            <= (charge(ChargeModel.VOLUME, high, unit_price=D(0), tiers=tiers)[0])
        )
    amount, used = charge(ChargeModel.VOLUME, high, unit_price=D(0), tiers=tiers)
    if high > 0:
        tier = tiers[tier_of[1]]
        assert amount == high * tier.unit_price + tier.flat_fee
        assert len(used) == 1


@given(quantities, st.integers(1, 10**6), prices)
def test_package_charges_the_ceiling_of_packages(quantity: D, size: int, price: D) -> None:
    amount, (used,) = charge(ChargeModel.PACKAGE, quantity, unit_price=price, package_size=D(size))
    packages = used.quantity
    assert packages == packages.to_integral_value()
    assert (packages - 1) * size < quantity <= packages * size or quantity == packages == 0
    assert amount == packages * price


@given(quantities, prices)
def test_per_unit_is_quantity_times_price(quantity: D, price: D) -> None:
    assert charge(ChargeModel.PER_UNIT, quantity, unit_price=price)[0] == quantity * price


@given(st.decimals(min_value=-(10**6), max_value=10**6, places=6, allow_nan=False, allow_infinity=False))
def test_to_cents_is_within_half_a_cent(amount: D) -> None:
    cents = to_cents(amount)
    assert cents.as_tuple().exponent == -2
    assert abs(cents - amount) <= D("0.005")
