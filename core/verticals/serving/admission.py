"""Admission: who calls, which model, within which limits, before any model work.

``authenticate`` checks the key (a route dependency, so a caller without one always gets 401);
``open_call`` resolves the model and its backend and returns the ``Call`` the backend answers on;
``admit`` (``Call.admit``) holds the request's worst case, as its backend computes it, against the
key's rate limits and the customer's budget, at the price in force when the request started. Each
refusal raises an ``APIError`` that the app turns into an OpenAI-shaped response and, through the
middleware, into one ledger event.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from starlette.requests import Request

from verticals.models import Unit
from verticals.serving.backends.base import ModelBackend
from verticals.serving.calls import Call
from verticals.serving.errors import APIError
from verticals.serving.gateway import Gateway
from verticals.serving.limits import LimitsUnavailable, OverBudget, RateLimited
from verticals.serving.metering import MICRO, Principal, RequestContext
from verticals.serving.reload import unknown_model_hint
from verticals.suggest import did_you_mean


def gateway_of(request: Request) -> Gateway:
    """The app's Gateway (``app.state.gateway``)."""
    gw: Gateway = request.app.state.gateway
    return gw


def context_of(request: Request) -> RequestContext:
    """The request's metering context, set by the metering middleware; RuntimeError for a request that did
    not pass through it.
    """
    ctx = request.scope.get("state", {}).get("ctx")
    if ctx is None:  # a route called outside the middleware (should not happen)
        raise RuntimeError("request has no metering context")
    assert isinstance(ctx, RequestContext)
    return ctx


def authenticate(request: Request) -> Principal:
    """Check the request's bearer key and record who it is for on its context; raises APIError 401 for a
    missing, foreign, unknown or revoked key, 403 when the key's customer is suspended.
    """
    gw, ctx = gateway_of(request), context_of(request)
    ctx.principal = gw.auth.authenticate(request.headers.get("authorization"))
    customer = gw.customer(ctx.principal.customer)
    if getattr(customer, "status", "active") != "active":
        raise APIError(
            403,
            f"customer {customer.name!r} is {customer.status}; ask the operator to reactivate it",
            code="customer_suspended",
        )
    return ctx.principal


async def authenticated(request: Request) -> None:
    """The routers' dependency: ``authenticate`` before the body is validated."""
    authenticate(request)


def open_call(
    request: Request, name: str, *, tasks: tuple[str, ...] | None = None, endpoint: str | None = None
) -> tuple[Call, ModelBackend]:
    """The call on model ``name`` for this request, and the backend that answers it, after starting its
    metering; ``tasks`` (when given) are the tasks ``endpoint`` serves.

    Raises APIError 404 for an unknown model, 400 (``wrong_task``) for a model of another task, 503 with
    ``Retry-After`` when the model is registered but not served here (30 s) or not ready (10 s).
    """
    gw, ctx = gateway_of(request), context_of(request)
    registered = gw.registry.models.get(name)
    if registered is None:
        known = ", ".join(sorted(gw.backends)) or "none"
        suggestion = did_you_mean(name, gw.backends)
        raise APIError(
            404,
            f"the model {name!r} does not exist{'; ' + suggestion if suggestion else ''}; models served "
            f"here: {known}{unknown_model_hint(gw, name)}",
            code="model_not_found",
            param="model",
        )
    spec = registered.item
    gw.meter.start(ctx, spec)
    if tasks is not None and str(spec.task) not in tasks:
        raise APIError(
            400,
            f"the model {name!r} does {spec.task}, which {endpoint or 'this endpoint'} does "
            f"not serve; use a {' or '.join(tasks)} model",
            code="wrong_task",
            param="model",
        )
    backend = gw.backends.get(name)
    if backend is None:
        raise APIError(
            503,
            f"the model {name!r} is registered but not served by this gateway (its backend "
            "did not start; see the server log and `verticals models pull`)",
            code="model_not_loaded",
            headers={"Retry-After": "30"},
        )
    ctx.model_version = backend.version
    if not backend.ready:
        raise APIError(
            503,
            f"the model {name!r} is starting or restarting; retry shortly",
            code="backend_unavailable",
            headers={"Retry-After": "10"},
        )
    ctx.device_class = backend.device_class

    async def hold(units: float) -> None:
        await admit(gw, ctx, units)

    return Call(ctx, gw.meter, hold), backend


async def admit(gw: Gateway, ctx: RequestContext, worst_units: float) -> None:
    """Rate limits, then reserve the worst-case cost against the customer's monthly budget.

    ``worst_units`` is the most billable units the request can use (its backend's ``worst_case``): its
    tokens are held against the key's tokens per minute and its cost against the budget, and it is never
    billed more. Both are settled to the actual figures, or released, by ``Meter.finish``. Raises APIError
    429 (with ``Retry-After``) over a rate limit, 402 over budget, 503 ``limits_unavailable`` when the
    shared counters (Redis) cannot be reached to check them.
    """
    principal, spec = ctx.principal, ctx.spec
    assert principal is not None and spec is not None
    worst_units = max(0.0, worst_units)
    ctx.worst_units = worst_units
    tokens = worst_units if spec.unit is Unit.TOKENS else 0.0
    try:
        ctx.tokens = await gw.limits.admit(
            principal.key_prefix, principal.rpm, principal.tpm, tokens, request_id=ctx.request_id
        )
    except RateLimited as error:
        wait = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
        raise APIError(429, str(error), code="rate_limit_exceeded", headers=wait) from None
    except LimitsUnavailable as error:
        raise unavailable(error) from None
    # The price in force when the request started, fixed for its billing.
    ctx.price = gw.meter.price(principal.customer, spec, ctx.ts)
    # Rounded up, so that billing its worst case rounded to the ledger's places stays within it.
    worst = (ctx.price * Decimal(repr(worst_units))).quantize(MICRO, rounding=ROUND_CEILING)
    customer = gw.customer(principal.customer)
    try:
        ctx.reservation = await gw.limits.reserve(
            principal.customer,
            customer.budget_usd,
            worst,
            lambda: Decimal(gw.ledger.month_spend(principal.customer, ctx.ts)),
            # the month its event will be dated in, so the ledger's spend and this agree
            f"{ctx.ts:%Y-%m}",
            # budgets count what credits do not cover
            credit=gw.credit(principal.customer, ctx.ts) if customer.budget_usd is not None else Decimal(0),
            request_id=ctx.request_id,
        )
    except OverBudget as error:
        raise APIError(402, str(error), code="budget_exceeded") from None
    except LimitsUnavailable as error:
        raise unavailable(error) from None


def unavailable(error: LimitsUnavailable) -> APIError:
    """The 503 of a limited request whose limits cannot be checked (Redis unreachable): retry in 5 s."""
    return APIError(503, str(error), code="limits_unavailable", headers={"Retry-After": "5"})
