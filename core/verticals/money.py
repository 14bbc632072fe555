"""Money and ratios as text: exact fixed-point decimals for JSON, short amounts and percentages for tables,
unit prices as the trade quotes them (tokens per 1M).

``decimal_text`` is the one way a Decimal becomes JSON text (the CLI's ``print_json``, the admin API's
``plain``, invoice JSON): never an exponent, so "1.45E-7" and "0E-9" are "0.000000145" and "0.000000000".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# Units priced per million in the trade (LLM tokens); others are quoted per unit.
PER_MILLION_UNITS = frozenset({"tokens"})
MILLION = 1_000_000
_SINGULAR = {
    "tokens": "token",
    "images": "image",
    "audio-seconds": "audio-second",
    "rows": "row",
    "calls": "call",
}


def decimal_text(value: Decimal) -> str:
    """``value`` in fixed-point notation with its scale kept: Decimal("1.45E-7") -> "0.000000145",
    Decimal("0E-9") -> "0.000000000", Decimal("2.50") -> "2.50". Not for NaN or infinity (the ledger holds
    none)."""
    return format(value, "f")


def plain_number(value: Decimal | str | int) -> str:
    """A decimal in fixed point without trailing zeros: 0.000002000000 -> "0.000002", 1000.000 -> "1000"."""
    text = decimal_text(Decimal(str(value)))
    return text.rstrip("0").rstrip(".") if "." in text else text


def money_short(value: Any) -> str:
    """A USD amount for a table cell, abbreviated: "$98.8k", "$1.2M", "$12.50", "<$0.01" (more than 0, less
    than a cent), "-$3.10", "$0"; "" for None. ``value`` is a Decimal, number or numeric string. JSON and
    CSV carry the exact amount."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value))
    sign, size = ("-" if amount < 0 else ""), abs(amount)
    if size == 0:
        return "$0"
    for scale, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(1000), "k")):
        if size >= scale:
            return f"{sign}${size / scale:.1f}{suffix}"
    if size >= Decimal("0.01"):
        return f"{sign}${size:,.2f}"
    return f"{sign}<$0.01"  # not "$0.00", which would read as nothing at all


def percent(ratio: Any) -> str:
    """A ratio (0.9994) as a percentage for a table cell: "99.9%"; "" for None (e.g. margin on no revenue)."""
    if ratio is None or ratio == "":
        return ""
    return f"{float(ratio) * 100:.1f}%"


def unit_price(price: Decimal | str | int, unit: str, per: str = "/") -> str:
    """USD ``price`` per one ``unit`` as the trade quotes it: "$2 / 1M tokens" for 0.000002 per token,
    "$0.01 / image" otherwise (the book stores the price per unit); ``per`` joins them ("/" or "per")."""
    amount = Decimal(str(price))
    if unit in PER_MILLION_UNITS:
        return f"${plain_number(amount * MILLION)} {per} 1M {unit}"
    return f"${plain_number(amount)} {per} {_SINGULAR.get(unit, unit)}"
