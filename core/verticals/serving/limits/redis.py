"""Rate limits and budget reservations in Redis, shared by every gateway replica.

``RedisLimits`` keeps ``InMemoryLimits``' counters (sliding one-minute windows per key, spend plus
open reservations per customer-month) in Redis, each check-and-reserve and each close one Lua script
(``verticals.serving.limits.scripts``), so N replicas hold one limit, not N times it (litellm #2730).
The script calls of all requests in flight are auto-pipelined (``pipelining``): those made in one
event-loop iteration share one write and one read.

- Money is integer nano-USD: the ledger keeps 9 decimal places, so the customer-month counter
  equals the ledger's sum of the settled events (litellm #30460 is counters drifting from the
  ledger). Reservations round up, settlements down, and a settlement counts at most its reservation.
- Settling or releasing is idempotent per request id: a retry, or a settle that was queued while
  Redis was unreachable, does nothing the second time.
- A replica that dies leaves its reservations and token holds behind; each one lapses
  ``RESERVATION_DEADLINE_S`` after it was made and frees its share (a settle that still comes
  afterwards counts its spend, once).
- Redis restarted empty: the spend counter is missing, the script says so, and this client reads the
  month's spend from the ledger (``month_spend``) and seeds it (the highest figure of the replicas that
  race to do so wins), then reserves again. After an admin change (``forget``) the counter is raised to
  the ledger's figure where that is higher, never lowered.
- Redis unreachable (refused, timed out): ``admit`` and ``reserve`` raise ``LimitsUnavailable``, which
  the gateway answers with a 503; they never fall back to per-replica counters (litellm #35533).
  ``fail_open`` (``redis_fail_open``) admits them unlimited instead, with a warning at most once a
  minute. Closes that fail are queued and retried once Redis answers again.

Requests with no rpm, tpm or budget make no Redis call, as in process nothing could refuse them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from verticals.serving.limits import scripts
from verticals.serving.limits.base import (
    WINDOW_S,
    LimitsUnavailable,
    Reservation,
    TokenHold,
    over_budget,
    over_rpm,
    over_tpm,
    too_large,
)
from verticals.serving.limits.pipelining import AutoPipeline, Script

log = logging.getLogger("verticals.serving")

#: Seconds after which a reservation or token hold nobody closed lapses (its replica died). Longer than
#: any request can run: the vLLM proxy's total timeout is 600 s and a draining gateway waits 30 s more.
RESERVATION_DEADLINE_S = 900.0
#: Seconds a customer-month's budget keys live after their last use: past the month's end, so the
#: month's counter never lapses while the month runs.
BUDGET_TTL_S = 62 * 86_400
#: Seconds a key's rate window lives after its last use: the window plus the longest hold.
WINDOW_TTL_S = int(WINDOW_S + RESERVATION_DEADLINE_S + 60)
#: Seconds one Redis command may take (connect or answer) before the request gets its 503.
TIMEOUT_S = 1.0
#: The fewest seconds between two warnings about the same kind of Redis failure.
WARN_EVERY_S = 60.0
#: Closes kept for a retry while Redis is unreachable; older ones lapse at their deadline instead.
PENDING_MAX = 100_000
NANO = Decimal(10**9)
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)


def to_nano(usd: Decimal, rounding: str) -> int:
    """``usd`` in integer nano-USD, rounded with ``rounding`` (ROUND_CEILING for what is held, ROUND_FLOOR
    for what is counted or allowed)."""
    return int((usd * NANO).to_integral_value(rounding=rounding))


def from_nano(value: Any) -> Decimal:
    """Redis's nano-USD (bytes or int) as Decimal USD."""
    return Decimal(int(value)) / NANO


