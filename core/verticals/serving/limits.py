"""Per-key rate limits and per-customer budget reservations, in process.

``Limits`` is the interface the gateway calls; ``InMemoryLimits`` keeps the counters in this
process. Replicated gateways need shared counters: a Redis implementation of the same four methods
(an atomic Lua script per call) replaces this class without touching the routes.

Budgets are enforced by reservation: at admission the worst-case cost of the request is reserved
against what is left of the customer's monthly budget; on completion the reservation is replaced by
the actual cost (``settle``), on failure it is dropped (``release``). Because check and reserve are
one step (no await in between on the event loop), concurrent requests cannot overshoot: the budget
minus spend minus open reservations is all that can be admitted.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

WINDOW_S = 60.0


class RateLimited(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OverBudget(Exception):
    pass


@dataclass
class Reservation:
    customer: str
    amount: Decimal
    month: str
    open: bool = True


class Limits(Protocol):
    def admit(self, key: str, rpm: int | None, tpm: int | None) -> None:
        """Count one request against ``key``; raise ``RateLimited`` when over rpm or tpm."""

    def add_tokens(self, key: str, tokens: float) -> None:
        """Count tokens used by a finished request against the key's tokens-per-minute."""

    def reserve(
        self, customer: str, budget: Decimal | None, amount: Decimal, month_spend: Callable[[], Decimal]
    ) -> Reservation:
        """Reserve ``amount`` of the customer's monthly budget; raise ``OverBudget`` when it does not fit."""

    def settle(self, reservation: Reservation, actual: Decimal) -> None: ...

    def release(self, reservation: Reservation) -> None: ...


@dataclass
class _Window:
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, float]] = field(default_factory=deque)
    token_sum: float = 0.0


@dataclass
class _Account:
    month: str
    spent: Decimal
    reserved: Decimal = Decimal(0)


class InMemoryLimits:
    """Sliding one-minute windows per key, and spend plus open reservations per customer."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        month: Callable[[], str] = lambda: time.strftime("%Y-%m", time.gmtime()),
    ) -> None:
        self._clock = clock
        self._month = month
        self._windows: dict[str, _Window] = {}
        self._accounts: dict[str, _Account] = {}

    def admit(self, key: str, rpm: int | None, tpm: int | None) -> None:
        now = self._clock()
        window = self._windows.setdefault(key, _Window())
        self._expire(window, now)
        if rpm is not None and len(window.requests) >= rpm:
            wait = window.requests[0] + WINDOW_S - now
            raise RateLimited(
                f"this key allows {rpm} requests per minute and has used them; retry in "
                f"{math.ceil(wait)} s or ask for a higher limit",
                max(1, math.ceil(wait)),
            )
        if tpm is not None and window.token_sum >= tpm:
            wait = window.tokens[0][0] + WINDOW_S - now if window.tokens else WINDOW_S
            raise RateLimited(
                f"this key allows {tpm} tokens per minute and has used {int(window.token_sum)}; retry in "
                f"{math.ceil(wait)} s or ask for a higher limit",
                max(1, math.ceil(wait)),
            )
        window.requests.append(now)

    def add_tokens(self, key: str, tokens: float) -> None:
        if tokens <= 0:
            return
        window = self._windows.setdefault(key, _Window())
        window.tokens.append((self._clock(), tokens))
        window.token_sum += tokens

    def reserve(
        self, customer: str, budget: Decimal | None, amount: Decimal, month_spend: Callable[[], Decimal]
    ) -> Reservation:
        month = self._month()
        account = self._accounts.get(customer)
        if account is None or account.month != month:
            # The ledger's figure is read once per month; from then on this process adds what it settles.
            account = _Account(month, month_spend())
            self._accounts[customer] = account
        if budget is not None and account.spent + account.reserved + amount > budget:
            left = max(Decimal(0), budget - account.spent - account.reserved)
            raise OverBudget(
                f"customer {customer!r} has ${left:.6f} of its ${budget} monthly budget left (spent "
                f"${account.spent:.6f}, ${account.reserved:.6f} reserved by requests in flight) and this "
                f"request may cost up to ${amount:.6f}; lower max_tokens, or raise the budget with "
                f"`verticals customers set NAME --budget USD`"
            )
        account.reserved += amount
        return Reservation(customer, amount, month)

    def settle(self, reservation: Reservation, actual: Decimal) -> None:
        account = self._close(reservation)
        if account is not None:
            account.spent += actual

    def release(self, reservation: Reservation) -> None:
        self._close(reservation)

    def forget(self, customer: str) -> None:
        """Drop a customer's cached spend, e.g. after its budget or history changed."""
        self._accounts.pop(customer, None)

    def _close(self, reservation: Reservation) -> _Account | None:
        if not reservation.open:
            return None
        reservation.open = False
        account = self._accounts.get(reservation.customer)
        if account is None or account.month != reservation.month:
            return None
        account.reserved -= reservation.amount
        return account

    @staticmethod
    def _expire(window: _Window, now: float) -> None:
        horizon = now - WINDOW_S
        while window.requests and window.requests[0] <= horizon:
            window.requests.popleft()
        while window.tokens and window.tokens[0][0] <= horizon:
            window.token_sum -= window.tokens.popleft()[1]
