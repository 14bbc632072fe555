"""The admin API under ``/admin/``: customers, plans, keys, price and cost books, plugins, usage,
analytics. Only the admin token opens it; a customer key gets 403.

The gateway owns the ledger (DuckDB allows one writing process), so while it runs the CLI's ledger
commands come through here (``verticals.client``).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from verticals.serving.auth import check_admin
from verticals.serving.errors import APIError
from verticals.serving.gateway import Gateway


def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


async def require_admin(request: Request) -> Gateway:
    """FastAPI dependency: the app's Gateway, once the request's bearer token is the admin token; raises
    APIError 401 when it is missing or wrong, 403 when it is a customer key (``vk_...``).
    """
    gw = _gateway(request)
    check_admin(request.headers.get("authorization"), gw.admin_token)
    return gw


AdminGateway = Annotated[Gateway, Depends(require_admin)]
router = APIRouter(prefix="/admin", tags=["Admin"], dependencies=[Depends(require_admin)])


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(_plain(value), default=str), status_code=status, media_type="application/json")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):  # a pandas DataFrame
        return _plain(to_dict(orient="records"))
    return value


def _ledger_call(gw: Gateway, method: str, *args: Any, **kwargs: Any) -> Any:
    from verticals.ledger import LedgerError

    try:
        return getattr(gw.ledger, method)(*args, **kwargs)
    except LedgerError as error:
        raise APIError(400, str(error), code="ledger_error") from None
    finally:
        gw.forget()


class CustomerIn(BaseModel):
    """Body of ``POST /admin/customers``: a name and plan (1-200 characters each) and an optional monthly
    budget in USD (Decimal, 0 or more, at most 18 digits).
    """

    name: str = Field(min_length=1, max_length=200)
    plan: str = Field(min_length=1, max_length=200)
    budget_usd: Decimal | None = Field(None, ge=0, max_digits=18)


class CustomerPatch(BaseModel):
    """Body of ``PATCH /admin/customers/{name}``: the fields to change (None keeps one); ``budget_usd`` in
    USD, ``clear_budget`` removes the budget, ``status`` is active or suspended.
    """

    plan: str | None = None
    budget_usd: Decimal | None = Field(None, ge=0, max_digits=18)
    clear_budget: bool = False
    status: str | None = None


class PlanIn(BaseModel):
    """Body of ``POST /admin/plans``: a name (1-200 characters), ``monthly_fee_usd`` (Decimal USD, 0 or more),
    ``included_units`` (0 or more) and a description.
    """

    name: str = Field(min_length=1, max_length=200)
    monthly_fee_usd: Decimal = Field(Decimal(0), ge=0, max_digits=18)
    included_units: float = Field(0, ge=0)
    description: str = ""


class KeyIn(BaseModel):
    """Body of ``POST /admin/keys``: the customer, and optional limits ``rpm`` (requests per minute) and
    ``tpm`` (tokens per minute), each 1 or more.
    """

    customer: str = Field(min_length=1, max_length=200)
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)


class PriceIn(BaseModel):
    """Body of ``POST /admin/prices``: ``price_per_unit_usd`` (Decimal USD per ``unit``, 0 or more) for
    ``plan``, optionally narrowed to a model or plugin/task, from ``effective_from`` (None: now) on.
    """

    plan: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    price_per_unit_usd: Decimal = Field(ge=0, max_digits=24)
    model: str | None = None
    plugin: str | None = None
    task: str | None = None
    effective_from: datetime | None = None
    note: str = ""


class CostIn(BaseModel):
    """Body of ``POST /admin/costs``: ``usd_per_hour`` (Decimal USD per device-hour, 0 or more) for
    ``device_class`` from ``effective_from`` (None: now) on.
    """

    device_class: str = Field(min_length=1)
    usd_per_hour: Decimal = Field(ge=0, max_digits=18)
    effective_from: datetime | None = None
    note: str = ""


@router.get("/customers")
async def customers(gw: AdminGateway) -> Response:
    """``GET /admin/customers``: every customer as a JSON list (budgets in USD as numbers). Admin token only
    (401 without or with a wrong one, 403 for a customer key).
    """
    return _json(_ledger_call(gw, "list_customers"))


@router.post("/customers", status_code=201)
async def create_customer(body: CustomerIn, gw: AdminGateway) -> Response:
    """``POST /admin/customers``: create a customer; 201 with it. Admin token only (401 without or with a
    wrong one, 403 for a customer key). A ledger refusal is a 400 ``ledger_error`` naming the problem; a
    malformed body a 400.
    """
    return _json(_ledger_call(gw, "create_customer", body.name, body.plan, body.budget_usd), 201)


@router.patch("/customers/{name}")
async def update_customer(name: str, body: CustomerPatch, gw: AdminGateway) -> Response:
    """``PATCH /admin/customers/{name}``: change a customer's plan, budget or status; its spend is read again
    at its next request, while its requests in flight keep their reservations. Admin token only (401
    without or with a wrong one, 403 for a customer key). A ledger refusal is a 400 ``ledger_error`` naming
    the problem; a malformed body a 400.
    """
    customer = _ledger_call(
        gw,
        "update_customer",
        name,
        plan=body.plan,
        budget_usd=body.budget_usd,
        clear_budget=body.clear_budget,
        status=body.status,
    )
    gw.forget(customer=name)  # its spend is read again; its requests in flight keep their reservations
    return _json(customer)


@router.get("/plans")
async def plans(gw: AdminGateway) -> Response:
    """``GET /admin/plans``: every plan as a JSON list (fees in USD). Admin token only (401 without or with a
    wrong one, 403 for a customer key).
    """
    return _json(_ledger_call(gw, "list_plans"))


@router.post("/plans", status_code=201)
async def create_plan(body: PlanIn, gw: AdminGateway) -> Response:
    """``POST /admin/plans``: create a plan; 201 with it. Admin token only (401 without or with a wrong one,
    403 for a customer key). A ledger refusal is a 400 ``ledger_error`` naming the problem; a malformed
    body a 400.
    """
    return _json(
        _ledger_call(
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
    return _json(_ledger_call(gw, "list_keys", customer))


@router.post("/keys", status_code=201)
async def create_key(body: KeyIn, gw: AdminGateway) -> Response:
    """``POST /admin/keys``: create a key; 201 with ``{key, prefix, customer, rpm, tpm}``. ``key`` is the
    plaintext, shown this once and never stored. Admin token only (401 without or with a wrong one, 403 for
    a customer key). A ledger refusal is a 400 ``ledger_error`` naming the problem; a malformed body a 400.
    """
    plaintext, key = _ledger_call(gw, "create_key", body.customer, body.rpm, body.tpm)
    return _json(
        {"key": plaintext, "prefix": key.prefix, "customer": key.customer, "rpm": key.rpm, "tpm": key.tpm},
        201,
    )


@router.post("/keys/{prefix}/revoke")
async def revoke_key(prefix: str, gw: AdminGateway) -> Response:
    """``POST /admin/keys/{prefix}/revoke``: revoke the key with that display prefix; answers ``{prefix,
    revoked: true}``. Admin token only (401 without or with a wrong one, 403 for a customer key). A ledger
    refusal is a 400 ``ledger_error`` naming the problem; a malformed body a 400.
    """
    _ledger_call(gw, "revoke_key", prefix)
    return _json({"prefix": prefix, "revoked": True})


@router.get("/prices")
async def prices(gw: AdminGateway, plan: str | None = None) -> Response:
    """``GET /admin/prices``: the price book, or ``?plan=``'s rows only (USD per unit). Admin token only (401
    without or with a wrong one, 403 for a customer key). A ledger refusal is a 400 ``ledger_error`` naming
    the problem; a malformed body a 400.
    """
    return _json(_ledger_call(gw, "list_prices", plan))


@router.post("/prices", status_code=201)
async def set_price(body: PriceIn, gw: AdminGateway) -> Response:
    """``POST /admin/prices``: append a price-book row (never an edit; a date in the past is refused); 201
    with the row. Admin token only (401 without or with a wrong one, 403 for a customer key). A ledger
    refusal is a 400 ``ledger_error`` naming the problem; a malformed body a 400.
    """
    row = _ledger_call(
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
    )
    return _json(row, 201)


@router.get("/costs")
async def costs(gw: AdminGateway) -> Response:
    """``GET /admin/costs``: the cost book (USD per device-hour, by device class and effective date). Admin
    token only (401 without or with a wrong one, 403 for a customer key).
    """
    return _json(_ledger_call(gw, "list_costs"))


@router.post("/costs", status_code=201)
async def set_cost(body: CostIn, gw: AdminGateway) -> Response:
    """``POST /admin/costs``: append a cost-book row (USD per device-hour; a date in the past is refused); 201
    with the row. Admin token only (401 without or with a wrong one, 403 for a customer key). A ledger
    refusal is a 400 ``ledger_error`` naming the problem; a malformed body a 400.
    """
    row = _ledger_call(
        gw,
        "set_cost",
        body.device_class,
        body.usd_per_hour,
        effective_from=body.effective_from,
        note=body.note,
    )
    return _json(row, 201)


@router.get("/plugins")
async def plugins(gw: AdminGateway) -> Response:
    """Every plugin, loaded or failed, and what it registered: the rows of `verticals plugins list`."""
    return _json(gw.registry.plugin_rows())


@router.get("/models")
async def models(gw: AdminGateway) -> Response:
    """``GET /admin/models``: each served model's name, backend, readiness and device class, by name. Admin
    token only (401 without or with a wrong one, 403 for a customer key).
    """
    return _json(
        [
            {"name": name, "backend": str(b.spec.backend), "ready": b.ready, "device_class": b.device_class}
            for name, b in sorted(gw.backends.items())
        ]
    )


@router.post("/flush")
async def flush(gw: AdminGateway) -> Response:
    """Wait until every recorded event is in DuckDB, so reads see them."""
    gw.ledger.flush()
    return _json({"flushed": True})


def _analytics() -> dict[str, Any]:
    try:
        from verticals.ledger import analytics
    except ImportError:
        return {}
    names = getattr(analytics, "__all__", [n for n in dir(analytics) if not n.startswith("_")])
    return {n: getattr(analytics, n) for n in names if inspect.isfunction(getattr(analytics, n, None))}


@router.get("/analytics")
async def analytics_list(gw: AdminGateway) -> Response:
    """``GET /admin/analytics``: each ledger analytics function's name, docstring and parameters (those ``GET
    /admin/analytics/{name}`` takes as query parameters). Admin token only (401 without or with a wrong
    one, 403 for a customer key).
    """
    return _json(
        [
            {
                "name": name,
                "doc": inspect.getdoc(fn) or "",
                "parameters": [p for p in inspect.signature(fn).parameters if p != "conn"],
            }
            for name, fn in sorted(_analytics().items())
        ]
    )


@router.get("/analytics/{name}")
async def analytics_call(name: str, request: Request, gw: AdminGateway) -> Response:
    """Run one ledger analytics function; query parameters become its keyword arguments (JSON-decoded
    when they parse, e.g. ``?k=3``)."""
    functions = _analytics()
    fn = functions.get(name)
    if fn is None:
        raise APIError(
            404,
            f"no analytics function {name!r}; known: {', '.join(sorted(functions)) or 'none'}",
            code="not_found",
        )
    kwargs = _arguments(fn, dict(request.query_params))
    return _json(_run(gw, name, fn, kwargs))


@router.get("/usage")
async def usage(
    gw: AdminGateway,
    by: str = "customer",
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    model: str | None = None,
    plugin: str | None = None,
) -> Response:
    """Usage, revenue, cost and margin grouped ``by`` (comma-separated: hour|day|week|month and any of
    customer, plugin, model, device_class, endpoint, unit); the ledger's ``usage_summary``."""
    from verticals.ledger.analytics import usage_summary

    kwargs = {
        "by": [part.strip() for part in by.split(",") if part.strip()],
        "since": since,
        "until": until,
        "customer": customer,
        "model": model,
        "plugin": plugin,
    }
    return _json(_run(gw, "usage_summary", usage_summary, kwargs))


