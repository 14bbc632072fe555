"""Applying credit grants to an invoice: which grants, in what order, how much.

A grant counts toward a month's invoice when it was granted before the month ends and has not expired
by then (``expires_at`` at or after the month's end: a grant that expires on 1 December still covers
November, one that expired on 15 November does not, since it was gone when the month was invoiced).
Grants are drawn oldest-expiring first (never-expiring ones last; ties by grant time, then id), each up
to what it has left (its amount less what finalized, non-void invoices applied from it), until the usage
charges are covered: credits never pay the plan's fee. A line takes whole cents: a balance of $0.015
gives $0.01, so no grant is ever drawn below zero.

A draft does not consume anything: previews of two open months may both count the same grant, and
finalizing the earlier one first (``finalize_month`` goes month by month) settles it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from verticals.billing.model import CENT, CreditLine

_ZERO = Decimal(0)


class GrantLike(Protocol):
    """What the engine reads of a ``verticals.ledger.credits.CreditGrant``."""

    @property
    def id(self) -> int: ...
    @property
    def customer(self) -> str: ...
    @property
    def amount_usd(self) -> Decimal: ...
    @property
    def reason(self) -> str: ...
    @property
    def granted_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime | None: ...


def counts_for(grant: GrantLike, month_end: datetime) -> bool:
    """Whether ``grant`` may pay toward the invoice of the month ending at ``month_end`` (see the module)."""
    return grant.granted_at < month_end and (grant.expires_at is None or grant.expires_at >= month_end)


def _order(grant: GrantLike) -> tuple[bool, datetime, datetime, int]:
    never = grant.expires_at is None
    return never, grant.expires_at or grant.granted_at, grant.granted_at, grant.id


def apply_credits(
    grants: Iterable[GrantLike],
    applied: Callable[[int], Decimal],
    usage_usd: Decimal,
    month_end: datetime,
    given_back: Mapping[int, Decimal] | None = None,
) -> tuple[CreditLine, ...]:
    """The credit lines covering up to ``usage_usd`` (the invoice's usage charges, USD) from ``grants``.

    ``applied(grant_id)`` is what finalized, non-void invoices took from a grant already
    (``Ledger.applied_credits``); ``given_back`` adds back what an invoice about to be voided took, so its
    correction can use that credit again.
    """
    back = given_back or {}
    left_to_cover = usage_usd
    lines = []
    for grant in sorted((g for g in grants if counts_for(g, month_end)), key=_order):
        if left_to_cover <= 0:
            break
        balance = grant.amount_usd - applied(grant.id) + back.get(grant.id, _ZERO)
        take = min(max(balance, _ZERO).quantize(CENT, rounding=ROUND_DOWN), left_to_cover)
        if take > 0:
            lines.append(CreditLine(grant.id, grant.reason, take))
            left_to_cover -= take
    return tuple(lines)
