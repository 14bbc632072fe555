"""The gateway's state, shared by the routes: settings, registry, ledger, limits, meter and backends.

What a request must pass before any model work is in ``verticals.serving.admission``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.config import Settings
from verticals.ledger.errors import LedgerUnavailable
from verticals.registry import Registry
from verticals.serving.auth import Authenticator
from verticals.serving.backends import ModelBackend
from verticals.serving.limits import InMemoryLimits, Limits
from verticals.serving.metering import LedgerLike, Meter
from verticals.serving.metrics import Metrics
from verticals.ttl_cache import TTLCache

CUSTOMER_CACHE_S = 2.0
# Changes that move what a customer's budget counts (its plan history, credits, invoices): the customer's
# spend is read again, as an admin route does after such a change (``forget``).
_SPEND_TABLES = ("customers", "subscriptions", "credit_grants", "invoices")


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
    # run with the model's name when its backend changed state (a supervisor restart): the alert service
    # checks at once instead of at its next round
    backend_listeners: list[Callable[[str], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.auth = Authenticator(self.ledger)
        self.meter = Meter(self.ledger, self.limits, self.metrics)
        self._customers: TTLCache[str, Any] = TTLCache(CUSTOMER_CACHE_S)
        self._credits: TTLCache[str, Decimal] = TTLCache(CUSTOMER_CACHE_S)

    def customer(self, name: str) -> Any:
        """The ledger's customer ``name``, read at most once per ``CUSTOMER_CACHE_S`` seconds; while the
        ledger's database is unreachable, the last one read (LedgerUnavailable when there is none)."""
        return self._customers.get(
            name, lambda: self.ledger.get_customer(name), stale_on=(LedgerUnavailable,)
        )

    def credit(self, name: str, at: datetime) -> Decimal:
        """Customer ``name``'s credit balance (Decimal USD) at ``at``, read at most once per
        ``CUSTOMER_CACHE_S`` seconds (an admin change reads it again at once, see ``forget``). While the
        ledger's database is unreachable: the last balance read, else 0, so that a budget holds with
        credits left out rather than stopping every request of the customer."""
        try:
            return self._credits.get(
                name, lambda: Decimal(self.ledger.credit_balance(name, at)), stale_on=(LedgerUnavailable,)
            )
        except LedgerUnavailable:
            return Decimal(0)

    def backend_changed(self, model: str) -> None:
        """Tell ``backend_listeners`` that ``model``'s backend went down or came back; on the event loop."""
        for listener in self.backend_listeners:
            listener(model)

    def forget(self, customer: str | None = None) -> None:
        """Drop cached customers and prices after an admin change; ``customer``'s spend is read
        again at its next request. Open reservations and rate windows are kept: a budget or limit
        that held before the change holds after it."""
        self._customers.clear()
        self._credits.clear()
        self.meter.forget_prices()
        if customer is not None:
            self.limits.forget(customer)

    def follow_ledger_changes(self, loop: asyncio.AbstractEventLoop) -> None:
        """On a shared (PostgreSQL) ledger, apply every change another writer makes - a replica, the CLI,
        psql - within about a second: ``ledger_changed`` runs on ``loop`` (the caches are the event
        loop's). A ledger without ``on_change`` (a stand-in) has nothing to follow."""
        on_change = getattr(self.ledger, "on_change", None)
        if on_change is None:
            return

        def hand_over(change: Any) -> None:  # in the ledger's listener thread
            with contextlib.suppress(RuntimeError):  # the loop closed: the gateway is gone
                loop.call_soon_threadsafe(self.ledger_changed, change)

        on_change(hand_over)

    def ledger_changed(self, change: Any) -> None:
        """The ledger's control data changed (a ``verticals.ledger.changes.Change``): drop the cached
        customers, credits and prices (keys are the ledger's own cache, already read again), and have each
        customer whose plan, credits or invoices changed read its spend again."""
        self._customers.clear()
        self._credits.clear()
        self.meter.forget_prices()
        if change.touches(*_SPEND_TABLES):
            for customer in sorted(change.customers):
                self.limits.forget(customer)
