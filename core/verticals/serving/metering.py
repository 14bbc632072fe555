"""Metering: every request becomes exactly one ledger event, with its revenue and compute cost.

Revenue is billable units times the price in force for the customer's plan (the ledger's price
book), falling back to the model's list price. Compute cost is the request's measured compute
seconds times the device class's hourly rate from the cost book. Both lookups are cached for a few
seconds, because the price books are effective-dated (a change takes effect from a time, so a short
cache never rewrites history) and a DuckDB query per request would cap throughput.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from verticals.models import ModelSpec, Unit
from verticals.serving.limits import Limits, Reservation
from verticals.serving.metrics import Metrics

log = logging.getLogger("verticals.serving")
CACHE_S = 5.0
MICRO = Decimal("0.000000001")
UNKNOWN = "-"


class LedgerLike(Protocol):
    """The part of ``verticals.ledger.Ledger`` the gateway uses."""

    def find_key(self, plaintext: str) -> Any: ...
    def get_customer(self, name: str) -> Any: ...
    def price_per_unit(
        self, customer: str, model: str, plugin: str, task: str, unit: str, at: datetime
    ) -> Decimal | None: ...
    def cost_rate(self, device_class: str, at: datetime) -> Decimal: ...
    def month_spend(self, customer: str, at: datetime) -> Decimal: ...
    def record(self, event: Any) -> None: ...
    def flush(self) -> None: ...


@dataclass
class Principal:
    customer: str
    key_prefix: str
    rpm: int | None
    tpm: int | None


@dataclass
class RequestContext:
    """One request's metering state, from admission to its single ledger event."""

    request_id: str
    endpoint: str
    started: float = field(default_factory=time.perf_counter)
    # when the last byte went out, for responses metered after it (streams); else metering time
    finished: float | None = None
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    principal: Principal | None = None
    spec: ModelSpec | None = None
    model_version: str = ""  # the version the backend serves, once the backend is known
    device_class: str = "cpu"
    price: Decimal = Decimal(0)
    reservation: Reservation | None = None
    queue_ms: float = 0.0
    ttft_ms: float | None = None
    # seconds spent waiting on a vLLM server; the rest of a proxied request's latency is the gateway's
    upstream_s: float | None = None
    recorded: bool = False
    cost_usd: Decimal = Decimal(0)
    # Called by the middleware when a response ends without its event (a stream never started).
    abandon: Callable[[], Awaitable[None]] | None = None


# A random per-process prefix and a counter: unique across processes and restarts without a
# getrandom() system call per request (measured at 0.4 ms each on this VM under load).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"req_{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def billable(spec: ModelSpec, units_in: float, units_out: float) -> float:
    """Token models bill prompt and completion tokens; other units bill what was sent in."""
    return units_in + units_out if spec.unit is Unit.TOKENS else units_in


