"""The gateway's state and its admission step: who calls, which model, within which limits.

``Gateway.admit`` runs before any model work: key, model, backend readiness, rate limits with a
hold of the request's worst-case tokens, then a budget reservation of its worst-case cost at the
price in force when it started. Each refusal raises an ``APIError`` that the app turns into an
OpenAI-shaped response and, through the middleware, into one ledger event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from starlette.requests import Request

from verticals.config import Settings
from verticals.models import ModelSpec, Unit
from verticals.registry import Registry
from verticals.serving.auth import Authenticator
from verticals.serving.backends import ModelBackend, Unavailable
from verticals.serving.errors import APIError
from verticals.serving.limits import InMemoryLimits, Limits, OverBudget, RateLimited
from verticals.serving.metering import MICRO, LedgerLike, Meter, Principal, RequestContext
from verticals.serving.metrics import Metrics
from verticals.ttl_cache import TTLCache

CUSTOMER_CACHE_S = 2.0


@dataclass
class ServingOptions:
    """Gateway-wide knobs; per-model ones (max_batch_size, max_wait_ms, url) live in ``[models."x/y"]``."""

    max_body_bytes: int = 25 * 1024 * 1024
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    default_max_tokens: int = 2048
    pull_missing: bool = True
    vllm_port_base: int = 8100
    log_requests: bool = True
    models: tuple[str, ...] | None = None  # serve only these registered models; None: all


@dataclass
class Gateway:
    """The serving state the routes share: settings, the plugin registry, the ledger (or a stand-in), the
    admin token, serving options, rate limits and budgets, metrics, and the started ``backends`` by model
    name.

    ``started_at`` is a Unix time in seconds; ``draining`` turns true at shutdown, when readiness answers 503.
    Builds the authenticator, the meter and a customer cache (``CUSTOMER_CACHE_S`` seconds) after
    construction.
    """

    settings: Settings
    registry: Registry
    ledger: LedgerLike
    admin_token: str
    options: ServingOptions = field(default_factory=ServingOptions)
    limits: Limits = field(default_factory=InMemoryLimits)
    metrics: Metrics = field(default_factory=Metrics)
    backends: dict[str, ModelBackend] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    draining: bool = False

    def __post_init__(self) -> None:
        self.auth = Authenticator(self.ledger)
        self.meter = Meter(self.ledger, self.limits, self.metrics)
        self._customers: TTLCache[str, Any] = TTLCache(CUSTOMER_CACHE_S)

    def customer(self, name: str) -> Any:
        """The ledger's customer ``name``, read at most once per ``CUSTOMER_CACHE_S`` seconds."""
        return self._customers.get(name, lambda: self.ledger.get_customer(name))

    def forget(self, customer: str | None = None) -> None:
        """Drop cached customers and prices after an admin change; ``customer``'s spend is read
        again at its next request. Open reservations and rate windows are kept: a budget or limit
        that held before the change holds after it."""
        self._customers.clear()
        self.meter.forget_prices()
        if customer is not None:
            self.limits.forget(customer)

    def context(self, request: Request) -> RequestContext:
        """The request's metering context, set by the metering middleware; RuntimeError for a request that did
        not pass through it.
        """
        ctx = request.scope.get("state", {}).get("ctx")
        if ctx is None:  # a route called outside the middleware (should not happen)
            raise RuntimeError("request has no metering context")
        assert isinstance(ctx, RequestContext)
        return ctx

    def authenticate(self, request: Request) -> Principal:
        """Check the request's bearer key and record who it is for on its context; raises APIError 401 for a
        missing, foreign, unknown or revoked key, 403 when the key's customer is suspended.
        """
        ctx = self.context(request)
        ctx.principal = self.auth.authenticate(request.headers.get("authorization"))
        customer = self.customer(ctx.principal.customer)
        if getattr(customer, "status", "active") != "active":
            raise APIError(
                403,
                f"customer {customer.name!r} is {customer.status}; ask the operator to reactivate it",
                code="customer_suspended",
            )
        return ctx.principal

    def resolve(
        self,
        request: Request,
        name: str,
        *,
        tasks: tuple[str, ...] | None = None,
        endpoint: str | None = None,
    ) -> tuple[ModelSpec, ModelBackend]:
        """The spec and backend of model ``name`` for this request, after starting its metering; ``tasks``
        (when given) are the tasks ``endpoint`` serves.

        Raises APIError 404 for an unknown model, 400 (``wrong_task``) for a model of another task, 503 with
        ``Retry-After`` when the model is registered but not served here (30 s) or not ready (10 s).
        """
        ctx = self.context(request)
        registered = self.registry.models.get(name)
        if registered is None:
            known = ", ".join(sorted(self.backends)) or "none"
            raise APIError(
                404,
                f"the model {name!r} does not exist; models served here: {known}",
                code="model_not_found",
                param="model",
            )
        spec = registered.item
        self.meter.start(ctx, spec)
        if tasks is not None and str(spec.task) not in tasks:
            raise APIError(
                400,
                f"the model {name!r} does {spec.task}, which {endpoint or 'this endpoint'} does "
                f"not serve; use a {' or '.join(tasks)} model",
                code="wrong_task",
                param="model",
            )
        backend = self.backends.get(name)
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
        return spec, backend

    def admit(self, request: Request, worst_units: float) -> None:
        """Rate limits, then reserve the worst-case cost against the customer's monthly budget.

        ``worst_units`` is the most billable units the request can use (for token models its
        prompt bound plus every choice's ``max_tokens``): its tokens are held against the key's
        tokens per minute and its cost against the budget, and it is never billed more. Both are
        settled to the actual figures, or released, by ``Meter.finish``.
        """
        ctx = self.context(request)
        principal, spec = ctx.principal, ctx.spec
        assert principal is not None and spec is not None
        worst_units = max(0.0, worst_units)
        ctx.worst_units = worst_units
        tokens = worst_units if spec.unit is Unit.TOKENS else 0.0
        try:
            ctx.tokens = self.limits.admit(principal.key_prefix, principal.rpm, principal.tpm, tokens)
        except RateLimited as error:
            wait = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
            raise APIError(429, str(error), code="rate_limit_exceeded", headers=wait) from None
        # The price in force when the request started, fixed for its billing.
        ctx.price = self.meter.price(principal.customer, spec, ctx.ts)
        # Rounded up, so that billing its worst case rounded to the ledger's places stays within it.
        worst = (ctx.price * Decimal(repr(worst_units))).quantize(MICRO, rounding=ROUND_CEILING)
        customer = self.customer(principal.customer)
        try:
            ctx.reservation = self.limits.reserve(
                principal.customer,
                customer.budget_usd,
                worst,
                lambda: Decimal(self.ledger.month_spend(principal.customer, ctx.ts)),
                # the month its event will be dated in, so the ledger's spend and this agree
                f"{ctx.ts:%Y-%m}",
            )
        except OverBudget as error:
            raise APIError(402, str(error), code="budget_exceeded") from None


def unavailable(error: Unavailable) -> APIError:
    """The 503 ``backend_unavailable`` APIError for ``error``, with its ``retry_after`` (seconds) as the
    ``Retry-After`` header.
    """
    return APIError(
        503, str(error), code="backend_unavailable", headers={"Retry-After": str(error.retry_after)}
    )
