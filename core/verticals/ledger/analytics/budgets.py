"""Per customer: spend this month against budget, and the month-end forecast from the run-rate."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from verticals.ledger._time import as_utc, from_db, month_start, next_month_start, to_db, utc_now
from verticals.ledger.analytics._query import connection_of, money

# The shortest history a run-rate is taken over. A customer created minutes ago has spent what a first
# test costs; dividing that by minutes and multiplying by the days left forecast $0.18 as $55. Below a
# day the spend so far is read as one day's spend.
MIN_FORECAST_HISTORY = timedelta(days=1)


def budget_status(source: Any, *, at: datetime | None = None) -> list[dict[str, Any]]:
    """One row per customer for the calendar month (UTC) holding ``at`` (default now).

    ``spend_usd`` is revenue from ``month start`` up to ``at``. ``history_days`` is the time behind it:
    since the month began, or since the customer was created if later. The run-rate
    (``run_rate_usd_per_day``) is the spend over that history, but over at least
    ``MIN_FORECAST_HISTORY`` (one day), so a customer's first minutes are not extrapolated over the
    month; ``forecast_usd`` = spend + run-rate x time left in the month. ``budget_used`` and
    ``forecast_vs_budget`` are fractions of the budget (None without one); ``over_budget_forecast``
    says whether the forecast exceeds it. Events still in the spool are not counted: flush first.
    """
    now = as_utc(at) if at is not None else utc_now()
    start, end = month_start(now), next_month_start(now)
    conn = connection_of(source)
    # one grouped scan of the month joined to the customers (PostgreSQL ran a correlated subquery once per
    # customer, each scanning the month)
    rows = conn.execute(
        "SELECT c.name, c.plan, c.budget_usd, c.status, c.created_at, s.spend FROM customers c "
        "LEFT JOIN (SELECT customer, sum(revenue_usd) AS spend FROM usage_events WHERE ts >= ? AND ts < ? "
        "GROUP BY customer) s ON s.customer = c.name ORDER BY c.name",
        [to_db(start), to_db(now)],
    ).fetchall()
    out = []
    for name, plan, budget, status, created, spend in rows:
        spend = money(spend)
        begun = max(start, from_db(created))
        elapsed = max((now - begun).total_seconds(), 0.0)
        basis = max(elapsed, MIN_FORECAST_HISTORY.total_seconds())
        remaining = (end - now).total_seconds()
        rate = spend / Decimal(str(basis))
        forecast = (spend + rate * Decimal(str(remaining))).quantize(Decimal("0.000001"))
        out.append(
            {
                "customer": name,
                "plan": plan,
                "status": status,
                "budget_usd": budget,
                "spend_usd": spend,
                "history_days": elapsed / 86400,
                "run_rate_usd_per_day": (rate * 86400).quantize(Decimal("0.000001")),
                "forecast_usd": forecast,
                "budget_used": float(spend / budget) if budget else None,
                "forecast_vs_budget": float(forecast / budget) if budget else None,
                "over_budget_forecast": bool(budget is not None and forecast > budget),
            }
        )
    return out
