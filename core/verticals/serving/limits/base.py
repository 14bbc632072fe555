"""What every limits backend shares: the ``Limits`` protocol, its refusals, and the holds it hands out.

Both limits are enforced by reservation, so that concurrent requests cannot overshoot them:

- Tokens per minute: at admission the request's worst-case tokens (prompt bound plus
  ``max_tokens``) are held against the key's one-minute window; on completion the hold is replaced
  by the tokens actually used (``settle_tokens``), on failure it is dropped (``release_tokens``).
  OpenAI's rate limiter counts ``max_tokens`` into its estimate the same way.
- Budgets: at admission the worst-case cost is reserved against what is left of the customer's
  monthly budget; on completion the reservation is replaced by the actual cost (``settle``), on
  failure it is dropped (``release``).

Check and reserve are one step (one event-loop step in process, one Lua script in Redis), and
settling never counts more than was reserved, whatever a backend returns: the used plus held tokens
of a window never exceed the key's tpm, and spend plus open reservations never exceed the budget
they were admitted under. Settling or releasing a hold twice does nothing the second time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

#: The rate windows' length in seconds (requests and tokens per minute).
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


class LimitsUnavailable(Exception):
    """The shared counters (Redis) cannot be reached, so a limited request can be neither checked nor
    admitted; the message names the server and the fix. The gateway answers it with a 503
    ``limits_unavailable`` rather than count per replica, which would multiply every limit by the
    replica count.
    """


def over_rpm(rpm: int, wait: float) -> RateLimited:
    """The refusal of a request past ``rpm`` requests per minute; ``wait``: seconds until the oldest
    leaves."""
    return RateLimited(
        f"this key allows {rpm} requests per minute and has used them; retry in "
        f"{math.ceil(wait)} s or ask for a higher limit",
        max(1, math.ceil(wait)),
    )


def too_large(tokens: float, tpm: int) -> RateLimited:
    """The refusal of a request whose worst-case ``tokens`` alone exceed ``tpm``: waiting cannot help."""
    return RateLimited(
        f"this request may use up to {math.ceil(tokens)} tokens (its prompt plus max_tokens), "
        f"more than this key's {tpm} tokens per minute; lower max_tokens (or shorten the "
        "prompt), or ask for a higher limit",
        None,
    )


def over_tpm(tpm: int, used: float, held: float, tokens: float, wait: float) -> RateLimited:
    """The refusal of ``tokens`` that do not fit ``tpm`` beside ``used`` (settled in the last minute) and
    ``held`` (by requests in flight); ``wait`` seconds, at least 1."""
    return RateLimited(
        f"this key allows {tpm} tokens per minute: {int(used)} were used in the last "
        f"minute and {int(held)} are held by requests in flight, and this request may use up "
        f"to {math.ceil(tokens)} (its prompt plus max_tokens); retry in {math.ceil(wait)} s, lower "
        "max_tokens, or ask for a higher limit",
        max(1, math.ceil(wait)),
    )


def over_budget(
    customer: str, budget: Decimal, credit: Decimal, spent: Decimal, reserved: Decimal, amount: Decimal
) -> OverBudget:
    """The refusal of ``amount`` (USD) that does not fit ``budget`` plus ``credit`` beside ``spent`` this
    month and ``reserved`` by requests in flight."""
    left = max(Decimal(0), budget + credit - spent - reserved)
    covered = f", credits cover ${credit:.6f} of it" if credit else ""
    return OverBudget(
        f"customer {customer!r} has ${left:.6f} of its ${budget} monthly budget left (spent "
        f"${spent:.6f}{covered}, ${reserved:.6f} reserved by requests in flight) "
        f"and this request may cost up to ${amount:.6f}; lower max_tokens, or raise the budget "
        f"with `verticals customers set NAME --budget USD`"
    )


@dataclass
class Reservation:
    """Part of ``customer``'s budget (``amount``, Decimal USD) held for one request in flight in ``month``
    ("YYYY-MM", UTC); ``open`` turns false once settled or released, so a second close does nothing.
    ``request_id`` names it in shared counters, where a retried close of the same request is ignored too;
    ``tracked`` is false for one no counter holds (no budget, or admitted unlimited while Redis was
    unreachable with ``redis_fail_open``).
    """

    customer: str
    amount: Decimal
    month: str
    open: bool = True
    request_id: str = ""
    tracked: bool = True


@dataclass
class TokenHold:
    """Tokens a request in flight holds in its key's window until it settles or is released; ``request_id``
    and ``tracked`` as in ``Reservation``.
    """

    key: str
    tokens: float
    open: bool = True
    request_id: str = ""
    tracked: bool = True


class Limits(Protocol):
    """Rate limits per key and budget reservations per customer, as the gateway calls them (see the module
    docstring for the reservation scheme). ``InMemoryLimits`` keeps them in this process, ``RedisLimits``
    in Redis, shared by every replica. ``LimitsUnavailable`` may come from ``admit`` and ``reserve`` of a
    shared backend; the closing methods never raise it (the response is already decided).
    """

    async def admit(
        self, key: str, rpm: int | None, tpm: int | None, tokens: float = 0.0, request_id: str = ""
    ) -> TokenHold:
        """Count one request against ``key`` and hold ``tokens`` (its worst case) of the key's
        tokens per minute; raise ``RateLimited`` when over rpm, or when the tokens do not fit."""
        ...

    async def settle_tokens(self, hold: TokenHold, actual: float) -> None:
        """Replace the hold by the tokens used, counted at most up to the hold."""
        ...

    async def release_tokens(self, hold: TokenHold) -> None:
        """Drop the hold (the request failed): its tokens no longer count against the key. A closed hold is
        ignored.
        """
        ...

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
        """Reserve ``amount`` of the customer's budget for ``month`` ("YYYY-MM", default this one,
        UTC); ``month_spend`` reads that month's spend from the ledger, and ``credit`` (USD) is the part
        of it credit grants cover, which the budget does not count. Raise ``OverBudget`` when it does
        not fit."""
        ...

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        """Replace the reservation by the actual cost, counted at most up to the reservation."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Drop the reservation (the request failed): nothing is spent. A closed reservation is ignored."""
        ...

    def forget(self, customer: str) -> None:
        """The customer changed (budget, plan, history): read its spend again, keep its reservations."""
        ...

    async def close(self) -> None:
        """Release what the backend holds (connections); called once at the gateway's shutdown."""
        ...
