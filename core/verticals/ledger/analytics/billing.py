"""Subscription metrics from the invoices: MRR over time, ARPU, net revenue retention, revenue by business
model (fee vs usage), and each invoice line's compute cost and margin.

The invoices are those billed revenue is read from (``_billed.invoices_in``): a month's finalized invoice
where issued, else its draft. Money is exact Decimal USD; months are ``YYYY-MM`` (UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from verticals.ledger._time import as_utc
from verticals.ledger.analytics._billed import ZERO, billed_groups, billing_ledger, invoices_in, months
from verticals.ledger.analytics._query import NANO, now_of, ratio, utc
from verticals.ledger.errors import LedgerError

if TYPE_CHECKING:
    from verticals.billing.model import Invoice

_MICRO = timedelta(microseconds=1)


def _bounds(month: str) -> tuple[datetime, datetime]:
    from verticals.billing.desk import check_month
    from verticals.billing.proration import month_bounds

    return month_bounds(check_month(month))


def _usage_net(invoice: Invoice) -> Decimal:
    """An invoice's usage charges less its credits (credits cover usage only)."""
    return sum((line.amount_usd for line in invoice.usage), ZERO) - invoice.credits_usd


def _customer_mrr(source: Any, month_list: Sequence[str]) -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
    """Per month, per customer: (fee MRR, usage MRR), by the rule in ``mrr``'s docstring."""
    ledger = billing_ledger(source)
    now = now_of(source)
    fees = {plan.name: plan.monthly_fee_usd for plan in ledger.list_plans()}
    history = ledger.subscriptions()
    wanted = sorted(set(month_list))
    earlier = {month: _previous(month) for month in wanted}
    span = sorted(set(wanted) | set(earlier.values()))
    usage: dict[str, dict[str, Decimal]] = {}
    first, _ = _bounds(span[0])
    _, last = _bounds(span[-1])
    for invoice in invoices_in(source, first, last):
        usage.setdefault(invoice.month, {})[invoice.customer] = _usage_net(invoice)
    out: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    for month in wanted:
        start, end = _bounds(month)
        if start > now:
            continue
        closed = end <= now
        moment = end - _MICRO if closed else now
        in_force = {s.customer: fees.get(s.plan, ZERO) for s in history if s.covers(moment)}
        metered = usage.get(month if closed else earlier[month], {})
        rows: dict[str, tuple[Decimal, Decimal]] = {}
        for customer in sorted(in_force):
            fee = in_force.get(customer, ZERO)
            used = metered.get(customer, ZERO) if customer in in_force else ZERO
            if fee or used:
                rows[customer] = (fee, used)
        out[month] = rows
    return out