class Meter:
    def __init__(self, ledger: LedgerLike, limits: Limits, metrics: Metrics) -> None:
        self.ledger = ledger
        self.limits = limits
        self.metrics = metrics
        self._prices: dict[tuple[str, str], tuple[float, Decimal]] = {}
        self._rates: dict[str, tuple[float, Decimal]] = {}
        self._warned: set[str] = set()
        #: requests whose model is known and whose event is not recorded yet
        self.in_flight = 0

    def price(self, customer: str, spec: ModelSpec) -> Decimal:
        key = (customer, spec.name)
        now = time.monotonic()
        cached = self._prices.get(key)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        found = self.ledger.price_per_unit(
            customer, spec.name, spec.plugin, str(spec.task), str(spec.unit), datetime.now(UTC)
        )
        value = Decimal(found) if found is not None else spec.price_per_unit_usd
        self._prices[key] = (now, value)
        return value

    def rate(self, device_class: str) -> Decimal:
        now = time.monotonic()
        cached = self._rates.get(device_class)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        try:
            value = Decimal(self.ledger.cost_rate(device_class, datetime.now(UTC)))
        except ValueError as error:  # LedgerError: no rate for this device class in the cost book
            if device_class not in self._warned:
                self._warned.add(device_class)
                log.warning("compute cost counted as 0: %s", error)
            value = Decimal(0)
        self._rates[device_class] = (now, value)
        return value

    def start(self, ctx: RequestContext, spec: ModelSpec) -> None:
        """The request is for ``spec``: counted in flight until its event is recorded."""
        ctx.spec = spec
        self.in_flight += 1
        self.metrics.child(self.metrics.in_flight, spec.name).inc()

    def forget_prices(self) -> None:
        self._prices.clear()
        self._rates.clear()

    def finish(
        self,
        ctx: RequestContext,
        status: int,
        *,
        units_in: float = 0.0,
        units_out: float = 0.0,
        compute_seconds: float = 0.0,
        bill: bool | None = None,
    ) -> Decimal:
        """Record the request's one event, settle its reservation and count it; returns its cost.

        ``bill`` defaults to "succeeded" (status below 400); a stream the client abandoned is billed
        for the tokens it received.
        """
        if ctx.recorded:
            return ctx.cost_usd
        spec = ctx.spec
        ctx.recorded = True
        if spec is not None:
            self.in_flight -= 1
            self.metrics.child(self.metrics.in_flight, spec.name).dec()
        latency_ms = ((ctx.finished or time.perf_counter()) - ctx.started) * 1000.0
        model = spec.name if spec is not None else ""
        revenue = Decimal(0)
        cost = Decimal(0)
        bill = status < 400 if bill is None else bill
        if spec is not None and bill:
            revenue = (ctx.price * Decimal(repr(billable(spec, units_in, units_out)))).quantize(MICRO)
        if spec is not None and compute_seconds > 0:
            cost = (self.rate(ctx.device_class) * Decimal(repr(compute_seconds)) / 3600).quantize(MICRO)
        if ctx.reservation is not None:
            if bill:
                self.limits.settle(ctx.reservation, revenue)
            else:
                self.limits.release(ctx.reservation)
        if ctx.principal is not None and bill and spec is not None and spec.unit is Unit.TOKENS:
            self.limits.add_tokens(ctx.principal.key_prefix, units_in + units_out)
        ctx.cost_usd = revenue
        self._record(ctx, status, latency_ms, units_in, units_out, compute_seconds, revenue, cost)
        self._observe(ctx, model, status, latency_ms, units_in, units_out, compute_seconds, revenue, cost)
        return revenue

    def _record(
        self,
        ctx: RequestContext,
        status: int,
        latency_ms: float,
        units_in: float,
        units_out: float,
        compute_seconds: float,
        revenue: Decimal,
        cost: Decimal,
    ) -> None:
        from verticals.ledger import UsageEvent

        spec = ctx.spec
        principal = ctx.principal
        # model_construct skips validation (a third of the gateway's metering time): every value
        # is built here with the right type, money already quantized to the ledger's 9 places, ts UTC.
        event = UsageEvent.model_construct(
            request_id=ctx.request_id,
            ts=ctx.ts,
            # Requests refused before the caller or the model is known still get their one event.
            customer=principal.customer if principal else UNKNOWN,
            key_prefix=principal.key_prefix if principal else None,
            plugin=spec.plugin if spec else UNKNOWN,
            model=spec.name if spec else UNKNOWN,
            model_version=ctx.model_version or (spec.version if spec else ""),
            endpoint=ctx.endpoint,
            status=status,
            latency_ms=latency_ms,
            queue_ms=ctx.queue_ms,
            ttft_ms=ctx.ttft_ms,
            units_in=units_in,
            units_out=units_out,
            unit=str(spec.unit) if spec else "",
            compute_seconds=compute_seconds,
            device_class=ctx.device_class,
            revenue_usd=revenue,
            cost_usd=cost,
        )
        try:
            self.ledger.record(event)
        except Exception:
            # The response is already decided; losing the event is logged loudly, never hidden.
            log.exception("could not record ledger event", extra={"request_id": ctx.request_id})

    def _observe(
        self,
        ctx: RequestContext,
        model: str,
        status: int,
        latency_ms: float,
        units_in: float,
        units_out: float,
        compute_seconds: float,
        revenue: Decimal,
        cost: Decimal,
    ) -> None:
        m = self.metrics
        m.child(m.requests, model, ctx.endpoint, str(status)).inc()
        m.child(m.latency, model, ctx.endpoint).observe(latency_ms / 1000.0)
        if ctx.spec is None:
            return
        unit = str(ctx.spec.unit)
        if units_in:
            m.child(m.units, model, unit, "in").inc(units_in)
        if units_out:
            m.child(m.units, model, unit, "out").inc(units_out)
        if revenue:
            m.child(m.revenue, model).inc(float(revenue))
        if cost:
            m.child(m.cost, model).inc(float(cost))
        if compute_seconds:
            m.child(m.compute, model).inc(compute_seconds)
        if ctx.queue_ms:
            m.child(m.queue, model).observe(ctx.queue_ms / 1000.0)
        if ctx.ttft_ms is not None:
            m.child(m.ttft, model).observe(ctx.ttft_ms / 1000.0)
        if ctx.upstream_s is not None:
            m.child(m.overhead, model).observe(max(0.0, latency_ms / 1000.0 - ctx.upstream_s))
