"""Per-key rate limits and per-customer budget reservations, in process.

``Limits`` is the interface the gateway calls; ``InMemoryLimits`` keeps the counters in this
process. Replicated gateways need shared counters: a Redis implementation of the same methods (an
atomic Lua script per call) replaces this class without touching the routes.

Both limits are enforced by reservation, so that concurrent requests cannot overshoot them:

- Tokens per minute: at admission the request's worst-case tokens (prompt bound plus
  ``max_tokens``) are held against the key's one-minute window; on completion the hold is replaced
  by the tokens actually used (``settle_tokens``), on failure it is dropped (``release_tokens``).
  OpenAI's rate limiter counts ``max_tokens`` into its estimate the same way.
- Budgets: at admission the worst-case cost is reserved against what is left of the customer's
  monthly budget; on completion the reservation is replaced by the actual cost (``settle``), on
  failure it is dropped (``release``).

Check and reserve are one step (no await in between on the event loop), and settling never counts
more than was reserved, whatever a backend returns: the used plus held tokens of a window never
exceed the key's tpm, and spend plus open reservations never exceed the budget they were admitted
under.
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
    """Over rpm or tpm; ``retry_after`` is None when waiting cannot help (the request is too large)."""

    def __init__(self, message: str, retry_after: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OverBudget(Exception):
    """The request's worst-case cost (USD) does not fit what is left of the customer's monthly budget; the
    message gives the figures and the fix. The gateway answers it with a 402.
    """

    pass


@dataclass
class Reservation:
    """Part of ``customer``'s budget (``amount``, Decimal USD) held for one request in flight in ``month``
    ("YYYY-MM", UTC); ``open`` turns false once settled or released, so a second close does nothing.
    """

    customer: str
    amount: Decimal
    month: str
    open: bool = True


@dataclass
class TokenHold:
    """Tokens a request in flight holds in its key's window until it settles or is released."""

    key: str
    tokens: float
    open: bool = True


class Limits(Protocol):
    """Rate limits per key and budget reservations per customer, as the gateway calls them (see the module
    docstring for the reservation scheme); ``InMemoryLimits`` keeps them in this process.
    """

    def admit(self, key: str, rpm: int | None, tpm: int | None, tokens: float = 0.0) -> TokenHold:
        """Count one request against ``key`` and hold ``tokens`` (its worst case) of the key's
        tokens per minute; raise ``RateLimited`` when over rpm, or when the tokens do not fit."""

    def settle_tokens(self, hold: TokenHold, actual: float) -> None:
        """Replace the hold by the tokens used, counted at most up to the hold."""

    def release_tokens(self, hold: TokenHold) -> None:
        """Drop the hold (the request failed): its tokens no longer count against the key. A closed hold is
        ignored.
        """
        ...

    def reserve(
        self,
        customer: str,
        budget: Decimal | None,
        amount: Decimal,
        month_spend: Callable[[], Decimal],
        month: str | None = None,
        credit: Decimal = Decimal(0),
    ) -> Reservation:
        """Reserve ``amount`` of the customer's budget for ``month`` ("YYYY-MM", default this one,
        UTC); ``month_spend`` reads that month's spend from the ledger, and ``credit`` (USD) is the part
        of it credit grants cover, which the budget does not count. Raise ``OverBudget`` when it does
        not fit."""

    def settle(self, reservation: Reservation, actual: Decimal) -> None:
        """Replace the reservation by the actual cost, counted at most up to the reservation."""

    def release(self, reservation: Reservation) -> None:
        """Drop the reservation (the request failed): nothing is spent. A closed reservation is ignored."""
        ...

    def forget(self, customer: str) -> None:
        """The customer changed (budget, plan, history): read its spend again, keep its reservations."""


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

    def admit(self, key: str, rpm: int | None, tpm: int | None, tokens: float = 0.0) -> TokenHold:
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
            wait = window.requests[0] + WINDOW_S - now
            raise RateLimited(
                f"this key allows {rpm} requests per minute and has used them; retry in "
                f"{math.ceil(wait)} s or ask for a higher limit",
                max(1, math.ceil(wait)),
            )
        tokens = max(0.0, tokens)
        if tpm is not None:
            self._check_tokens(window, now, tpm, tokens)
        window.requests.append(now)
        window.held += tokens
        return TokenHold(key, tokens)

    def settle_tokens(self, hold: TokenHold, actual: float) -> None:
        """Close the hold and count ``actual`` tokens in the key's window, clipped to [0, the hold], so a
        backend that overruns cannot push the key past its tpm. A closed hold is ignored.
        """
        window = self._close_hold(hold)
        counted = min(max(0.0, actual), hold.tokens)
        if window is not None and counted > 0:
            window.tokens.append((self._clock(), counted))
            window.token_sum += counted

    def release_tokens(self, hold: TokenHold) -> None:
        """Close the hold without counting any tokens (the request failed). A closed hold is ignored."""
        self._close_hold(hold)

    def usage(self, key: str) -> tuple[float, float]:
        """(tokens used in the last minute, tokens held by requests in flight) for ``key``."""
        window = self._windows.get(key)
        if window is None:
            return 0.0, 0.0
        self._expire(window, self._clock())
        return window.token_sum, window.held

    def reserve(
        self,
        customer: str,
        budget: Decimal | None,
        amount: Decimal,
        month_spend: Callable[[], Decimal],
        month: str | None = None,
        credit: Decimal = Decimal(0),
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
            left = max(Decimal(0), budget + credit - account.spent - account.reserved)
            covered = f", credits cover ${credit:.6f} of it" if credit else ""
            raise OverBudget(
                f"customer {customer!r} has ${left:.6f} of its ${budget} monthly budget left (spent "
                f"${account.spent:.6f}{covered}, ${account.reserved:.6f} reserved by requests in flight) "
                f"and this request may cost up to ${amount:.6f}; lower max_tokens, or raise the budget "
                f"with `verticals customers set NAME --budget USD`"
            )
        account.reserved += amount
        return Reservation(customer, amount, month)

    def settle(self, reservation: Reservation, actual: Decimal) -> None:
        """Close the reservation and add ``actual`` (Decimal USD), at most the reserved amount, to its month's
        spend. A closed reservation is ignored.
        """
        account = self._close(reservation)
        if account is not None:
            account.spent += min(actual, reservation.amount)

    def release(self, reservation: Reservation) -> None:
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

    def _check_tokens(self, window: _Window, now: float, tpm: int, tokens: float) -> None:
        if tokens > tpm:
            raise RateLimited(
                f"this request may use up to {math.ceil(tokens)} tokens (its prompt plus max_tokens), "
                f"more than this key's {tpm} tokens per minute; lower max_tokens (or shorten the "
                "prompt), or ask for a higher limit",
                None,
            )
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
        raise RateLimited(
            f"this key allows {tpm} tokens per minute: {int(window.token_sum)} were used in the last "
            f"minute and {int(window.held)} are held by requests in flight, and this request may use up "
            f"to {math.ceil(tokens)} (its prompt plus max_tokens); retry in {math.ceil(wait)} s, lower "
            "max_tokens, or ask for a higher limit",
            max(1, math.ceil(wait)),
        )

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
