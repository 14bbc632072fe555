"""The billing half of ``RemoteLedger``: prices with charge models, allowances, subscriptions and credits,
carried out by a running gateway's admin API (``/admin/prices``, ``/admin/allowances``,
``/admin/subscriptions``, ``/admin/credits``), answering the ledger's own records.

Money and quantities go as decimal strings (no cent lost), times as ISO 8601; a refusal raises
``LedgerError`` with the server's message, as ``Ledger`` would.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

from verticals.billing.model import ChargeModel, Tier

T = TypeVar("T")


def build_record(cls: type[T], data: dict[str, Any]) -> T:
    """A ledger dataclass from the admin API's JSON (money and quantities as strings, times as ISO 8601,
    charge models by value, tiers as lists of objects); a field the JSON lacks keeps its default, so an
    older server's answers still build."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in data and field.default is not dataclasses.MISSING:
            continue
        value = data.get(field.name)
        kind = str(hints[field.name])
        if value is not None and "Tier" in kind:
            value = tuple(build_record(Tier, tier) for tier in value)
        elif value is not None and "ChargeModel" in kind:
            value = ChargeModel(value)
        elif value is not None and "Decimal" in kind:
            value = Decimal(str(value))
        elif value is not None and "datetime" in kind:
            value = datetime.fromisoformat(value)
        values[field.name] = value
    return cls(**values)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _text(value: Decimal | str | int | None) -> str | None:
    return None if value is None else str(value)


class RemoteBilling:
    """Billing methods of ``RemoteLedger``, whose ``_call(method, path, body, **params)`` does the HTTP."""

    _call: Callable[..., Any]

    def set_price(
        self,
        plan: str,
        unit: str,
        price_per_unit_usd: Decimal | str | int,
        *,
        model: str | None = None,
        plugin: str | None = None,
        task: str | None = None,
        effective_from: datetime | None = None,
        note: str = "",
        charge_model: ChargeModel | str = ChargeModel.PER_UNIT,
        package_size: Decimal | str | int | None = None,
        tiers: Sequence[Tier] | None = None,
    ) -> Any:
        """Append a price row (``POST /admin/prices``; see ``Ledger.set_price`` for the charge models);
        returns the new ``PriceRow``. Raises LedgerError with the server's message when it refuses the call
        or cannot be reached.

        Sent with ``force``: the caller (``verticals prices set``) checked the model and unit against the
        plugins installed where it runs, which may be newer than those the gateway loaded at its start.
        """
        from verticals.ledger import PriceRow

        body = {
            "plan": plan,
            "unit": unit,
            "price_per_unit_usd": str(price_per_unit_usd),
            "model": model,
            "plugin": plugin,
            "task": task,
            "effective_from": _iso(effective_from),
            "note": note,
            "charge_model": str(charge_model),
            "package_size": _text(package_size),
            "force": True,
            "tiers": None
            if tiers is None
            else [
                {"up_to": _text(t.up_to), "unit_price": str(t.unit_price), "flat_fee": str(t.flat_fee)}
                for t in tiers
            ],
        }
        return build_record(PriceRow, self._call("POST", "/admin/prices", body))

    # allowances

    def set_allowance(
        self, plan: str, unit: str, quantity: Decimal | str | int, *, model: str | None = None
    ) -> Any:
        """Include ``quantity`` ``unit`` of ``model`` (or every model) in ``plan``'s fee
        (``POST /admin/allowances``); returns the ``Allowance``. LedgerError with the server's message."""
        from verticals.ledger import Allowance

        body = {"plan": plan, "unit": unit, "quantity": str(quantity), "model": model}
        return build_record(Allowance, self._call("POST", "/admin/allowances", body))

    def allowances(self, plan: str | None = None) -> list[Any]:
        """Every allowance, or ``plan``'s, as ``Allowance`` rows (``GET /admin/allowances``)."""
        from verticals.ledger import Allowance

        return [build_record(Allowance, row) for row in self._call("GET", "/admin/allowances", plan=plan)]

    # subscriptions

    def set_subscription(self, customer: str, plan: str, starts_at: datetime | None = None) -> Any:
        """Move ``customer`` to ``plan`` from ``starts_at`` (None: now) (``POST /admin/subscriptions``);
        returns the new ``Subscription``. LedgerError with the server's message."""
        from verticals.ledger import Subscription

        body = {"customer": customer, "plan": plan, "starts_at": _iso(starts_at)}
        return build_record(Subscription, self._call("POST", "/admin/subscriptions", body))

    def cancel_subscription(self, customer: str, at: datetime | None = None) -> Any:
        """End ``customer``'s open subscription at ``at`` (None: now); returns it. LedgerError with the
        server's message."""
        from verticals.ledger import Subscription

        path = f"/admin/subscriptions/{quote(customer, safe='')}/cancel"
        return build_record(Subscription, self._call("POST", path, {"at": _iso(at)}))

    def subscriptions(self, customer: str | None = None) -> list[Any]:
        """Every subscription, or ``customer``'s, as ``Subscription`` rows (``GET /admin/subscriptions``)."""
        from verticals.ledger import Subscription

        rows = self._call("GET", "/admin/subscriptions", customer=customer)
        return [build_record(Subscription, row) for row in rows]

    # credits

    def grant_credit(
        self,
        customer: str,
        amount_usd: Decimal | str | int,
        *,
        reason: str = "",
        expires_at: datetime | None = None,
        granted_at: datetime | None = None,
    ) -> Any:
        """Grant ``customer`` ``amount_usd`` of credit (``POST /admin/credits``); returns the ``CreditGrant``.
        LedgerError with the server's message."""
        from verticals.ledger import CreditGrant

        body = {
            "customer": customer,
            "amount_usd": str(amount_usd),
            "reason": reason,
            "expires_at": _iso(expires_at),
            "granted_at": _iso(granted_at),
        }
        return build_record(CreditGrant, self._call("POST", "/admin/credits", body))

    def credit_grants(self, customer: str | None = None) -> list[Any]:
        """Every credit grant, or ``customer``'s, as ``CreditGrant`` rows (``GET /admin/credits``)."""
        from verticals.ledger import CreditGrant

        return [
            build_record(CreditGrant, row) for row in self._call("GET", "/admin/credits", customer=customer)
        ]

    def credit_balance(self, customer: str, at: datetime | None = None) -> Decimal:
        """USD of credit ``customer`` has left at ``at`` (None: now) (``GET /admin/credits/balance``)."""
        answer = self._call("GET", "/admin/credits/balance", customer=customer, at=_iso(at))
        return Decimal(str(answer["balance_usd"]))
