"""Pricing what-if: what the recorded usage would have earned under another price book or plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger._time import as_utc, to_db, utc_now
from verticals.ledger._values import parse_money
from verticals.ledger.analytics._allocation import allocate
from verticals.ledger.analytics._query import NANO, Filters, connection_of, end_of, label, money, ratio
from verticals.ledger.errors import LedgerError

Rule = tuple[str | None, str | None, str | None, str]  # model, plugin, task, unit
GROUPS = ("model", "customer", "plugin", "unit")
D0 = Decimal(0)


def _plan_rules(conn: Any, plan: str, at: datetime) -> dict[Rule, Decimal]:
    if not conn.execute("SELECT count(*) FROM plans WHERE name = ?", [plan]).fetchone()[0]:
        raise LedgerError(f"unknown plan {plan!r}: see `verticals plans list`")
    rows = conn.execute(
        "SELECT model, plugin, task, unit, arg_max(price_per_unit_usd, effective_from) FROM price_book "
        "WHERE plan = ? AND effective_from <= ? GROUP BY model, plugin, task, unit",
        [plan, to_db(at)],
    ).fetchall()
    return {(m, p, t, u): Decimal(price) for m, p, t, u, price in rows}


def _given_rules(prices: Sequence[Mapping[str, Any]]) -> dict[Rule, Decimal]:
    rules: dict[Rule, Decimal] = {}
    for entry in prices:
        unknown = set(entry) - {"model", "plugin", "task", "unit", "price_per_unit_usd"}
        if unknown or "unit" not in entry or "price_per_unit_usd" not in entry:
            raise LedgerError(
                f"what-if price {dict(entry)!r}: give unit, price_per_unit_usd and a model, or a plugin "
                f"and/or task (unknown keys: {sorted(unknown)})"
            )
        key = (entry.get("model"), entry.get("plugin"), entry.get("task"), entry["unit"])
        if key[:3] == (None, None, None):
            raise LedgerError(f"what-if price {dict(entry)!r} needs a model, plugin or task")
        rules[key] = parse_money(entry["price_per_unit_usd"], "what-if price per unit")
    return rules


def _resolve(
    rules: Mapping[Rule, Decimal], model: str, plugin: str, task: str | None, unit: str
) -> Decimal | None:
    # the same order as the live lookup: model, plugin+task, plugin, task
    for key in ((model, None, None, unit), (None, plugin, task, unit), (None, plugin, None, unit),
                (None, None, task, unit)):  # fmt: skip
        if key in rules and (key[2] is None or task is not None):
            return rules[key]
    return None


def pricing_what_if(
    source: Any,
    *,
    prices: Sequence[Mapping[str, Any]] | None = None,
    plan: str | None = None,
    model_tasks: Mapping[str, str] | None = None,
    by: str | None = "model",
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    plugin: str | None = None,
    model: str | None = None,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Actual versus what-if revenue and margin, per ``by`` group (model, customer, plugin, unit or
    None for one total row).

    The alternative is either ``prices`` (rules ``{"model" | "plugin" / "task", "unit",
    "price_per_unit_usd"}``) or the price book of ``plan`` in force at ``at`` (default ``until`` or
    now). Usage is repriced as price x (units in + units out), exactly, rounded to the nano-dollar
    once per group (the gateway rounds each event, so sums may differ by under a nano-dollar per event); rules
    are matched like the live lookup (model, plugin+task, plugin, task; ``model_tasks`` maps model
    names to tasks, since events do not carry the task). Events no rule matches keep their actual
    revenue. ``cost_usd`` is compute spend, idle included, attributed as in ``usage_summary`` (a
    device no request used is an "(idle)" row, or in the total); margins are gross margins. Cost is
    unchanged by pricing, so the margins differ by the revenue change.
    """
    if (prices is None) == (plan is None):
        raise LedgerError("give either prices (an alternative price book) or plan (price as that plan)")
    if by is not None and by not in GROUPS:
        raise LedgerError(f"what-if by {by!r}: use one of {', '.join(GROUPS)} or None")
    conn = connection_of(source)
    when = as_utc(at) if at is not None else (as_utc(until) if until is not None else utc_now())
    rules = _plan_rules(conn, plan, when) if plan is not None else _given_rules(prices or ())
    where, params = Filters(since, until, customer, plugin, model).where()
    group = by or "'total'"
    # Aggregate first, reprice after: price x units summed exactly per (group, model, plugin, unit)
    # equals the sum of the per-event products, and the small result is repriced in Python.
    rows = conn.execute(
        f"SELECT {group}, model, plugin, unit, count(*), sum(CAST(units_in + units_out AS DECIMAL(18,3))), "  # noqa: S608
        f"sum(revenue_usd), sum(cost_usd) FROM usage_events WHERE {where} GROUP BY ALL",
        params,
    ).fetchall()
    spent = allocate(
        conn,
        [by] if by else [],
        since=since,
        until=until,
        end=end_of(source, until),
        customer=customer,
        plugin=plugin,
        model=model,
    ).groups
    tasks = model_tasks or {}
    totals: dict[Any, dict[str, Any]] = {}
    for key, model_name, plugin_name, unit, requests, units, revenue, _cost in rows:
        price = _resolve(rules, model_name, plugin_name, tasks.get(model_name), unit)
        revenue = money(revenue)
        key = label(by, key) if by else key
        entry = totals.setdefault(key, {"requests": 0, "repriced": 0, "revenue": D0, "cost": D0, "alt": D0})
        entry["requests"] += requests
        entry["revenue"] += revenue
        if price is None:
            entry["alt"] += revenue
        else:
            entry["repriced"] += requests
            entry["alt"] += price * money(units)
    for spent_key, spend in spent.items():  # compute spend per group; the idle line as a group of its own
        key = spent_key[0] if by else "total"
        entry = totals.setdefault(key, {"requests": 0, "repriced": 0, "revenue": D0, "cost": D0, "alt": D0})
        entry["cost"] = spend.cost
    out = []
    for key, entry in sorted(totals.items(), key=lambda item: (-item[1]["revenue"], str(item[0]))):
        revenue, cost, alt_revenue = entry["revenue"], entry["cost"], entry["alt"].quantize(NANO)
        out.append(
            {
                (by or "group"): key,
                "requests": entry["requests"],
                "repriced_requests": entry["repriced"],
                "actual_revenue_usd": revenue,
                "whatif_revenue_usd": alt_revenue,
                "revenue_change_usd": alt_revenue - revenue,
                "cost_usd": cost,
                "actual_margin_usd": revenue - cost,
                "whatif_margin_usd": alt_revenue - cost,
                "actual_margin_ratio": ratio(revenue - cost, revenue),
                "whatif_margin_ratio": ratio(alt_revenue - cost, alt_revenue),
            }
        )
    return out
