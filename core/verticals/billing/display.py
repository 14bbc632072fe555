"""Quantities as people read them on an invoice (CLI tables, the PDF); the exact figures are in the
JSON and CSV exports."""

from __future__ import annotations

from decimal import Decimal


def grouped(value: Decimal) -> str:
    """A quantity for reading: thousands separated, trailing zeros dropped, at most 6 decimals
    (``2500000`` -> ``"2,500,000"``, ``33333.3333333`` -> ``"33,333.333333"``). Display only: the exact
    figure is in ``to_json`` and ``to_csv``."""
    shown = value if value == value.to_integral_value() else value.quantize(Decimal("0.000001"))
    return format(shown.normalize(), ",f")
