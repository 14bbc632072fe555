"""Per-key rate limits and per-customer budget reservations, in this process (one gateway machine).

The reservation scheme is in ``verticals.serving.limits.base``; ``RedisLimits`` keeps the same
counters in Redis for replicated gateways. The methods are coroutines for that interface's sake but
never await: check and reserve stay one step on the event loop.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from verticals.serving.limits.base import (
    WINDOW_S,
    Reservation,
    TokenHold,
    over_budget,
    over_rpm,
    over_tpm,
    too_large,
)


@dataclass
class _Window:
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, float]] = field(default_factory=deque)
    token_sum: float = 0.0
    held: float = 0.0  # tokens held by requests in flight


@dataclass
class _Account:
    month: str
    spent: Decimal
    reserved: Decimal = Decimal(0)
    stale: bool = False  # read the spend from the ledger again at the next reservation


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
        self._accounts: dict[str, dict[str, _Account]] = {}  # customer -> month -> account

    async def admit(
        self, key: str, rpm: int | None, tpm: int | None, tokens: float = 0.0, request_id: str = ""
    ) -> TokenHold:
        """Count one request against ``key``'s 60-second sliding window and hold ``tokens`` (its worst case;
        negative counts as 0) of the key's ``tpm``; returns the hold. None limits are not checked.

        Raises RateLimited when the window already has ``rpm`` requests (``retry_after``: seconds until the
        oldest leaves), when ``tokens`` alone exceed ``tpm`` (``retry_after`` None: waiting cannot help), or
        when used plus held plus ``tokens`` exceed ``tpm`` (``retry_after``: at least 1 s).
        """
        now = self._clock()
        window = self._windows.setdefault(key, _Window())
        self._expire(window, now)
        if rpm is not None and len(window.requests) >= rpm:
            raise over_rpm(rpm, window.requests[0] + WINDOW_S - now)
        tokens = max(0.0, tokens)
        if tpm is not None:
            self._check_tokens(window, now, tpm, tokens)
        window.requests.append(now)
        window.held += tokens
        return TokenHold(key, tokens, request_id=request_id)

    async def settle_tokens(self, hold: TokenHold, actual: float) -> None:
        """Close the hold and count ``actual`` tokens in the key's window, clipped to [0, the hold], so a
        backend that overruns cannot push the key past its tpm. A closed hold is ignored.
        """
        window = self._close_hold(hold)
        counted = min(max(0.0, actual), hold.tokens)
        if window is not None and counted > 0:
            window.tokens.append((self._clock(), counted))
            window.token_sum += counted

    async def release_tokens(self, hold: TokenHold) -> None:
        """Close the hold without counting any tokens (the request failed). A closed hold is ignored."""
        self._close_hold(hold)

    def usage(self, key: str) -> tuple[float, float]:
        """(tokens used in the last minute, tokens held by requests in flight) for ``key``."""
        window = self._windows.get(key)
        if window is None:
            return 0.0, 0.0
        self._expire(window, self._clock())
        return window.token_sum, window.held

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
        """Reserve ``amount`` (Decimal USD) of ``customer``'s ``budget`` (None: no budget) for ``month``
        ("YYYY-MM", default the current UTC month) and return the reservation. The budget counts what
        ``credit`` (the customer's credit balance, USD) does not cover: spend up to the credit is free of it.

        The month's spend is read from the ledger with ``month_spend`` once per month (and again after
        ``forget``), then kept up to date here by ``settle``. Raises OverBudget when spend plus open
        reservations plus ``amount`` exceed the budget.
        """
        month = month or self._month()
        months = self._accounts.setdefault(customer, {})
        account = months.get(month)
        if account is None:
            # The ledger's figure is read once per month; from then on this process adds what it
            # settles. Months with nothing in flight are done with.
            for old in [m for m, a in months.items() if a.reserved == 0]:
                del months[old]
            account = months[month] = _Account(month, month_spend())
        elif account.stale:
            # Re-read after an admin change, but the reservations of requests in flight stay: they
            # are not in the ledger yet, and dropping them would let new requests take their share.
            account.spent, account.stale = month_spend(), False
        if budget is not None and account.spent + account.reserved + amount > budget + credit:
            raise over_budget(customer, budget, credit, account.spent, account.reserved, amount)
        account.reserved += amount
        return Reservation(customer, amount, month, request_id=request_id)

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        """Close the reservation and add ``actual`` (Decimal USD), at most the reserved amount, to its month's
        spend. A closed reservation is ignored.
        """
        account = self._close(reservation)
        if account is not None:
            account.spent += min(actual, reservation.amount)

    async def release(self, reservation: Reservation) -> None:
        """Close the reservation without spending anything (the request failed). A closed reservation is
        ignored.
        """
        self._close(reservation)

    def account(self, customer: str, month: str | None = None) -> tuple[Decimal, Decimal] | None:
        """(spent in ``month``, reserved by requests in flight) as this process counts them, or None."""
        found = self._accounts.get(customer, {}).get(month or self._month())
        return (found.spent, found.reserved) if found is not None else None

    def forget(self, customer: str) -> None:
        """The customer's budget, plan or history changed: read its spend again at its next request.

        Its open reservations stay, so a budget that held before the change holds after it.
        """
        for account in self._accounts.get(customer, {}).values():
            account.stale = True

    async def close(self) -> None:
        """Nothing to release: the counters live and die with the process."""

    def _check_tokens(self, window: _Window, now: float, tpm: int, tokens: float) -> None:
        if tokens > tpm:
            raise too_large(tokens, tpm)
        over = window.token_sum + window.held + tokens - tpm
        if over <= 0 and window.token_sum + window.held < tpm:
            return
        # Wait until enough used tokens leave the window; tokens held by requests in flight leave
        # it when those finish, which is soon: then a second is the best guess.
        wait = 1.0
        freed = 0.0
        for when, used in window.tokens:
            freed += used
            if freed >= max(over, 1e-9):
                wait = max(wait, when + WINDOW_S - now)
                break
        raise over_tpm(tpm, window.token_sum, window.held, tokens, wait)

    def _close_hold(self, hold: TokenHold) -> _Window | None:
        if not hold.open:
            return None
        hold.open = False
        window = self._windows.get(hold.key)
        if window is None:
            return None
        window.held -= hold.tokens
        return window

    def _close(self, reservation: Reservation) -> _Account | None:
        if not reservation.open:
            return None
        reservation.open = False
        account = self._accounts.get(reservation.customer, {}).get(reservation.month)
        if account is None:
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
