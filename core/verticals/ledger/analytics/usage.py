"""Revenue (billed), compute spend (idle included), gross and contribution margin and request counts, by
time bucket and dimension; unit economics per model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from verticals.ledger.analytics._allocation import Spend, allocate
from verticals.ledger.analytics._billed import Billed, billed_groups
from verticals.ledger.analytics._query import (
    NANO,
    NONE_MARK,
    Filters,
    connection_of,
    end_of,
    label,
    money,
    ratio,
    utc,
)
from verticals.ledger.errors import LedgerError

BUCKETS = {"hour": "hour", "day": "day", "week": "week", "month": "month"}
BASES = ("billed", "list")
DIMENSIONS = ("customer", "plugin", "model", "device_class", "endpoint", "unit")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _record(
    record: dict[str, Any],
    requests: int,
    errors: int,
    units: Any,
    list_revenue: Decimal,
    billed: Billed | None,
    spend: Spend,
) -> None:
    cost = spend.cost
    parts = (
        Billed()
        if billed is None
        else Billed(*(v.quantize(NANO) for v in (billed.fee, billed.usage, billed.credits)))
    )
    revenue = list_revenue if billed is None else parts.revenue
    record.update(
        requests=requests,
        errors=errors,
        units=units or 0.0,
        revenue_usd=revenue,
        fee_revenue_usd=parts.fee,
        usage_revenue_usd=parts.usage,
        credits_usd=parts.credits,
        list_revenue_usd=list_revenue,
        request_cost_usd=spend.request_cost,
        idle_cost_usd=spend.idle_cost,
        cost_usd=cost,
        margin_usd=revenue - cost,
        margin_ratio=ratio(revenue - cost, revenue),
        contribution_margin_usd=revenue - spend.request_cost,
        contribution_margin_ratio=ratio(revenue - spend.request_cost, revenue),
    )


def usage_summary(
    source: Any,
    *,
    by: Sequence[str] = ("day",),
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    plugin: str | None = None,
    model: str | None = None,
    basis: str = "billed",
) -> list[dict[str, Any]]:
    """One row per group: ``requests``, ``errors`` (status >= 500), ``units``, ``revenue_usd``, and
    compute spend: ``request_cost_usd`` (what the requests carried), ``idle_cost_usd`` (the group's share
    of the idle time of the devices it ran on), ``cost_usd`` (their sum: everything provisioned in the
    period, idle included); ``margin_usd`` (gross margin: revenue - cost_usd) and ``margin_ratio``
    (margin / revenue, None without revenue); ``contribution_margin_usd`` (revenue - request_cost_usd)
    and ``contribution_margin_ratio``.

    Idle is attributed by the rule in ``verticals.ledger.analytics._allocation``: each device is paid
    for once and its idle shared by busy seconds; a device no request used is a row of its own whose
    dimension values are "(idle)" (its device class under ``device_class``), merged into the group
    when ``by`` names only a time bucket or device_class, and left out under a customer filter. So
    without filters the rows add up to revenue minus everything provisioned. A request for no model
    is grouped as "no model" (no plugin, no customer likewise).

    ``by`` names at most one time bucket (hour, day, week, month: a UTC ``bucket`` column, the
    start of the period) and any of customer, plugin, model, device_class, endpoint, unit. Rows come
    sorted by bucket, then by revenue, largest first. Devices still up count until ``until`` or now,
    whichever is earlier. Money is exact Decimal.

    Revenue is billed revenue (``basis="billed"``, the default; the rules in
    ``verticals.ledger.analytics._billed``): ``revenue_usd`` = ``fee_revenue_usd`` (plan fees recognised
    daily, up to now) + ``usage_revenue_usd`` (usage charges after allowances and tiers) -
    ``credits_usd``, from each month's finalized invoices, else its drafts. Fees are a group of their own,
    "(plan fee)", under model, plugin, unit, endpoint and device_class, and a customer with a fee but no
    requests in the period is a row with 0 requests. ``list_revenue_usd`` is the usage at list price (what
    the gateway recorded per request: price x units, before allowances, tiers, fees and credits);
    ``basis="list"`` makes it ``revenue_usd`` too, and the margins follow it (the fee, usage and credit
    columns are then 0).
    """
    buckets = [name for name in by if name in BUCKETS]
    dims = [name for name in by if name in DIMENSIONS]
    unknown = [name for name in by if name not in BUCKETS and name not in DIMENSIONS]
    if unknown or len(buckets) > 1:
        raise LedgerError(
            f"cannot group usage by {list(by)}: use at most one of {', '.join(BUCKETS)} and any of "
            f"{', '.join(DIMENSIONS)}"
        )
    if basis not in BASES:
        raise LedgerError(
            f"revenue basis {basis!r}: use billed (invoiced revenue) or list (usage at list price)"
        )
    bucket = BUCKETS[buckets[0]] if buckets else None
    keys = ([f"date_trunc('{bucket}', ts) AS bucket"] if bucket else []) + dims
    names = (["bucket"] if bucket else []) + dims
    where, params = Filters(since, until, customer, plugin, model).where()
    select = ", ".join([*keys, "count(*)", "count(*) FILTER (WHERE status >= 500)",
                        "sum(units_in + units_out)", "sum(revenue_usd)"])  # fmt: skip
    group = f"GROUP BY {', '.join(names)}" if names else ""
    sql = f"SELECT {select} FROM usage_events WHERE {where} {group}"  # noqa: S608
    conn = connection_of(source)
    rows = conn.execute(sql, params).fetchall()
    spent = allocate(
        conn,
        dims,
        bucket=bucket,
        since=since,
        until=until,
        end=end_of(source, until),
        customer=customer,
        plugin=plugin,
        model=model,
    ).groups
    billed = (
        billed_groups(
            source,
            dims,
            bucket=bucket,
            since=since,
            until=until,
            customer=customer,
            plugin=plugin,
            model=model,
        )
        if basis == "billed"
        else None
    )
    out = []
    for row in rows:
        values = [label(name, value) for name, value in zip(names, row[: len(names)], strict=True)]
        key = tuple(values)
        requests, errors, units, revenue = row[len(names) :]
        record: dict[str, Any] = dict(zip(names, values, strict=True))
        parts = None if billed is None else billed.pop(key, Billed())
        _record(record, requests, errors, units, money(revenue), parts, spent.pop(key, Spend()))
        out.append(record)
    # groups with no requests: capacity none of them used (the idle line) and fees of customers that sent
    # none in the period
    for key in [*spent, *(k for k in (billed or {}) if k not in spent)]:
        record = dict(zip(names, key, strict=True))
        parts = None if billed is None else billed.get(key, Billed())
        _record(record, 0, 0, 0.0, Decimal(0), parts, spent.get(key, Spend()))
        out.append(record)
    for record in out:
        if "bucket" in record:
            record["bucket"] = utc(record["bucket"])
    out.sort(key=lambda r: (r.get("bucket") or _EPOCH, -r["revenue_usd"], [str(r[d]) for d in dims]))
    return out


def unit_economics(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    plugin: str | None = None,
    model: str | None = None,
    basis: str = "billed",
) -> list[dict[str, Any]]:
    """Per model and unit: revenue and compute cost per unit and per 1,000 units (per 1k tokens for LLMs).

    Revenue is billed usage revenue (``basis="billed"``): the invoices' usage charges after allowances and
    tiers, less the credits they bore, spread over the events as in ``usage_summary`` (plan fees belong to
    no model and are left out); ``list_revenue_usd`` is the usage at list price, and ``basis="list"``
    makes it the revenue.

    ``cost_usd`` is compute spend, idle included (``request_cost_usd`` what the requests carried plus
    ``idle_cost_usd``, the model's busy share of its devices' idle, as in ``usage_summary``); the per-unit
    costs divide it. Units are units in plus units out. Values per unit are exact Decimals (None
    without units); ``margin_per_1k_units`` is their difference. Requests for no model are left out.
    """
    if basis not in BASES:
        raise LedgerError(
            f"revenue basis {basis!r}: use billed (invoiced revenue) or list (usage at list price)"
        )
    where, params = Filters(since, until, customer, plugin, model).where()
    sql = (
        "SELECT model, unit, count(*), sum(units_in), sum(units_out), sum(revenue_usd) "  # noqa: S608
        f"FROM usage_events WHERE {where} AND model <> '{NONE_MARK}' GROUP BY model, unit "
        "ORDER BY sum(revenue_usd) DESC, model, unit"
    )
    conn = connection_of(source)
    spent = allocate(
        conn,
        ["model", "unit"],
        since=since,
        until=until,
        end=end_of(source, until),
        customer=customer,
        plugin=plugin,
        model=model,
    ).groups
    billed = (
        billed_groups(
            source, ["model", "unit"], since=since, until=until, customer=customer, plugin=plugin, model=model
        )
        if basis == "billed"
        else {}
    )
    out = []
    for model_name, unit, requests, units_in, units_out, listed in conn.execute(sql, params).fetchall():
        units = Decimal(str(units_in or 0)) + Decimal(str(units_out or 0))
        spend = spent.get((model_name, unit), Spend())
        parts = billed.get((model_name, unit), Billed())
        listed = money(listed)
        revenue = listed if basis == "list" else (parts.usage - parts.credits).quantize(NANO)
        cost = spend.cost
        per_unit = (revenue / units) if units else None
        cost_unit = (cost / units) if units else None
        out.append(
            {
                "model": model_name,
                "unit": unit,
                "requests": requests,
                "units_in": units_in,
                "units_out": units_out,
                "revenue_usd": revenue,
                "list_revenue_usd": listed,
                "request_cost_usd": spend.request_cost,
                "idle_cost_usd": spend.idle_cost,
                "cost_usd": cost,
                "revenue_per_unit_usd": per_unit,
                "cost_per_unit_usd": cost_unit,
                "revenue_per_1k_units_usd": None if per_unit is None else per_unit * 1000,
                "cost_per_1k_units_usd": None if cost_unit is None else cost_unit * 1000,
                "margin_per_1k_units_usd": None
                if per_unit is None or cost_unit is None
                else (per_unit - cost_unit) * 1000,
            }
        )
    out.sort(key=lambda r: (-r["revenue_usd"], r["model"], r["unit"]))
    return out
