"""Customer concentration: how much of the revenue hangs on a few customers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from verticals.ledger.analytics._query import Filters, connection_of, money


def concentration(
    source: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    plugin: str | None = None,
    model: str | None = None,
    top: int = 5,
) -> dict[str, Any]:
    """Revenue concentration across customers.

    Returns ``total_revenue_usd``, ``customers`` (with any revenue), ``top1_share`` and
    ``top5_share`` (fractions of revenue), ``hhi`` (the Herfindahl-Hirschman index: the sum of
    squared revenue shares in percent, 0-10,000; above 2,500 counts as highly concentrated) and
    ``top``: the ``top`` largest customers with their revenue and share.
    """
    where, params = Filters(since, until, None, plugin, model).where()
    sql = (
        "SELECT customer, sum(revenue_usd) AS revenue FROM usage_events "  # noqa: S608
        f"WHERE {where} GROUP BY customer HAVING sum(revenue_usd) > 0 ORDER BY revenue DESC, customer"
    )
    rows = [(name, money(revenue)) for name, revenue in connection_of(source).execute(sql, params).fetchall()]
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
