"""The admin API under ``/admin/``: customers, plans, keys, price and cost books, plugins, models (the
analytics and usage routes are in ``analytics``). Only the admin token opens it; a customer key gets 403.

The gateway owns the ledger (DuckDB allows one writing process), so while it runs the CLI's ledger
commands come through here (``verticals.client``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from verticals.billing.model import Tier
from verticals.ledger.errors import LedgerError
from verticals.ledger.price_targets import check_price_target
from verticals.serving.admin import analytics, billing_data, invoices
from verticals.serving.admin.access import AdminGateway, json_response, ledger_call, require_admin
from verticals.serving.admin.audit import audit_trail, note
from verticals.serving.admin.protocol import (
    CostIn,
    CustomerIn,
    CustomerPatch,
    EvaluationIn,
    KeyIn,
    PlanIn,
    PriceIn,
)
from verticals.serving.errors import APIError

# audit_trail after require_admin: a call without the admin token is refused before anything is recorded
router = APIRouter(
    prefix="/admin",
    tags=["Admin"],
    dependencies=[Depends(require_admin), Depends(audit_trail, scope="function")],
)


@router.get("/customers")
async def customers(gw: AdminGateway) -> Response:
    """``GET /admin/customers``: every customer as a JSON list (budgets in USD as numbers). Admin token only
    (401 without or with a wrong one, 403 for a customer key).
    """
    return json_response(ledger_call(gw, "list_customers"))


@router.post("/customers", status_code=201)
async def create_customer(body: CustomerIn, gw: AdminGateway) -> Response:
    """``POST /admin/customers``: create a customer; 201 with it. Admin token only (401 without or with a
    wrong one, 403 for a customer key). A ledger refusal is a 400 ``ledger_error`` naming the problem; a
    malformed body a 400.
    """
    return json_response(ledger_call(gw, "create_customer", body.name, body.plan, body.budget_usd), 201)


@router.patch("/customers/{name}")
async def update_customer(name: str, body: CustomerPatch, gw: AdminGateway) -> Response:
    """``PATCH /admin/customers/{name}``: change a customer's plan, budget or status; its spend is read again
    at its next request, while its requests in flight keep their reservations. Admin token only (401
    without or with a wrong one, 403 for a customer key). A ledger refusal is a 400 ``ledger_error`` naming
    the problem; a malformed body a 400.
    """
    customer = ledger_call(
        gw,
        "update_customer",
        name,
        plan=body.plan,
        budget_usd=body.budget_usd,
        clear_budget=body.clear_budget,
        status=body.status,
    )
    gw.forget(customer=name)  # its spend is read again; its requests in flight keep their reservations
    return json_response(customer)


@router.get("/plans")
async def plans(gw: AdminGateway) -> Response:
    """``GET /admin/plans``: every plan as a JSON list (fees in USD). Admin token only (401 without or with a
    wrong one, 403 for a customer key).
    """
    return json_response(ledger_call(gw, "list_plans"))


@router.post("/plans", status_code=201)
async def create_plan(body: PlanIn, gw: AdminGateway) -> Response:
    """``POST /admin/plans``: create a plan; 201 with it. Admin token only (401 without or with a wrong one,
    403 for a customer key). A ledger refusal is a 400 ``ledger_error`` naming the problem; a malformed
    body a 400.
    """
    return json_response(
        ledger_call(
            gw, "create_plan", body.name, body.monthly_fee_usd, body.included_units, body.description
        ),
        201,
    )


@router.get("/keys")
async def keys(gw: AdminGateway, customer: str | None = None) -> Response:
    """``GET /admin/keys``: every API key (prefix, customer, limits, revoked_at; never the key), or
    ``?customer=``'s only. Admin token only (401 without or with a wrong one, 403 for a customer key). A
    ledger refusal is a 400 ``ledger_error`` naming the problem; a malformed body a 400.
    """
    return json_response(ledger_call(gw, "list_keys", customer))


@router.post("/keys", status_code=201)
async def create_key(body: KeyIn, request: Request, gw: AdminGateway) -> Response:
    """``POST /admin/keys``: create a key; 201 with ``{key, prefix, customer, rpm, tpm}``. ``key`` is the
    plaintext, shown this once and never stored. Admin token only (401 without or with a wrong one, 403 for
    a customer key). A ledger refusal is a 400 ``ledger_error`` naming the problem; a malformed body a 400.
    """
    plaintext, key = ledger_call(gw, "create_key", body.customer, body.rpm, body.tpm)
    note(request, prefix=key.prefix)  # the audit log names the key by its prefix, never the key
    return json_response(
        {"key": plaintext, "prefix": key.prefix, "customer": key.customer, "rpm": key.rpm, "tpm": key.tpm},
        201,
    )


@router.post("/keys/{prefix}/revoke")
async def revoke_key(prefix: str, gw: AdminGateway) -> Response:
    """``POST /admin/keys/{prefix}/revoke``: revoke the key with that display prefix; answers ``{prefix,
    revoked: true}``. Admin token only (401 without or with a wrong one, 403 for a customer key). A ledger
    refusal is a 400 ``ledger_error`` naming the problem; a malformed body a 400.
    """
    ledger_call(gw, "revoke_key", prefix)
    return json_response({"prefix": prefix, "revoked": True})


@router.get("/prices")
async def prices(gw: AdminGateway, plan: str | None = None) -> Response:
    """``GET /admin/prices``: the price book, or ``?plan=``'s rows only (USD per unit). Admin token only (401
    without or with a wrong one, 403 for a customer key). A ledger refusal is a 400 ``ledger_error`` naming
    the problem; a malformed body a 400.
    """
    return json_response(ledger_call(gw, "list_prices", plan))


@router.post("/prices", status_code=201)
async def set_price(body: PriceIn, gw: AdminGateway) -> Response:
    """``POST /admin/prices``: append a price-book row (never an edit; a date in the past is refused); 201
    with the row. Admin token only (401 without or with a wrong one, 403 for a customer key). A ledger
    refusal is a 400 ``ledger_error`` naming the problem; a malformed body a 400. Unless ``force``, a model
    (or plugin/task) no loaded plugin registers, or a unit it is not metered in, is a 400 saying which
    names come closest.
    """
    if not body.force:
        specs = [registered.item for registered in gw.registry.models.values()]
        try:
            check_price_target(specs, body.unit, body.model, body.plugin, body.task)
        except LedgerError as error:
            raise APIError(400, str(error), code="ledger_error") from None
    row = ledger_call(
        gw,
        "set_price",
        body.plan,
        body.unit,
        body.price_per_unit_usd,
        model=body.model,
        plugin=body.plugin,
        task=body.task,
        effective_from=body.effective_from,
        note=body.note,
        charge_model=body.charge_model,
        package_size=body.package_size,
        tiers=None if body.tiers is None else [Tier(t.up_to, t.unit_price, t.flat_fee) for t in body.tiers],
    )
    return json_response(row, 201)


@router.get("/costs")
async def costs(gw: AdminGateway) -> Response:
    """``GET /admin/costs``: the cost book (USD per device-hour, by device class and effective date). Admin
    token only (401 without or with a wrong one, 403 for a customer key).
    """
    return json_response(ledger_call(gw, "list_costs"))


@router.post("/costs", status_code=201)
async def set_cost(body: CostIn, gw: AdminGateway) -> Response:
    """``POST /admin/costs``: append a cost-book row (USD per device-hour; a date in the past is refused); 201
    with the row. Admin token only (401 without or with a wrong one, 403 for a customer key). A ledger
    refusal is a 400 ``ledger_error`` naming the problem; a malformed body a 400.
    """
    row = ledger_call(
        gw,
        "set_cost",
        body.device_class,
        body.usd_per_hour,
        effective_from=body.effective_from,
        note=body.note,
    )
    return json_response(row, 201)


@router.post("/evaluations", status_code=201)
async def record_evaluation(body: EvaluationIn, gw: AdminGateway) -> Response:
    """``POST /admin/evaluations``: store one evaluation run, as `verticals eval` does while the gateway
    holds the ledger; 201 with ``{"run_id"}``. Admin token only (401 without or with a wrong one, 403 for a
    customer key). A ledger refusal is a 400 ``ledger_error``; a malformed body a 400.
    """
    run_id = ledger_call(
        gw,
        "record_evaluation",
        body.model,
        body.version,
        body.suite,
        body.metrics,
        body.thresholds,
        body.passed,
    )
    return json_response({"run_id": run_id}, 201)


@router.get("/plugins")
async def plugins(gw: AdminGateway) -> Response:
    """Every plugin, loaded or failed, and what it registered: the rows of `verticals plugins list`."""
    return json_response(gw.registry.plugin_rows())


@router.get("/models")
async def models(gw: AdminGateway) -> Response:
    """``GET /admin/models``: each served model's name, backend, readiness and device class, by name. Admin
    token only (401 without or with a wrong one, 403 for a customer key).
    """
    return json_response(
        [
            {"name": name, "backend": str(b.spec.backend), "ready": b.ready, "device_class": b.device_class}
            for name, b in sorted(gw.backends.items())
        ]
    )


@router.post("/flush")
async def flush(gw: AdminGateway) -> Response:
    """Wait until every recorded event is in DuckDB, so reads see them."""
    gw.ledger.flush()
    return json_response({"flushed": True})


router.include_router(analytics.router)
router.include_router(billing_data.router)
router.include_router(invoices.router)