def _arguments(fn: Any, query: dict[str, str]) -> dict[str, Any]:
    """Query strings to keyword arguments: times parsed, comma lists split, JSON values decoded."""
    params = inspect.signature(fn).parameters
    kwargs: dict[str, Any] = {}
    for key, raw in query.items():
        annotation = str(params[key].annotation) if key in params else ""
        if "datetime" in annotation:
            try:
                kwargs[key] = datetime.fromisoformat(raw)
            except ValueError:
                raise APIError(
                    400, f"{key}={raw!r} is not a date or time; use ISO 8601, e.g. 2026-11-01", param=key
                ) from None
        elif annotation.startswith("Sequence[str]") and not raw.startswith("["):
            kwargs[key] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            try:
                kwargs[key] = json.loads(raw)
            except json.JSONDecodeError:
                kwargs[key] = raw
    return kwargs


def _run(gw: Gateway, name: str, fn: Any, kwargs: dict[str, Any]) -> Any:
    from verticals.ledger import LedgerError

    gw.ledger.flush()  # so the figures include every request answered so far
    conn = getattr(gw.ledger, "connection", None)
    try:
        return fn(conn.cursor() if conn is not None else gw.ledger, **kwargs)
    except TypeError as error:
        raise APIError(
            400, f"{name}: {error}; see GET /admin/analytics for its parameters", code="bad_parameters"
        ) from None
    except (LedgerError, ValueError) as error:
        raise APIError(400, f"{name}: {error}", code="bad_parameters") from None
