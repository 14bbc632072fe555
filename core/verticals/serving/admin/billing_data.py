"""The admin API's billing data: subscriptions, credit grants and plan allowances.

- ``GET /admin/subscriptions?customer=``: the plan history, by customer and start.
- ``POST /admin/subscriptions`` ``{"customer", "plan", "starts_at": null}``: move a customer to a plan
  from ``starts_at`` (ISO 8601; null: now), ending its previous subscription there; 201 with it.
- ``POST /admin/subscriptions/{customer}/cancel`` ``{"at": null}``: end its open subscription.
- ``GET /admin/credits?customer=``: credit grants; ``GET /admin/credits/balance?customer=&at=``: what a
  customer has left (``{"customer", "at", "balance_usd"}``).
- ``POST /admin/credits`` ``{"customer", "amount_usd", "reason", "expires_at", "granted_at"}``: grant
  credit; 201 with the grant.
- ``GET /admin/allowances?plan=``; ``POST /admin/allowances`` ``{"plan", "unit", "quantity", "model"}``:
  the units a plan's fee includes; 201 with the row.

Admin token only (the admin router's dependency). Money and quantities travel as decimal strings. A ledger
refusal is a 400 ``ledger_error`` naming the problem and the fix; a malformed body a 400.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from verticals.serving.admin.access import AdminGateway, json_response, ledger_call

router = APIRouter()  # included by the admin router: its /admin prefix and the admin check


class SubscriptionIn(BaseModel):
    """Body of ``POST /admin/subscriptions``: ``customer`` onto ``plan`` from ``starts_at`` (None: now)."""

    customer: str = Field(min_length=1, max_length=200)
    plan: str = Field(min_length=1, max_length=200)
    starts_at: datetime | None = None


class CancelIn(BaseModel):
    """Body of ``POST /admin/subscriptions/{customer}/cancel``: when it ends (None: now)."""

    at: datetime | None = None


class CreditIn(BaseModel):
    """Body of ``POST /admin/credits``: ``amount_usd`` (Decimal USD above 0) for ``customer``, usable from
    ``granted_at`` (None: now) until ``expires_at`` (None: no expiry)."""

    customer: str = Field(min_length=1, max_length=200)
    amount_usd: Decimal = Field(max_digits=18)  # the ledger refuses 0 or less, naming the fix
    reason: str = ""
    expires_at: datetime | None = None
    granted_at: datetime | None = None


class AllowanceIn(BaseModel):
    """Body of ``POST /admin/allowances``: ``plan``'s fee includes ``quantity`` ``unit`` a month of
    ``model`` (a model, a ``plugin/*`` pattern, or None: every model in the unit)."""

    plan: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=200)
    quantity: Decimal = Field(max_digits=24)  # the ledger refuses a negative one, naming the fix
    model: str | None = None


@router.get("/subscriptions")
async def subscriptions(gw: AdminGateway, customer: str | None = None) -> Response:
    """``GET /admin/subscriptions``: every subscription, or ``?customer=``'s; 400 for an unknown customer."""
    return json_response(ledger_call(gw, "subscriptions", customer))


@router.post("/subscriptions", status_code=201)
async def set_subscription(body: SubscriptionIn, gw: AdminGateway) -> Response:
    """``POST /admin/subscriptions``: move a customer to a plan (see the module); 201 with the subscription.
    The customer's prices are read again at its next request."""
    row = ledger_call(gw, "set_subscription", body.customer, body.plan, body.starts_at)
    gw.forget(customer=body.customer)
    return json_response(row, 201)


@router.post("/subscriptions/{customer}/cancel")
async def cancel_subscription(customer: str, body: CancelIn, gw: AdminGateway) -> Response:
    """``POST /admin/subscriptions/{customer}/cancel``: end the customer's open subscription at ``at``
    (None: now); answers it."""
    return json_response(ledger_call(gw, "cancel_subscription", customer, body.at))


@router.get("/credits")
async def credits(gw: AdminGateway, customer: str | None = None) -> Response:
    """``GET /admin/credits``: every credit grant, or ``?customer=``'s; 400 for an unknown customer."""
    return json_response(ledger_call(gw, "credit_grants", customer))


@router.get("/credits/balance")
async def credit_balance(gw: AdminGateway, customer: str, at: datetime | None = None) -> Response:
    """``GET /admin/credits/balance?customer=&at=``: USD of credit left at ``at`` (None: now)."""
    balance = ledger_call(gw, "credit_balance", customer, at)
    return json_response({"customer": customer, "at": at, "balance_usd": balance})


@router.post("/credits", status_code=201)
async def grant_credit(body: CreditIn, gw: AdminGateway) -> Response:
    """``POST /admin/credits``: grant credit (see the module); 201 with the grant."""
    grant = ledger_call(
        gw,
        "grant_credit",
        body.customer,
        body.amount_usd,
        reason=body.reason,
        expires_at=body.expires_at,
        granted_at=body.granted_at,
    )
    gw.forget(customer=body.customer)  # budgets count what credits do not cover
    return json_response(grant, 201)


@router.get("/allowances")
async def allowances(gw: AdminGateway, plan: str | None = None) -> Response:
    """``GET /admin/allowances``: every allowance, or ``?plan=``'s; 400 for an unknown plan."""
    return json_response(ledger_call(gw, "allowances", plan))


@router.post("/allowances", status_code=201)
async def set_allowance(body: AllowanceIn, gw: AdminGateway) -> Response:
    """``POST /admin/allowances``: set how much of a unit a plan's fee includes; 201 with the row."""
    return json_response(
        ledger_call(gw, "set_allowance", body.plan, body.unit, body.quantity, model=body.model), 201
    )
