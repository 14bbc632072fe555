"""Customer concentration: how much of the revenue hangs on a few customers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger.analytics._billed import billed_groups
from verticals.ledger.analytics._query import NANO, Filters, connection_of, money
from verticals.ledger.errors import LedgerError


def concentration(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    plugin: str | None = None,
    model: str | None = None,
    top: int = 5,
    basis: str = "billed",
) -> dict[str, Any]:
    """Revenue concentration across customers.

    Returns ``total_revenue_usd``, ``customers`` (with any revenue), ``top1_share`` and
    ``top5_share`` (fractions of revenue), ``hhi`` (the Herfindahl-Hirschman index: the sum of
    squared revenue shares in percent, 0-10,000; above 2,500 counts as highly concentrated) and
    ``top``: the ``top`` largest customers with their revenue and share.

    Revenue is billed revenue (``basis="billed"``: fees recognised, usage after allowances and tiers,
    less credits, as ``usage_summary`` counts it); ``basis="list"``: usage at list price.
    """
    if basis == "billed":
        groups = billed_groups(source, ["customer"], since=since, until=until, plugin=plugin, model=model)
        billed = [(key[0], entry.revenue.quantize(NANO)) for key, entry in groups.items()]
        rows = sorted(((n, r) for n, r in billed if r > 0), key=lambda row: (-row[1], row[0]))
    elif basis == "list":
        where, params = Filters(since, until, None, plugin, model).where()
        sql = (
            "SELECT customer, sum(revenue_usd) AS revenue FROM usage_events "  # noqa: S608
            f"WHERE {where} GROUP BY customer HAVING sum(revenue_usd) > 0 ORDER BY revenue DESC, customer"
        )
        rows = [
            (name, money(revenue)) for name, revenue in connection_of(source).execute(sql, params).fetchall()
        ]
    else:
        raise LedgerError(
            f"revenue basis {basis!r}: use billed (invoiced revenue) or list (usage at list price)"
        )
    total = sum((revenue for _, revenue in rows), Decimal(0))
    if not total:
        return {"total_revenue_usd": total, "customers": 0, "top1_share": None, "top5_share": None,
                "hhi": None, "top": []}  # fmt: skip
    shares = [revenue / total for _, revenue in rows]
    return {
        "total_revenue_usd": total,
        "customers": len(rows),
        "top1_share": float(shares[0]),
        "top5_share": float(sum(shares[:5], Decimal(0))),
        "hhi": float(sum((share * 100) ** 2 for share in shares)),
        "top": [
            {"customer": name, "revenue_usd": revenue, "share": float(share)}
            for (name, revenue), share in zip(rows[:top], shares[:top], strict=True)
        ],
    }
