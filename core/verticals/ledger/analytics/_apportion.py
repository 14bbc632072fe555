"""Splitting an amount into parts that add up to it exactly (the largest-remainder method).

Billed revenue is spread over days, customers and models by weights (seconds for a fee, billed units for a
usage line). ``amount x weight / total`` rarely terminates in decimal, so each part is first rounded down
to the nano-dollar and the nano-dollars left over go one each to the parts with the largest remainders
(ties to the earlier part): the parts always add up to the amount, so a month's days add up to its
invoices exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from verticals.ledger.analytics._query import NANO

_SCALE = Decimal(1_000_000)  # weights are seconds or units to the micro (DECIMAL(38,6), microseconds)


def apportion(amount: Decimal, weights: Sequence[Decimal], step: Decimal = NANO) -> list[Decimal]:
    """``amount`` split over ``weights`` (non-negative; all zero: equal parts), as multiples of ``step``
    adding up to ``amount`` exactly; ``amount`` is rounded to ``step`` first (invoice amounts are cents, so
    nothing is lost). Negative amounts are split like their absolute value. Empty weights: ``[]``."""
    if not weights:
        return []
    sign = -1 if amount < 0 else 1
    total_steps = int((abs(amount) / step).to_integral_value())
    scaled = [max(int((w * _SCALE).to_integral_value()), 0) for w in weights]
    total_weight = sum(scaled)
    if total_weight == 0:
        scaled, total_weight = [1] * len(weights), len(weights)
    floors = [total_steps * w // total_weight for w in scaled]
    remainders = [total_steps * w % total_weight for w in scaled]
    left = total_steps - sum(floors)
    for index in sorted(range(len(scaled)), key=lambda i: (-remainders[i], i))[:left]:
        floors[index] += 1
    return [sign * step * part for part in floors]
