"""Proration by second: the share of a calendar month (UTC) a subscription covered.

The rule: a plan's monthly fee and its allowances count for the fraction of the month's seconds the
subscription covered, ``seconds covered / seconds in the month``, with time measured exactly (to the
microsecond the ledger stores), not rounded to days. November has 2,592,000 seconds; a subscription
from 1 November 00:00 to 11 November 00:00 covers 864,000 of them, 1/3 of the month: $49 a month
prorates to $16.33 (49/3 = 16.333..., rounded half-even to cents once), and an allowance of 100,000
tokens to 33,333 tokens (allowances are rounded half-even to their own precision: whole units for a
whole allowance, ``prorate_allowance``). A
change at 13:30 on the 10th counts those 13.5 hours on both sides: by second, not by day.
A cancellation ends the fee at its moment; a customer subscribed all month pays the fee exactly.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal

from verticals.billing.errors import BillingError

_EXACT = Context(prec=60)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_MICROS = Decimal(1_000_000)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of ``month`` (``YYYY-MM``) as aware UTC: midnight of its first day and of the next
    month's. Raises ``BillingError`` for anything else (naming the format)."""
    found = _MONTH.match(month)
    if found is None or not 1 <= int(found[2]) <= 12:
        raise BillingError(f"month {month!r} is not YYYY-MM (for example 2026-11)")
    year, number = int(found[1]), int(found[2])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) if number == 12 else datetime(year, number + 1, 1, tzinfo=UTC)
    return start, end


def month_of(when: datetime) -> str:
    """The ``YYYY-MM`` (UTC) holding ``when`` (a naive ``when`` is taken to be UTC)."""
    moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def seconds(start: datetime, end: datetime) -> Decimal:
    """Exact seconds from ``start`` to ``end`` (aware datetimes), microseconds included; 0 when ``end`` is
    not after ``start``."""
    delta = end - start
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return _EXACT.divide(Decimal(max(micros, 0)), _MICROS)


def covered(start: datetime, end: datetime | None, month: str) -> tuple[datetime, datetime] | None:
    """The part of ``[start, end)`` (``end`` None: still running) inside ``month``, or None when they do not
    overlap."""
    first, last = month_bounds(month)
    begin = max(start, first)
    finish = last if end is None else min(end, last)
    return (begin, finish) if finish > begin else None


def fraction(start: datetime, end: datetime, month: str) -> Decimal:
    """``seconds(start, end) / seconds in the month``, for a period inside ``month``: 1 for all of it,
    1/3 (as 60 significant digits) for 10 days of November."""
    first, last = month_bounds(month)
    return _EXACT.divide(seconds(start, end), seconds(first, last))


def prorate(amount: Decimal, start: datetime, end: datetime, month: str) -> Decimal:
    """``amount x seconds covered / seconds in the month``, multiplied before dividing and carried to 60
    significant digits, so that rounding it to cents afterwards is the only rounding (49 over 10 days of
    November: 16.333...)."""
    first, last = month_bounds(month)
    return _EXACT.divide(_EXACT.multiply(amount, seconds(start, end)), seconds(first, last))


def prorate_allowance(quantity: Decimal, start: datetime, end: datetime, month: str) -> Decimal:
    """An allowance of ``quantity`` units a month prorated like the fee, rounded half-even to the allowance's
    own precision (whole units for a whole allowance, tenths for 10.5 audio-seconds): 100,000 tokens over
    10 days of November include 33,333; the whole month includes all 100,000."""
    # normalized, since the ledger stores allowances with six places: 100000.000000 is a whole allowance
    exponent = min(int(quantity.normalize(_EXACT).as_tuple().exponent), 0)
    step = Decimal(1).scaleb(exponent)
    return prorate(quantity, start, end, month).quantize(step, rounding=ROUND_HALF_EVEN, context=_EXACT)
