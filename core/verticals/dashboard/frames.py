"""Shared by the figure modules: JSON-shaped analytics rows to DataFrames, and the time conventions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from verticals.dashboard.filters import Filters

MONEY = (
    "revenue_usd",
    "cost_usd",
    "margin_usd",
    "budget_usd",
    "spend_usd",
    "forecast_usd",
    "provisioned_cost_usd",
    "allocated_cost_usd",
    "idle_cost_usd",
    "usd_per_hour",
    "revenue_per_busy_hour_usd",
    "revenue_per_1k_units_usd",
    "cost_per_1k_units_usd",
    "revenue_per_unit_usd",
    "cost_per_unit_usd",
    "margin_per_1k_units_usd",
    "run_rate_usd_per_day",
    "total_revenue_usd",
)


def frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Rows as a DataFrame with at least ``columns`` (an empty result keeps its columns), money as float."""
    df = pd.DataFrame(rows)
    for column in columns:
        if column not in df.columns:
            df[column] = pd.Series(dtype="object")
    for column in df.columns:
        if (
            column in MONEY
            or column.endswith(("_usd", "_ms", "_hours", "_days", "_share", "_rate"))
            or column
            in (
                "utilization",
                "share",
                "break_even_utilization",
                "budget_used",
                "forecast_vs_budget",
                "units",
                "units_in",
                "units_out",
                "requests",
                "errors",
                "margin_ratio",
                "contribution_margin_ratio",
                "value",
            )
        ):
            df[column] = pd.to_numeric(df[column], errors="coerce")
    return df


def number(value: Any) -> float:
    """``value`` as a float (Decimal, int, or numeric string from JSON), None as 0.0; ValueError for a
    non-numeric string.
    """
    return 0.0 if value is None else float(value)


def grain(filters: Filters) -> str:
    """Hours for a range of two days or less, days otherwise."""
    return "hour" if filters.days <= 2 else "day"


def as_of(filters: Filters) -> datetime:
    """The end of the range, or now when the range reaches today (budgets and prices are 'as of')."""
    return min(filters.until, datetime.now(UTC))
