"""Metering: every request becomes exactly one ledger event, with its revenue and compute cost.

Revenue is billable units times the price in force for the customer's plan (the ledger's price
book) when the request started, falling back to the model's list price; it never exceeds what
the request reserved at admission (a backend that answers past ``max_tokens`` is logged and
counted in ``verticals_backend_overrun_units``, not billed). Compute cost is the request's measured
compute seconds times the device class's hourly rate from the cost book. Both lookups are cached
for a few seconds, and never past the next effective date the book knows of: a price change
applies to every request that starts at or after its instant.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from verticals.ledger.events import UsageEvent
from verticals.models import ModelSpec, Unit
from verticals.serving.limits import Limits, Reservation, TokenHold
from verticals.serving.metrics import Metrics
from verticals.ttl_cache import TTLCache

log = logging.getLogger("verticals.serving")
CACHE_S = 5.0
MICRO = Decimal("0.000000001")
UNKNOWN = "-"


class LedgerLike(Protocol):
    """The part of ``verticals.ledger.Ledger`` the gateway uses."""

    def find_key(self, plaintext: str) -> Any:
        """The stored key matching a plaintext API key, or None."""
        ...

    def get_customer(self, name: str) -> Any:
        """The customer ``name``; raises LedgerError when there is none."""
        ...

    def price_span(self, customer: str, model: str, plugin: str, task: str, unit: str, at: datetime) -> Any:
        """A ``verticals.ledger.books.Span``: the price (or None), and ``since``/``until`` it holds."""

    def cost_span(self, device_class: str, at: datetime) -> Any:
        """A ``verticals.ledger.books.Span``: the USD/hour rate (or None), and ``since``/``until``."""

    def month_spend(self, customer: str, at: datetime) -> Decimal:
        """The customer's revenue (Decimal USD) in the UTC month containing ``at``."""
        ...

    def credit_balance(self, customer: str, at: datetime) -> Decimal:
        """The customer's unused, unexpired credit grants at ``at`` (Decimal USD)."""
        ...

    def record(self, event: Any) -> None:
        """Record one usage event (it reaches DuckDB at the next commit of the spool writer)."""
        ...

    def flush(self) -> None:
        """Return once every event recorded so far is committed."""
        ...


@dataclass
class Principal:
    """Who a request is for: the customer and the display prefix of the key it came with, and that key's
    limits in requests per minute (``rpm``) and tokens per minute (``tpm``), None for none.
    """

    customer: str
    key_prefix: str
    rpm: int | None
    tpm: int | None


@dataclass(frozen=True)
class HeldEvent:
    """What a route metered before its response started, waiting for the status that goes out."""

    status: int
    units_in: float
    units_out: float
    compute_seconds: float
    bill: bool
    revenue: Decimal
    cost: Decimal


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
    price: Decimal = Decimal(0)  # per unit, in force at ``ts``: fixed at admission, used for billing
    reservation: Reservation | None = None
    tokens: TokenHold | None = None  # the worst-case tokens held against the key's tokens per minute
    worst_units: float | None = None  # the billable units reserved at admission: the most billed
    queue_ms: float = 0.0
    ttft_ms: float | None = None
    # seconds spent waiting on a vLLM server; the rest of a proxied request's latency is the gateway's
    upstream_s: float | None = None
    recorded: bool = False
    cost_usd: Decimal = Decimal(0)
    # Called by the middleware when a response ends without its event (a stream never started).
    abandon: Callable[[], Awaitable[None]] | None = None
    # Set by the middleware until the response starts: an event metered meanwhile is held and
    # recorded by ``Meter.sent`` with the status that actually goes out.
    unsent: bool = False
    held: HeldEvent | None = None


