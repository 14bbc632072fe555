"""The gateway's alert loop: every ``interval_s`` seconds (or at once when poked) it runs each condition,
claims the alerts whose events are new in the ledger, and delivers them.

It is one asyncio task beside the routes and never on a request's path: conditions and ledger writes
run in worker threads, the webhook call is an async HTTP call with a timeout, and any failure is logged
and left for the next round. At start it first delivers the alerts a previous run claimed but did not
finish (the gateway stopped mid-send): an alert may be sent twice then, but never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from verticals.alerts.conditions import (
    BackendsDown,
    BudgetThresholds,
    Condition,
    CostAnomalies,
    FailingEvaluations,
)
from verticals.alerts.sender import DEAD_LETTER_FILE, RecordOnly, Sender, Webhook
from verticals.ledger.alerts import AlertRow

log = logging.getLogger("verticals.alerts")

T = TypeVar("T")


class AlertService:
    """Runs ``conditions`` against ``ledger`` every ``interval_s`` seconds and delivers new alerts through
    ``sender``. ``rounds`` counts finished rounds (a test waits on it rather than on time); ``loop`` is the
    event loop the service runs on, once started.
    """

    def __init__(
        self, ledger: Any, conditions: Sequence[Condition], sender: Sender, interval_s: float
    ) -> None:
        self.ledger = ledger
        self.conditions = list(conditions)
        self.sender = sender
        self.interval_s = interval_s
        self.rounds = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._work: asyncio.Future[Any] | None = None

    def start(self) -> None:
        """Start the loop as a task of the running event loop."""
        self.loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="verticals-alerts")

    def poke(self) -> None:
        """Run a round now (an event such as a backend restart), from the event loop's thread."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop; an alert being sent stays pending in the ledger and is sent at the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._work is not None and not self._work.done():
            # a thread cannot be cancelled: let it finish with the ledger before the gateway closes it
            await asyncio.wait({self._work})
        await self.sender.close()

    async def _run(self) -> None:
        try:
            for alert in await self._in_thread(self.ledger.pending_alerts):
                await self._deliver(alert)
        except Exception:
            log.exception("alerts: resending the alerts left pending failed")
        while True:
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()

    async def run_once(self) -> list[AlertRow]:
        """One round: check every condition, claim and deliver the new alerts; returns those."""
        now = datetime.now(UTC)
        fresh: list[AlertRow] = []
        for condition in self.conditions:
            try:
                found = (
                    await self._in_thread(condition.check, now)
                    if condition.reads_ledger
                    else condition.check(now)
                )
                fresh += [a for a in found if await self._in_thread(self.ledger.claim_alert, a)]
            except Exception:
                log.exception("alerts: checking %s failed; trying again next round", condition.kind)
        for alert in fresh:
            await self._deliver(alert)
        self.rounds += 1
        return fresh

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker thread; ``stop`` waits for it even when the round is cancelled."""
        work = asyncio.ensure_future(asyncio.to_thread(function, *args))
        self._work = work
        return await asyncio.shield(work)

    async def _deliver(self, alert: AlertRow) -> None:
        delivery = await self.sender.deliver(alert)
        try:
            await self._in_thread(
                self.ledger.finish_alert, alert.key, delivery.status, delivery.attempts, delivery.error
            )
        except Exception:
            log.exception("alerts: recording the delivery of %s failed", alert.key)


def start_alerts(gateway: Any) -> AlertService | None:
    """Build and start the gateway's alert service from ``settings.alerts``, on the running event loop;
    None when alerts are disabled or the gateway's ledger cannot keep them (a stand-in without
    ``claim_alert``).
    """
    settings = gateway.settings.alerts
    if not settings.enabled or not hasattr(gateway.ledger, "claim_alert"):
        return None
    ledger = gateway.ledger
    conditions: list[Condition] = [
        BudgetThresholds(ledger, settings.budget_thresholds),
        CostAnomalies(ledger, settings),
        FailingEvaluations(ledger),
        BackendsDown(gateway),
    ]
    sender: Sender = (
        Webhook(settings, gateway.settings.home / "logs" / DEAD_LETTER_FILE)
        if settings.webhook_url
        else RecordOnly()
    )
    service = AlertService(ledger, conditions, sender, settings.interval_s)
    service.start()
    gateway.backend_listeners.append(lambda model: service.poke())
    return service
