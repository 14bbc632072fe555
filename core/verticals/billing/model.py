"""The records of billing, in Lago's and Stripe Billing's terms: charge models and tiers, invoices and
their lines. Money is ``Decimal`` USD throughout; amounts on an invoice line are rounded to cents once,
half-even (see ``CENT``); quantities are ``Decimal`` in the line's unit (tokens, images, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

#: Invoice line amounts are rounded to this, half-even (banker's rounding), once per line.
CENT = Decimal("0.01")


class ChargeModel(StrEnum):
    """How a price row turns a quantity into an amount (Lago's charge models).

    - ``per_unit``: quantity x unit price. 1,500 images at $0.01: $15.00.
    - ``package``: every started package of ``package_size`` units at the package price. 2,500 tokens in
      packages of 1,000 at $0.50: 3 packages, $1.50.
    - ``graduated``: each tier prices the units that fall in it. First 1M tokens at $2/M, the rest at $1/M:
      1.5M tokens cost $2.00 + $0.50 = $2.50.
    - ``volume``: every unit at the price of the tier the total reaches. Same tiers, 1.5M tokens: all at
      $1/M, $1.50.
    """

    PER_UNIT = "per_unit"
    PACKAGE = "package"
    GRADUATED = "graduated"
    VOLUME = "volume"


@dataclass(frozen=True)
class Tier:
    """One tier of a graduated or volume price: units up to ``up_to`` (None: no upper bound; bounds are
    cumulative from 0) at ``unit_price`` USD each, plus ``flat_fee`` USD once when the tier is reached."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = Decimal(0)


@dataclass(frozen=True)
class TierUsage:
    """How much of one tier a line used: ``quantity`` units at ``unit_price``, plus the tier's ``flat_fee``,
    making ``amount`` (unrounded USD)."""

    up_to: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


class InvoiceStatus(StrEnum):
    """``draft`` while the month is open (recomputed from the ledger on every read), ``finalized`` once it has
    a number and a stored snapshot, ``void`` when a correction replaced it."""

    DRAFT = "draft"
    FINALIZED = "finalized"
    VOID = "void"


@dataclass(frozen=True)
class FeeLine:
    """The plan's monthly fee for the part of the month the subscription covered: ``fee_usd`` x
    ``fraction`` (seconds covered / seconds in the month), rounded to cents in ``amount_usd``."""

    plan: str
    period_start: datetime
    period_end: datetime
    fee_usd: Decimal
    fraction: Decimal
    amount_usd: Decimal


@dataclass(frozen=True)
class UsageLine:
    """One (model, unit) of usage under one plan: ``quantity`` used, ``included`` by the plan's allowance
    (prorated), ``billable`` = quantity - included (never negative), priced by ``charge_model`` into
    ``tiers`` (one entry per tier used; one for per-unit and package), ``amount_usd`` rounded to cents.

    ``compute_cost_usd`` is what the ledger's events of this line cost in compute (their own seconds at the
    cost book's rates), so each line can show its margin, ``amount_usd - compute_cost_usd``.
    """

    plan: str
    model: str
    unit: str
    period_start: datetime
    period_end: datetime
    quantity: Decimal
    included: Decimal
    billable: Decimal
    charge_model: ChargeModel
    tiers: tuple[TierUsage, ...]
    amount_usd: Decimal
    compute_cost_usd: Decimal = Decimal(0)

    @property
    def margin_usd(self) -> Decimal:
        """``amount_usd - compute_cost_usd``: what this line earns over the compute it used."""
        return self.amount_usd - self.compute_cost_usd


@dataclass(frozen=True)
class CreditLine:
    """Credit applied from grant ``grant_id`` (its ``reason``), as a positive ``amount_usd`` subtracted from
    the usage charges."""

    grant_id: int
    reason: str
    amount_usd: Decimal


@dataclass(frozen=True)
class Invoice:
    """A customer's bill for one calendar month (UTC), ``month`` as ``YYYY-MM``.

    ``subtotal_usd`` = fees + usage lines; ``credits_usd`` = the credit lines (credits cover usage charges
    only, never fees); ``total_usd`` = subtotal - credits. A finalized invoice has a sequential ``number``
    (``VRT-000001``) and is stored as it was; ``replaces`` names the invoice a correction voided, and
    ``credit_note_usd`` what that one had charged.
    """

    customer: str
    month: str
    status: InvoiceStatus
    fees: tuple[FeeLine, ...]
    usage: tuple[UsageLine, ...]
    credits: tuple[CreditLine, ...]
    subtotal_usd: Decimal
    credits_usd: Decimal
    total_usd: Decimal
    currency: str = "USD"
    id: int | None = None
    number: str | None = None
    issued_at: datetime | None = None
    replaces: str | None = None
    credit_note_usd: Decimal | None = None
    notes: tuple[str, ...] = field(default=())
