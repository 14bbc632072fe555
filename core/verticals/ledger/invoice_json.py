"""An ``Invoice`` as JSON and back, exactly: the form a finalized invoice is stored in.

Money and quantities are decimal strings (never floats, so no cent moves), times ISO 8601 in UTC, enums
their values, tuples lists. Keys are sorted, so the same invoice always gives the same bytes.
``loads(dumps(invoice)) == invoice``.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from verticals.billing.model import Invoice


def to_data(value: Any) -> Any:
    """``value`` (an Invoice or any of its parts) as JSON-ready data: dataclasses to dicts, Decimal to str,
    datetime to ISO 8601, enums to their values, tuples to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def dumps(invoice: Invoice) -> str:
    """The invoice as compact JSON with sorted keys (see ``to_data``)."""
    return json.dumps(to_data(invoice), sort_keys=True, separators=(",", ":"))


def _decode(kind: Any, value: Any) -> Any:
    """``value`` read back as the annotated type ``kind`` (Decimal, datetime, enums, dataclasses, tuples of
    them, optionals of them; anything else as it is)."""
    if value is None:
        return None
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    origin = typing.get_origin(kind)
    if origin is tuple:
        return tuple(_decode(args[0], v) for v in value)
    if origin is not None:  # X | None
        return _decode(args[0], value) if len(args) == 1 else value
    if kind is Decimal:
        return Decimal(str(value))
    if kind is datetime:
        return datetime.fromisoformat(str(value))
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = {f.name for f in dataclasses.fields(kind)}
        build = typing.cast(Callable[..., Any], kind)
        return build(**{name: _decode(hints[name], v) for name, v in value.items() if name in fields})
    return value


def from_data(data: dict[str, Any]) -> Invoice:
    """The Invoice ``to_data`` made ``data`` from (fields it lacks take their defaults); TypeError /
    ValueError for data that is not one."""
    invoice: Invoice = _decode(Invoice, data)
    return invoice


def loads(text: str) -> Invoice:
    """The Invoice ``dumps`` wrote as ``text``."""
    return from_data(json.loads(text))
