"""The ledger: customers, keys, price and cost books, usage events and unit-economics analytics.

``from verticals.ledger import Ledger, UsageEvent, LedgerError``. The names load on first use, so
that ``verticals --help`` (which imports ``verticals.ledger.commands``) does not pay for DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verticals.ledger.allowances import Allowance
    from verticals.ledger.billing_usage import UsageTotal
    from verticals.ledger.books import CostRow, PriceRow
    from verticals.ledger.control import ApiKey, Customer, Plan
    from verticals.ledger.credits import CreditGrant
    from verticals.ledger.errors import LedgerError
    from verticals.ledger.events import UsageEvent
    from verticals.ledger.ledger import Ledger
    from verticals.ledger.subscriptions import Subscription

__all__ = [
    "Allowance",
    "ApiKey",
    "CostRow",
    "CreditGrant",
    "Customer",
    "Ledger",
    "LedgerError",
    "Plan",
    "PriceRow",
    "Subscription",
    "UsageEvent",
    "UsageTotal",
]

_WHERE = {
    "Allowance": "allowances",
    "CreditGrant": "credits",
    "Subscription": "subscriptions",
    "UsageTotal": "billing_usage",
    "ApiKey": "control",
    "Customer": "control",
    "Plan": "control",
    "CostRow": "books",
    "PriceRow": "books",
    "LedgerError": "errors",
    "UsageEvent": "events",
    "Ledger": "ledger",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'verticals.ledger' has no attribute {name!r}")
    return getattr(importlib.import_module(f"verticals.ledger.{module}"), name)