class RedisLimits:
    """The ``Limits`` of every replica that shares the Redis at ``url`` (``redis://`` or ``rediss://``).

    ``fail_open``: admit limited requests unlimited while Redis is unreachable (else ``LimitsUnavailable``).
    ``clock`` (seconds) replaces Redis's ``TIME`` in the scripts and ``month`` ("YYYY-MM") the current
    UTC month, for tests; ``prefix`` starts every key.
    """

    def __init__(
        self,
        url: str,
        *,
        fail_open: bool = False,
        clock: Callable[[], float] | None = None,
        month: Callable[[], str] = lambda: time.strftime("%Y-%m", time.gmtime()),
        deadline_s: float = RESERVATION_DEADLINE_S,
        prefix: str = "verticals",
    ) -> None:
        parts = urlsplit(url)
        self.where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
        self.fail_open = fail_open
        self._clock = clock
        self._month = month
        self._deadline = str(deadline_s)
        self._prefix = prefix
        # One retry without backoff: it reconnects a pooled connection Redis dropped (a restart),
        # while a Redis that is down still gets its 503 at once, not after seconds of backoff.
        self.redis = aioredis.Redis.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S, retry=Retry(NoBackoff(), 1)
        )
        # Every script call of one event-loop iteration, of all requests in flight, goes out in one
        # pipeline: a round trip each cost this process more CPU than anything else a request does.
        self.pipeline = AutoPipeline(self.redis)
        self._admit = self._script(scripts.ADMIT)
        self._settle_tokens = self._script(scripts.SETTLE_TOKENS)
        self._usage = self._script(scripts.USAGE)
        self._reserve = self._script(scripts.RESERVE)
        self._settle = self._script(scripts.SETTLE)
        self._seed = self._script(scripts.SEED)
        self._pending: deque[Callable[[], Awaitable[Any]]] = deque(maxlen=PENDING_MAX)
        self._retrying: asyncio.Task[None] | None = None
        self._warned: dict[str, float] = {}
        self._stale: set[str] = set()

    def _script(self, text: str) -> Callable[[list[str], list[str]], Awaitable[Any]]:
        """``text`` as a callable ``(keys, args) -> its answer``, run through the auto-pipeline."""
        script = Script(text)
        return lambda keys, args: self.pipeline.run(script, keys, args)

    @property
    def waiting(self) -> int:
        """How many closes (settles, releases) wait for Redis to answer again."""
        return len(self._pending)

    # -- keys ---------------------------------------------------------------------------------------

    def window_keys(self, key: str) -> list[str]:
        """The rate window's keys of API key ``key`` (see ``scripts``)."""
        base = f"{self._prefix}:{{k:{key}}}"
        return [f"{base}:rq", f"{base}:tk", f"{base}:w", f"{base}:hd"]

    def budget_keys(self, customer: str, month: str) -> list[str]:
        """The budget keys of ``customer`` in ``month`` (see ``scripts``); the first is the spend counter."""
        base = f"{self._prefix}:{{b:{customer}:{month}}}"
        return [f"{base}:spent", f"{base}:reserved", f"{base}:res", f"{base}:dl", f"{base}:expired"]

    def _now(self) -> str:
        return "" if self._clock is None else f"{self._clock():.6f}"

    # -- rate limits --------------------------------------------------------------------------------

    async def admit(
        self, key: str, rpm: int | None, tpm: int | None, tokens: float = 0.0, request_id: str = ""
    ) -> TokenHold:
        """Count one request against ``key``'s sliding minute and hold ``tokens`` (its worst case, rounded
        up to whole tokens) of its ``tpm``, atomically; refusals as ``InMemoryLimits.admit``. No limits:
        no Redis call. Raises LimitsUnavailable when Redis cannot be reached (unless ``fail_open``).
        """
        rid = request_id or uuid.uuid4().hex
        whole = math.ceil(max(0.0, tokens))
        if rpm is None and tpm is None:
            return TokenHold(key, float(whole), request_id=rid, tracked=False)
        args = [rid, _opt(rpm), _opt(tpm), str(whole), self._now(), str(WINDOW_S), self._deadline]
        found = await self._call("admit", self._admit, self.window_keys(key), [*args, str(WINDOW_TTL_S)])
        if found is None:  # unreachable, fail_open
            return TokenHold(key, float(whole), request_id=rid, tracked=False)
        outcome = int(found[0])
        if outcome == 0:
            assert rpm is not None
            raise over_rpm(rpm, float(found[1]))
        if outcome == 2:
            assert tpm is not None
            raise too_large(whole, tpm)
        if outcome == 3:
            assert tpm is not None
            raise over_tpm(tpm, int(found[2]), int(found[3]), whole, float(found[1]))
        return TokenHold(key, float(whole), request_id=rid)

    async def settle_tokens(self, hold: TokenHold, actual: float) -> None:
        """Close the hold and count ``actual`` tokens (rounded up, at most the hold) in its window."""
        await self._close_tokens(hold, str(math.ceil(max(0.0, actual))))

    async def release_tokens(self, hold: TokenHold) -> None:
        """Close the hold without counting any tokens (the request failed)."""
        await self._close_tokens(hold, "")

    async def usage(self, key: str) -> tuple[float, float]:
        """(tokens used in the last minute, tokens held by requests in flight) for ``key``."""
        found = await self._usage(self.window_keys(key), [self._now(), str(WINDOW_S)])
        return float(found[0]), float(found[1])

    async def _close_tokens(self, hold: TokenHold, actual: str) -> None:
        if not hold.open:
            return
        hold.open = False
        if hold.tracked:
            keys, args = self.window_keys(hold.key), [hold.request_id, actual, self._now()]
            await self._close("settle_tokens", lambda: self._settle_tokens(keys, args))

    # -- budgets ------------------------------------------------------------------------------------

    async def reserve(
        self,
        customer: str,
        budget: Decimal | None,
        amount: Decimal,
        month_spend: Callable[[], Decimal],
        month: str | None = None,
        credit: Decimal = Decimal(0),
        request_id: str = "",
    ) -> Reservation:
        """Reserve ``amount`` (USD, held rounded up to nano-USD) of ``customer``'s ``budget`` plus ``credit``
        for ``month`` (default this UTC month), atomically against every replica's spend and reservations;
        raises OverBudget as ``InMemoryLimits.reserve``. No budget: no Redis call. A missing spend counter
        is seeded from ``month_spend`` (the ledger) first. Raises LimitsUnavailable when Redis cannot be
        reached (unless ``fail_open``).
        """
        rid = request_id or uuid.uuid4().hex
        month = month or self._month()
        if budget is None:
            return Reservation(customer, amount, month, request_id=rid, tracked=False)
        keys = self.budget_keys(customer, month)
        if customer in self._stale:  # an admin change: the ledger may know of spend Redis does not
            if await self._raise_spend(keys[0], month_spend) is None:
                return Reservation(customer, amount, month, request_id=rid, tracked=False)
            self._stale.discard(customer)
        held = to_nano(amount, ROUND_CEILING)
        limit = to_nano(budget + credit, ROUND_FLOOR)
        args = [rid, str(held), str(limit), self._now(), self._deadline, str(BUDGET_TTL_S)]
        for _ in range(3):  # seeded by another replica between two tries at most twice
            found = await self._call("reserve", self._reserve, keys, args)
            if found is None:
                return Reservation(customer, amount, month, request_id=rid, tracked=False)
            if int(found[0]) != -1:
                break
            # Redis has no spend for this month (it restarted empty): the ledger's figure, or
            # another replica's if it seeded a higher one meanwhile.
            await self._raise_spend(keys[0], month_spend)
        else:
            raise LimitsUnavailable(
                f"the spend counter of customer {customer!r} in Redis at {self.where} vanished three times "
                "while it was seeded from the ledger (is something flushing Redis?); retry the request"
            )
        if int(found[0]) == 0:
            spent, reserved = from_nano(found[1]), from_nano(found[2])
            raise over_budget(customer, budget, credit, spent, reserved, amount)
        return Reservation(customer, amount, month, request_id=rid)

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        """Close the reservation and add ``actual`` (USD, rounded down to nano-USD, at most the reservation)
        to its month's spend; a closed reservation, or a second close of the same request id, is ignored.
        """
        await self._close_reservation(reservation, str(max(0, to_nano(actual, ROUND_FLOOR))))

    async def release(self, reservation: Reservation) -> None:
        """Close the reservation without spending anything (the request failed)."""
        await self._close_reservation(reservation, "")

    async def account(self, customer: str, month: str | None = None) -> tuple[Decimal, Decimal] | None:
        """(spent in ``month``, reserved by requests in flight) as Redis counts them, or None when the
        month's spend is not seeded."""
        keys = self.budget_keys(customer, month or self._month())
        spent, reserved = await self.redis.mget(keys[0], keys[1])
        if spent is None:
            return None
        return from_nano(spent), from_nano(reserved or 0)

    def forget(self, customer: str) -> None:
        """The customer changed: its next budgeted reservation on this replica reads the month's spend from
        the ledger again and raises Redis's counter to it if the ledger has more (spend served while it
        had no budget, which no counter saw); open reservations stay. Every replica hears the change and
        calls this itself. Never lowered: the ledger lags Redis by the events still in the replicas'
        spools, so taking a lower figure would forget real spend.
        """
        self._stale.add(customer)

    async def _raise_spend(self, key: str, month_spend: Callable[[], Decimal]) -> Any:
        """Set the spend counter ``key`` to the ledger's figure (``month_spend``, read on the event loop as
        ``InMemoryLimits`` does) where it is missing or lower; None when Redis is unreachable and
        ``fail_open``."""
        seed = to_nano(Decimal(month_spend()), ROUND_CEILING)
        return await self._call("reserve", self._seed, [key], [str(seed), str(BUDGET_TTL_S)])

    async def _close_reservation(self, reservation: Reservation, actual: str) -> None:
        if not reservation.open:
            return
        reservation.open = False
        if reservation.tracked:
            keys = self.budget_keys(reservation.customer, reservation.month)
            args = [reservation.request_id, actual, self._now()]
            await self._close("settle", lambda: self._settle(keys, args))

    # -- Redis calls and their failures ---------------------------------------------------------------

    async def _call(self, what: str, command: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> Any:
        """``command(*args, **kw)``; None when Redis is unreachable and ``fail_open`` (warned), else
        LimitsUnavailable naming the server and the fix."""
        try:
            found = await command(*args, **kw)
        except (*UNAVAILABLE, RedisError) as error:
            # Anything else Redis answers (out of memory, read-only replica) refuses the same way.
            message = self.unreachable(error) if isinstance(error, UNAVAILABLE) else self.refused(error)
            if not self.fail_open:
                raise LimitsUnavailable(message) from None
            self._warn(
                "fail_open",
                "%s; redis_fail_open is set, so requests are admitted WITHOUT rate limits or budgets (%s)",
                message,
                what,
            )
            return None
        if self._pending and self._retrying is None:
            self._retrying = asyncio.get_running_loop().create_task(self._retry_pending())
        return found

    async def _close(self, what: str, command: Callable[[], Awaitable[Any]]) -> None:
        """Run a close; when Redis is unreachable keep it for a retry (closes are idempotent), since the
        response is already decided."""
        try:
            await command()
        except UNAVAILABLE as error:
            self._pending.append(command)
            self._warn(
                "close", "%s; %d closes wait for it (%s)", self.unreachable(error), len(self._pending), what
            )
        except RedisError as error:  # not retried: it would fail the same way; the deadline frees it
            self._warn("close", "%s (%s)", self.refused(error), what)

    async def _retry_pending(self) -> None:
        try:
            while self._pending:
                command = self._pending[0]
                try:
                    await command()
                except UNAVAILABLE:
                    return  # still down: the next successful call retries again
                self._pending.popleft()
        finally:
            self._retrying = None

    def unreachable(self, error: BaseException) -> str:
        """The sentence a 503 carries: which Redis, why, and what to do."""
        return (
            f"the rate limits and budgets in Redis at {self.where} are unreachable ({type(error).__name__}: "
            f"{error}); start Redis or fix VERTICALS_REDIS_URL, or set VERTICALS_REDIS_FAIL_OPEN=true to "
            "serve without limits while it is down"
        )

    def refused(self, error: BaseException) -> str:
        """The sentence a 503 carries when Redis answers with an error instead of running the script."""
        return (
            f"the rate limits and budgets in Redis at {self.where} failed ({type(error).__name__}: {error}); "
            "check the Redis server's log and memory, or set VERTICALS_REDIS_FAIL_OPEN=true to serve "
            "without limits meanwhile"
        )

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._warned.get(kind, -math.inf) >= WARN_EVERY_S:
            self._warned[kind] = now
            log.warning(message, *args)

    async def close(self) -> None:
        """Finish queued closes if Redis answers, then close the connections."""
        if self._retrying is not None:
            await self._retrying
        if self._pending:
            await self._retry_pending()
        await self.pipeline.drain()
        await self.redis.aclose()


def _opt(limit: int | None) -> str:
    return "" if limit is None else str(limit)
