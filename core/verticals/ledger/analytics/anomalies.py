"""Cost anomalies: a customer-day that cost far more than that customer's recent days."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from verticals.ledger._time import as_utc
from verticals.ledger.analytics._query import NANO, Filters, connection_of, money
from verticals.ledger.errors import LedgerError

# Below this excess over the trailing median a day is not worth a look: against a $0.00 median any cent
# is "k times" it, and a risk page full of three-cent days hides the one that matters.
MIN_EXCESS_USD = Decimal("1.00")


def _median(ordered: list[Decimal]) -> Decimal:
    """The median of ``ordered`` (sorted, not empty) as DuckDB's ``median`` of a DECIMAL(38,9) gives it: the
    lower middle value plus half the gap to the upper one, truncated to the nano-dollar."""
    middle = (len(ordered) - 1) // 2
    low, high = ordered[middle], ordered[len(ordered) // 2]
    return low + ((high - low) / 2).quantize(NANO, rounding=ROUND_DOWN)


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
    # Daily costs in SQL, the trailing window in Python: PostgreSQL has no median over a window, and a
    # customer has one row a day, so the window is small work either way.
    daily = (
        connection_of(source)
        .execute(
            "SELECT customer, CAST(ts AS DATE) AS day, sum(cost_usd) FROM usage_events "  # noqa: S608
            f"WHERE {where} GROUP BY customer, CAST(ts AS DATE) ORDER BY day, customer",
            params,
        )
        .fetchall()
    )
    since_day = as_utc(since).date() if since is not None else None
    history: dict[str, list[tuple[date, Decimal]]] = {}
    rows = []
    for name, day, cost in daily:
        cost = money(cost)
        past = history.setdefault(name, [])
        # the days with usage in [day - window_days, day - 1]: RANGE ... PRECEDING over calendar days
        window = sorted(c for d, c in past if day - timedelta(days=window_days) <= d < day)
        past.append((day, cost))
        if len(window) < min_days or (since_day is not None and day < since_day):
            continue
        median = _median(window)
        if float(cost) > k * float(median) and cost - median >= min_excess:
            rows.append((name, day, cost, median, len(window)))
    out = []
    for name, day, cost, median, days in rows:
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
