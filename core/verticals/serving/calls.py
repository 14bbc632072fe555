"""A model call as a backend sees it (``Call``), and what a backend answers (``Answer``).

A route resolves the model, then hands the request to its backend with a ``Call``; the backend
works out the request's worst case, has admission hold it (``Call.admit``), runs the model and
returns an ``Answer``. ``Answer.respond`` meters it and builds the response: ``Finished`` for an
answer complete before its response starts (metered at once, priced in ``x-verticals-cost-usd``),
``verticals.serving.backends.vllm.relay.Relayed`` for a stream metered when it ends.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from starlette.responses import Response

from verticals.serving.metering import Meter, RequestContext

#: The response header carrying a request's price in USD, set once its cost is known (``Finished``).
COST_HEADER = "x-verticals-cost-usd"

#: Builds a finished answer's response from its price (USD) and the headers it must carry.
Render = Callable[[Decimal, dict[str, str]], Response]


@dataclass
class Call:
    """One request on its way to a model: its metering context (``ctx``), the meter that records its one
    usage event, and admission's hold step.

    ``await admit(units)`` holds ``units`` billable units (the request's worst case, from the backend's
    ``worst_case``) against the key's tokens per minute and the customer's monthly budget; it raises APIError
    429 over a rate limit, 402 over budget and 503 when shared limits are unreachable, before any model
    work.
    """

    ctx: RequestContext
    meter: Meter
    admit: Callable[[float], Awaitable[None]]


class Answer(ABC):
    """What a backend returns for a call: it meters itself and becomes the HTTP response."""

    @abstractmethod
    async def respond(self, call: Call) -> Response:
        """Meter the answer on ``call`` (now, or when a stream ends) and return its response."""


@dataclass
class Finished(Answer):
    """An answer complete before its response starts: ``units_in`` and ``units_out`` in the model's unit,
    ``compute_seconds`` of device time, ``queue_seconds`` waited in a batcher (None: no batcher), and
    ``render``, which builds the body once the price is known. ``stream``: the body is an in-process
    SSE stream, whose first token goes out as soon as it is metered.
    """

    units_in: float
    render: Render
    units_out: float = 0.0
    compute_seconds: float = 0.0
    queue_seconds: float | None = None
    stream: bool = False

    async def respond(self, call: Call) -> Response:
        """Record the event (``Meter.finish``, status 200) and render the response with its price in
        ``x-verticals-cost-usd``: the one place that header is set.
        """
        ctx = call.ctx
        if self.queue_seconds is not None:
            ctx.queue_ms = self.queue_seconds * 1000
        if self.stream:
            ctx.ttft_ms = (time.perf_counter() - ctx.started) * 1000
        cost = await call.meter.finish(
            ctx, 200, units_in=self.units_in, units_out=self.units_out, compute_seconds=self.compute_seconds
        )
        return self.render(cost, {COST_HEADER: f"{cost:f}"})
