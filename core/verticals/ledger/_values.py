"""Checks shared by the control data and the books: names and money, with messages that say the fix."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from verticals.ledger.errors import LedgerError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def check_name(value: str, what: str) -> str:
    """``value`` unchanged if it is a valid name for a customer, plan or device class (``what`` names which,
    for the message).

    A name is 1-64 characters of lower-case letters, digits, ``-``, ``_`` or ``.``, starting with a letter or
    digit. Raises LedgerError naming the rule and an example otherwise (also for a non-str).
    """
    if not isinstance(value, str) or not _NAME.match(value):
        raise LedgerError(
            f"{what} name {value!r} is not allowed: use 1-64 lower-case letters, digits, '-', '_' or '.', "
            f"starting with a letter or digit, for example 'acme-corp'"
        )
    return value


def parse_money(value: Any, what: str, *, places: int = 12) -> Decimal:
    """A non-negative exact amount; floats are refused because they cannot hold cents exactly."""
    if isinstance(value, bool | float):
        raise LedgerError(f"{what} {value!r} must be given as a decimal string or Decimal, such as '0.002'")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise LedgerError(
            f"{what} {value!r} is not a number: give an amount in USD such as '0.002'"
        ) from None
    if not amount.is_finite():
        raise LedgerError(f"{what} {value!r} is not a finite number: give an amount in USD such as '0.002'")
    if amount < 0:
        raise LedgerError(f"{what} {value!r} is negative: prices, rates and budgets are zero or more")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise LedgerError(f"{what} {value!r} has more than {places} decimal places")
    if amount >= Decimal(10) ** 11:
        raise LedgerError(f"{what} {value!r} is too large for the ledger (at most 99,999,999,999)")
    return amount


def check_limit(value: int | None, what: str) -> int | None:
    """``value`` unchanged if it is None (no limit) or a whole number above 0; ``what`` names the limit (rpm,
    tpm) in the message.

    Raises LedgerError for 0, a negative number, a bool or a non-int.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LedgerError(f"{what} {value!r} must be a whole number above 0 (leave it out for no limit)")
    return value
