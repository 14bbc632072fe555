"""Request bodies of the admin API: customers, plans, keys, prices and costs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field


class CustomerIn(BaseModel):
    """Body of ``POST /admin/customers``: a name and plan (1-200 characters each) and an optional monthly
    budget in USD (Decimal, 0 or more, at most 18 digits).
    """

    name: str = Field(min_length=1, max_length=200)
    plan: str = Field(min_length=1, max_length=200)
    budget_usd: Decimal | None = Field(None, ge=0, max_digits=18)


class CustomerPatch(BaseModel):
    """Body of ``PATCH /admin/customers/{name}``: the fields to change (None keeps one); ``budget_usd`` in
    USD, ``clear_budget`` removes the budget, ``status`` is active or suspended.
    """

    plan: str | None = None
    budget_usd: Decimal | None = Field(None, ge=0, max_digits=18)
    clear_budget: bool = False
    status: str | None = None


class PlanIn(BaseModel):
    """Body of ``POST /admin/plans``: a name (1-200 characters), ``monthly_fee_usd`` (Decimal USD, 0 or more),
    ``included_units`` (0 or more) and a description.
    """

    name: str = Field(min_length=1, max_length=200)
    monthly_fee_usd: Decimal = Field(Decimal(0), ge=0, max_digits=18)
    included_units: float = Field(0, ge=0)
    description: str = ""


class KeyIn(BaseModel):
    """Body of ``POST /admin/keys``: the customer, and optional limits ``rpm`` (requests per minute) and
    ``tpm`` (tokens per minute), each 1 or more.
    """

    customer: str = Field(min_length=1, max_length=200)
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)


class TierIn(BaseModel):
    """One tier of a graduated or volume price: units up to ``up_to`` (None: the last, unbounded tier) at
    ``unit_price`` USD each, plus ``flat_fee`` USD once reached."""

    up_to: Decimal | None = Field(None, gt=0, max_digits=24)
    unit_price: Decimal = Field(ge=0, max_digits=24)
    flat_fee: Decimal = Field(Decimal(0), ge=0, max_digits=18)


class PriceIn(BaseModel):
    """Body of ``POST /admin/prices``: ``price_per_unit_usd`` (Decimal USD per ``unit``, 0 or more) for
    ``plan``, optionally narrowed to a model or plugin/task, from ``effective_from`` (None: now) on;
    ``charge_model`` per_unit (default), package (with ``package_size``: the price is per package),
    graduated or volume (with ``tiers``, the first tier's unit price being the price). Unless ``force``,
    the model must be one the gateway serves, metered in ``unit`` (``price_targets``).
    """

    plan: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    price_per_unit_usd: Decimal = Field(ge=0, max_digits=24)
    model: str | None = None
    plugin: str | None = None
    task: str | None = None
    effective_from: datetime | None = None
    note: str = ""
    charge_model: str = "per_unit"
    package_size: Decimal | None = Field(None, max_digits=24)  # the ledger refuses 0, naming the fix
    tiers: list[TierIn] | None = None
    force: bool = Field(
        False,
        description="write the row although no loaded plugin registers the model (or plugin/task) in this "
        "unit: for a plugin installed later",
    )


class CostIn(BaseModel):
    """Body of ``POST /admin/costs``: ``usd_per_hour`` (Decimal USD per device-hour, 0 or more) for
    ``device_class`` from ``effective_from`` (None: now) on.
    """

    device_class: str = Field(min_length=1)
    usd_per_hour: Decimal = Field(ge=0, max_digits=18)
    effective_from: datetime | None = None
    note: str = ""


class EvaluationIn(BaseModel):
    """Body of ``POST /admin/evaluations``: one evaluation run of ``model`` at ``version`` on ``suite``, its
    ``metrics`` (name to value), ``thresholds`` (name to ``{"min", "max"}``, None for an open bound) and
    whether the run ``passed``.
    """

    model: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=200)
    suite: str = Field(min_length=1, max_length=200)
    metrics: dict[str, float] = Field(min_length=1)
    thresholds: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    passed: bool
