"""Revenue, compute cost, gross margin and request counts, by time bucket and dimension."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger.analytics._query import Filters, connection_of, money, ratio, utc
from verticals.ledger.errors import LedgerError

BUCKETS = {"hour": "hour", "day": "day", "week": "week", "month": "month"}
DIMENSIONS = ("customer", "plugin", "model", "device_class", "endpoint", "unit")


def usage_summary(
    source: Any,
    *,
    by: Sequence[str] = ("day",),
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    plugin: str | None = None,
    model: str | None = None,
) -> list[dict[str, Any]]:
    """One row per group: ``requests``, ``errors`` (status >= 500), ``units``, ``revenue_usd``,
    ``cost_usd``, ``margin_usd`` (revenue - cost) and ``margin_pct`` (margin / revenue, None
    without revenue).

    ``by`` names at most one time bucket (hour, day, week, month: a UTC ``bucket`` column, the
    start of the period) and any of customer, plugin, model, device_class, endpoint, unit. Rows come
    sorted by bucket, then by revenue, largest first. Money is exact Decimal.
    """
    buckets = [name for name in by if name in BUCKETS]
    dims = [name for name in by if name in DIMENSIONS]
    unknown = [name for name in by if name not in BUCKETS and name not in DIMENSIONS]
    if unknown or len(buckets) > 1:
        raise LedgerError(
            f"cannot group usage by {list(by)}: use at most one of {', '.join(BUCKETS)} and any of "
            f"{', '.join(DIMENSIONS)}"
        )
    keys = ([f"date_trunc('{BUCKETS[buckets[0]]}', ts) AS bucket"] if buckets else []) + dims
    names = (["bucket"] if buckets else []) + dims
    where, params = Filters(since, until, customer, plugin, model).where()
    select = ", ".join([*keys, "count(*)", "count(*) FILTER (WHERE status >= 500)",
                        "sum(units_in + units_out)", "sum(revenue_usd)", "sum(cost_usd)"])  # fmt: skip
    group = f"GROUP BY {', '.join(names)}" if names else ""
    order = ", ".join((["bucket"] if buckets else []) + ["sum(revenue_usd) DESC", *dims])
    sql = f"SELECT {select} FROM usage_events WHERE {where} {group} ORDER BY {order}"  # noqa: S608
    rows = connection_of(source).execute(sql, params).fetchall()
    out = []
    for row in rows:
        record: dict[str, Any] = dict(zip(names, row[: len(names)], strict=True))
        if buckets:
            record["bucket"] = utc(record["bucket"])
        requests, errors, units, revenue, cost = row[len(names) :]
        revenue, cost = money(revenue), money(cost)
        record.update(
            requests=requests,
            errors=errors,
            units=units or 0.0,
            revenue_usd=revenue,
            cost_usd=cost,
            margin_usd=revenue - cost,
            margin_pct=ratio(revenue - cost, revenue),
        )
        out.append(record)
    return out


def unit_economics(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    plugin: str | None = None,
    model: str | None = None,
) -> list[dict[str, Any]]:
    """Per model and unit: revenue and cost per unit and per 1,000 units (per 1k tokens for LLMs).

    Units are units in plus units out. Values per unit are exact Decimals (None without units);
    ``margin_per_1k_units`` is their difference.
    """
    where, params = Filters(since, until, customer, plugin, model).where()
    sql = (
        "SELECT model, unit, count(*), sum(units_in), sum(units_out), sum(revenue_usd), sum(cost_usd) "  # noqa: S608
        f"FROM usage_events WHERE {where} GROUP BY model, unit ORDER BY sum(revenue_usd) DESC, model, unit"
    )
    out = []
    for model_name, unit, requests, units_in, units_out, revenue, cost in (
        connection_of(source).execute(sql, params).fetchall()
    ):
        units = Decimal(str(units_in or 0)) + Decimal(str(units_out or 0))
        revenue, cost = money(revenue), money(cost)
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
    return out