# A random per-process prefix and a counter: unique across processes and restarts without a
# getrandom() system call per request (measured at 0.4 ms each on this VM under load).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    """A unique request id, ``req_`` + a 16-hex random per-process prefix + a 16-hex counter (37 characters),
    made without a system call per request.
    """
    return f"req_{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def billable(spec: ModelSpec, units_in: float, units_out: float) -> float:
    """Token models bill prompt and completion tokens; other units bill what was sent in."""
    return units_in + units_out if spec.unit is Unit.TOKENS else units_in


class Meter:
    """Prices and meters requests: the price and cost-rate lookups (cached ``CACHE_S`` seconds, never past the
    book's next effective date), budget and rate reservations through ``limits``, and one ledger event per
    request; ``in_flight`` counts requests whose event is not recorded yet.
    """

    def __init__(self, ledger: LedgerLike, limits: Limits, metrics: Metrics) -> None:
        self.ledger = ledger
        self.limits = limits
        self.metrics = metrics
        # ledger ``Span``s: each also expires at the next effective date its book knows of
        self._prices: TTLCache[tuple[str, str], Any] = TTLCache(CACHE_S)
        self._rates: TTLCache[str, Any] = TTLCache(CACHE_S)
        self._warned: set[str] = set()
        #: requests whose model is known and whose event is not recorded yet
        self.in_flight = 0

    def price(self, customer: str, spec: ModelSpec, at: datetime) -> Decimal:
        """The price per unit in force for the customer at ``at`` (the request's start)."""
        span = self._prices.get(
            (customer, spec.name),
            lambda: self.ledger.price_span(
                customer, spec.name, spec.plugin, str(spec.task), str(spec.unit), at
            ),
            lambda cached: bool(cached.covers(at)),
        )
        found = span.value
        return Decimal(found) if found is not None else spec.price_per_unit_usd

    def rate(self, device_class: str) -> Decimal:
        """The cost rate (Decimal USD per device-hour) in force now for ``device_class``; 0 when the cost book
        has none, logged once per device class with the command that adds one.
        """
        at = datetime.now(UTC)
        span = self._rates.get(
            device_class,
            lambda: self.ledger.cost_span(device_class, at),
            lambda cached: bool(cached.covers(at)),
        )
        found = span.value
        if found is None:
            if device_class not in self._warned:
                self._warned.add(device_class)
                log.warning(
                    "compute cost counted as 0: no cost rate for device class %r; add one with "
                    "`verticals costs set %s USD_PER_HOUR`",
                    device_class,
                    device_class,
                )
            return Decimal(0)
        return Decimal(found)

    def start(self, ctx: RequestContext, spec: ModelSpec) -> None:
        """The request is for ``spec``: counted in flight until its event is recorded."""
        ctx.spec = spec
        self.in_flight += 1
        self.metrics.child(self.metrics.in_flight, spec.name).inc()

    def forget_prices(self) -> None:
        """Drop the cached prices and cost rates, so the next request reads the books again (after an admin
        change).
        """
        self._prices.clear()
        self._rates.clear()

    async def finish(
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
        for the tokens it received. Before the response has started (``ctx.unsent``) the event is
        held and ``sent`` records it with the status that goes out, so the ledger never records a
        status, or bills an answer, that the client did not get.
        """
        if ctx.recorded or ctx.held is not None:
            return ctx.cost_usd
        spec = ctx.spec
        revenue = Decimal(0)
        cost = Decimal(0)
        bill = status < 400 if bill is None else bill
        if spec is not None and bill:
            revenue = (
                ctx.price * Decimal(repr(self._billed_units(ctx, spec, units_in, units_out)))
            ).quantize(MICRO)
            if ctx.reservation is not None:
                # the reservation is rounded up at admission, so this only trims rounding
                revenue = min(revenue, ctx.reservation.amount.quantize(MICRO, rounding=ROUND_DOWN))
        if spec is not None and compute_seconds > 0:
            cost = (self.rate(ctx.device_class) * Decimal(repr(compute_seconds)) / 3600).quantize(MICRO)
        ctx.cost_usd = revenue
        held = HeldEvent(status, units_in, units_out, compute_seconds, bill, revenue, cost)
        if ctx.unsent:
            ctx.held = held
        else:
            await self._close(ctx, held)
        return revenue

    async def sent(self, ctx: RequestContext, status: int) -> None:
        """The response goes out with ``status``: the middleware calls this before its first byte.

        A held event is recorded with this status. If the route metered another (its answer, then
        building the response failed), the failure is what is recorded: not billed, its reservation
        released. A refusal no route metered (bad JSON, an unknown route) is recorded here; a
        response that starts without an event (a stream) is metered when it ends.
        """
        ctx.unsent = False
        held, ctx.held = ctx.held, None
        if ctx.recorded:
            return
        if held is None:
            if status >= 400:
                await self.finish(ctx, status)
            return
        if held.status != status:
            held = dataclasses.replace(held, status=status, bill=False, revenue=Decimal(0))
        await self._close(ctx, held)

    async def _close(self, ctx: RequestContext, held: HeldEvent) -> None:
        """The event's effects, once: settle or release what admission held, record it, count it."""
        status, units_in, units_out = held.status, held.units_in, held.units_out
        compute_seconds, bill, revenue, cost = held.compute_seconds, held.bill, held.revenue, held.cost
        spec = ctx.spec
        ctx.recorded = True
        if spec is not None:
            self.in_flight -= 1
            self.metrics.child(self.metrics.in_flight, spec.name).dec()
        latency_ms = ((ctx.finished or time.perf_counter()) - ctx.started) * 1000.0
        model = spec.name if spec is not None else ""
        if ctx.reservation is not None:
            if bill:
                await self.limits.settle(ctx.reservation, revenue)
            else:
                await self.limits.release(ctx.reservation)
        if ctx.tokens is not None:
            if bill and spec is not None and spec.unit is Unit.TOKENS:
                await self.limits.settle_tokens(ctx.tokens, units_in + units_out)
            else:
                await self.limits.release_tokens(ctx.tokens)
        ctx.cost_usd = revenue
        self._record(ctx, status, latency_ms, units_in, units_out, compute_seconds, revenue, cost)
        self._observe(ctx, model, status, latency_ms, units_in, units_out, compute_seconds, revenue, cost)

    def _billed_units(self, ctx: RequestContext, spec: ModelSpec, units_in: float, units_out: float) -> float:
        """The billable units, at most those reserved at admission: the customer is never billed
        past its worst case, whatever a backend answers; the excess is a backend fault."""
        units = billable(spec, units_in, units_out)
        worst = ctx.worst_units
        if worst is None or units <= worst:
            return units
        log.warning(
            "the backend of %s answered %s units where the request allowed at most %s (it did not "
            "honour max_tokens); billed %s, the excess is counted in verticals_backend_overrun_units",
            spec.name,
            units,
            worst,
            worst,
            extra={"request_id": ctx.request_id},
        )
        self.metrics.child(self.metrics.overrun, spec.name).inc(units - worst)
        return worst

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
