"""Cost anomalies: a customer-day that cost far more than that customer's recent days."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from verticals.ledger._time import as_utc
from verticals.ledger.analytics._query import Filters, connection_of, money
from verticals.ledger.errors import LedgerError

# Below this excess over the trailing median a day is not worth a look: against a $0.00 median any cent
# is "k times" it, and a risk page full of three-cent days hides the one that matters.
MIN_EXCESS_USD = Decimal("1.00")


def cost_anomalies(
    source: Any,
    *,
    k: float = 3.0,
    window_days: int = 7,
    min_days: int = 3,
    min_excess_usd: Decimal | str | float = MIN_EXCESS_USD,
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
) -> list[dict[str, Any]]:
    """Customer-days (UTC) whose compute cost exceeds ``k`` x the median daily cost of the same
    customer over the ``window_days`` calendar days before it, and exceeds that median by at least
    ``min_excess_usd`` (USD, default ``MIN_EXCESS_USD`` = $1.00; 0 reports every such day).

    Only days with usage count toward the median, and a day is judged only when at least
    ``min_days`` such days lie in its window (a new customer's first days are not anomalies).
    Days before ``since`` feed the window but are not reported. Rows: customer, day, cost_usd,
    trailing_median_usd, trailing_days, ratio (cost / median; None when the median is 0).
    """
    if not isinstance(window_days, int) or window_days < 1 or min_days < 1 or k <= 0:
        raise LedgerError("anomalies need k > 0, window_days >= 1 and min_days >= 1")
    try:
        min_excess = Decimal(str(min_excess_usd))
    except InvalidOperation:
        min_excess = Decimal(-1)
    if not min_excess.is_finite() or min_excess < 0:
        raise LedgerError(f"min_excess_usd must be an amount of 0 or more in USD, not {min_excess_usd!r}")
    lookback = as_utc(since) - timedelta(days=window_days + 1) if since is not None else None
    where, params = Filters(lookback, until, customer).where()
    sql = f"""
        WITH daily AS (
            SELECT customer, CAST(ts AS DATE) AS day, sum(cost_usd) AS cost
            FROM usage_events WHERE {where} GROUP BY ALL
        ), judged AS (
            SELECT customer, day, cost,
                median(cost) OVER win AS trailing_median,
                count(*) OVER win AS trailing_days
            FROM daily
            WINDOW win AS (PARTITION BY customer ORDER BY day
                RANGE BETWEEN INTERVAL {int(window_days)} DAYS PRECEDING AND INTERVAL 1 DAYS PRECEDING)
        )
        SELECT customer, day, cost, trailing_median, trailing_days FROM judged
        WHERE trailing_days >= ? AND CAST(cost AS DOUBLE) > ? * CAST(trailing_median AS DOUBLE)
            AND cost - trailing_median >= CAST(? AS DECIMAL(38, 9))
            AND (? IS NULL OR day >= CAST(? AS DATE))
        ORDER BY day, customer
    """  # noqa: S608
    since_day = as_utc(since).date() if since is not None else None
    rows = (
        connection_of(source)
        .execute(sql, [*params, min_days, k, str(min_excess), since_day, since_day])
        .fetchall()
    )
    out = []
    for name, day, cost, median, days in rows:
        cost, median = money(cost), money(median)
        out.append(
            {
                "customer": name,
                "day": day,
                "cost_usd": cost,
                "trailing_median_usd": median,
                "trailing_days": days,
                "ratio": float(cost / median) if median else None,
            }
        )
    return out