def _previous(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def _month_range(since: datetime | None, until: datetime | None, source: Any) -> list[str]:
    now = now_of(source)
    end = min(as_utc(until), now) if until is not None else now
    start = as_utc(since) if since is not None else end - timedelta(days=365)
    return months(start, end) if start < end else []


def mrr(source: Any, *, since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
    """Monthly recurring revenue per month (UTC) of ``[since, until)`` (default: the last 12 months up to
    now), the month in progress last.

    After Stripe's ``revenue.mrr`` (docs.stripe.com/data/analytics/supported-metrics: the monthly
    recurring revenue of active subscriptions) and Lago's MRR (getlago.com/docs/guide/analytics/revenue/mrr:
    a run rate built from plan prices, not from invoices), extended to usage, since an AI business's
    recurring revenue is mostly metered: a customer's MRR in a month is its **fee MRR**, the monthly fee
    of the plan its subscription is on at the month's last moment (now, for the month in progress; 0
    once cancelled; a run rate, not the prorated fee), plus its **usage MRR**, the usage charges less
    credits of its invoice for that month (the month in progress: of the month before, the last
    completed period), for customers subscribed at that moment (a cancelled customer's MRR is 0: churn).
    Rows: ``month``, ``fee_mrr_usd``, ``usage_mrr_usd``, ``mrr_usd`` (their sum), ``customers`` (those
    with MRR above 0), ``arpu_usd`` (``mrr_usd / customers``, None without any; see ``arpu``), ``closed``
    (whether the month has ended).
    """
    now = now_of(source)
    per_month = _customer_mrr(source, _month_range(since, until, source))
    out = []
    for month, rows in per_month.items():
        fee = sum((f for f, _ in rows.values()), ZERO)
        used = sum((u for _, u in rows.values()), ZERO)
        total = fee + used
        out.append(
            {
                "month": month,
                "fee_mrr_usd": fee,
                "usage_mrr_usd": used,
                "mrr_usd": total,
                "customers": len(rows),
                "arpu_usd": (total / len(rows)).quantize(NANO) if rows else None,
                "closed": _bounds(month)[1] <= now,
            }
        )
    return out


def arpu(source: Any, *, month: str) -> dict[str, Any]:
    """Average revenue per user in ``month``: ``mrr_usd / customers`` (Stripe Billing's ARPU: MRR divided
    by the number of active subscribers; customers with MRR above 0, see ``mrr``), to the nano-dollar.
    Returns ``{month, mrr_usd, customers, arpu_usd}`` (``arpu_usd`` None without customers)."""
    rows = _customer_mrr(source, [month]).get(month, {})
    total = sum((f + u for f, u in rows.values()), ZERO)
    return {
        "month": month,
        "mrr_usd": total,
        "customers": len(rows),
        "arpu_usd": (total / len(rows)).quantize(NANO) if rows else None,
    }


def net_revenue_retention(source: Any, *, start: str, end: str) -> dict[str, Any]:
    """Net revenue retention from month ``start`` to month ``end`` (``YYYY-MM``, start before end): of the
    customers with MRR in ``start`` (``mrr``'s rule), their MRR in ``end`` over their MRR in ``start``.

    The usual SaaS definition (as in Stripe's and ChartMogul's glossaries): NRR = (starting MRR + expansion
    - contraction - churn) / starting MRR, customers gained after ``start`` left out. Returns
    ``starting_mrr_usd``, ``expansion_usd`` (increases of retained customers), ``contraction_usd``
    (decreases of those still paying), ``churned_usd`` (MRR of those with none in ``end``),
    ``ending_mrr_usd`` (the cohort's MRR in ``end``), ``nrr`` (a fraction; None when nothing started),
    ``customers`` and ``retained_customers``. LedgerError for months out of order.
    """
    if _bounds(start)[0] >= _bounds(end)[0]:
        raise LedgerError(f"net revenue retention from {start} to {end}: the start month must come first")
    per_month = _customer_mrr(source, [start, end])
    before = {c: f + u for c, (f, u) in per_month.get(start, {}).items()}
    after = {c: f + u for c, (f, u) in per_month.get(end, {}).items()}
    expansion = contraction = churned = ZERO
    for customer, was in before.items():
        now = after.get(customer, ZERO)
        if not now:
            churned += was
        elif now > was:
            expansion += now - was
        else:
            contraction += was - now
    starting = sum(before.values(), ZERO)
    ending = starting + expansion - contraction - churned
    return {
        "start": start,
        "end": end,
        "starting_mrr_usd": starting,
        "expansion_usd": expansion,
        "contraction_usd": contraction,
        "churned_usd": churned,
        "ending_mrr_usd": ending,
        "nrr": ratio(ending, starting),
        "customers": len(before),
        "retained_customers": sum(1 for c in before if after.get(c)),
    }


def _business_model(fee: Decimal, usage: Decimal) -> str:
    if fee and usage:
        return "fee + usage"
    return "subscription" if fee else "usage"


def revenue_by_business_model(
    source: Any, *, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Billed revenue recognised in ``[since, until)`` per month and business model: each customer-month is
    ``subscription`` (fees only), ``usage`` (usage charges only: pay as you go) or ``fee + usage`` (a fee
    with charges above its allowance); credit grants (prepaid or committed use) show as ``credits_usd``.
    Rows: ``month`` (UTC start), ``business_model``, ``customers``, ``fee_usd``, ``usage_usd``,
    ``credits_usd``, ``revenue_usd`` (fee + usage - credits, as ``usage_summary`` counts it) and
    ``fee_share`` (fee / (fee + usage)). Customer-months with no billed revenue are left out."""
    groups = billed_groups(source, ["customer"], bucket="month", since=since, until=until)
    totals: dict[tuple[Any, str], list[Any]] = {}
    for (bucket, _customer), entry in groups.items():
        if not (entry.fee or entry.usage):
            continue
        key = (bucket, _business_model(entry.fee, entry.usage))
        row = totals.setdefault(key, [0, ZERO, ZERO, ZERO])
        row[0] += 1
        row[1] += entry.fee
        row[2] += entry.usage
        row[3] += entry.credits
    out = []
    for (bucket, model), (customers, fee, usage, credits) in sorted(
        totals.items(), key=lambda kv: (kv[0][0], kv[0][1])
    ):
        out.append(
            {
                "month": utc(bucket),
                "business_model": model,
                "customers": customers,
                "fee_usd": fee.quantize(NANO),
                "usage_usd": usage.quantize(NANO),
                "credits_usd": credits.quantize(NANO),
                "revenue_usd": (fee + usage - credits).quantize(NANO),
                "fee_share": ratio(fee, fee + usage),
            }
        )
    return out
