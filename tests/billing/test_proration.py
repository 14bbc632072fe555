"""Proration by second over calendar months (UTC): the documented examples and the month arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verticals.billing.charges import to_cents
from verticals.billing.errors import BillingError
from verticals.billing.proration import (
    covered,
    fraction,
    month_bounds,
    month_of,
    prorate,
    prorate_allowance,
    seconds,
)

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)


def test_month_bounds() -> None:
    assert month_bounds("2026-11") == (NOV, DEC)
    assert month_bounds("2026-12") == (DEC, datetime(2027, 1, 1, tzinfo=UTC))
    assert seconds(*month_bounds("2028-02")) == 29 * 86_400
    assert month_of(datetime(2026, 11, 30, 23, 59, 59)) == "2026-11"


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "Nov 2026", "2026-00", ""])
def test_malformed_months_are_refused(bad: str) -> None:
    with pytest.raises(BillingError, match="YYYY-MM"):
        month_bounds(bad)


def test_ten_days_of_november_is_a_third() -> None:
    ten_days = NOV + timedelta(days=10)
    assert seconds(NOV, ten_days) == 864_000
    assert fraction(NOV, ten_days, "2026-11") * 3 == pytest.approx(1)
    assert to_cents(prorate(D(49), NOV, ten_days, "2026-11")) == D("16.33")
    assert to_cents(prorate(D(49), ten_days, DEC, "2026-11")) == D("32.67")
    assert prorate_allowance(D(100_000), NOV, ten_days, "2026-11") == 33_333
    assert prorate_allowance(D(100_000), ten_days, DEC, "2026-11") == 66_667
    assert prorate_allowance(D("10.5"), NOV, ten_days, "2026-11") == D("3.5")


def test_by_second_not_by_day() -> None:
    switch = datetime(2026, 11, 10, 13, 30, tzinfo=UTC)
    assert seconds(NOV, switch) == 9 * 86_400 + 13.5 * 3600
    assert seconds(NOV, NOV + timedelta(microseconds=1)) == D("0.000001")
    # $30 over 9.5625 days of a 30-day month: 30 x 826,200 / 2,592,000 = 9.5625
    assert prorate(D(30), NOV, switch, "2026-11") == D("9.5625")


def test_the_whole_month_is_the_whole_fee() -> None:
    assert prorate(D(49), NOV, DEC, "2026-11") == 49
    assert fraction(NOV, DEC, "2026-11") == 1
    assert prorate_allowance(D(100_000), NOV, DEC, "2026-11") == 100_000


def test_covered_clips_to_the_month() -> None:
    assert covered(datetime(2026, 10, 5, tzinfo=UTC), None, "2026-11") == (NOV, DEC)
    assert covered(datetime(2026, 10, 5, tzinfo=UTC), NOV, "2026-11") is None
    assert covered(datetime(2026, 11, 5, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), "2026-11") == (
        datetime(2026, 11, 5, tzinfo=UTC),
        DEC,
    )
    assert covered(DEC, None, "2026-11") is None


@given(st.integers(0, 30 * 86_400), st.decimals(min_value=0, max_value=10_000, places=2))
def test_segments_of_a_month_add_up_to_the_fee(split: int, fee: D) -> None:
    """Prorated to 60 digits, the two sides of any switch add up to the fee before rounding, and within a
    cent after rounding each side once."""
    cut = NOV + timedelta(seconds=split)
    left, right = prorate(fee, NOV, cut, "2026-11"), prorate(fee, cut, DEC, "2026-11")
    assert abs(left + right - fee) < D("1e-50")
    assert abs(to_cents(left) + to_cents(right) - fee) <= D("0.01")
