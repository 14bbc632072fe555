"""Customers: who uses what, who is profitable, and who is heading past their budget."""

from __future__ import annotations

import streamlit as st

from verticals.dashboard import ui

ctx = ui.page_header("Customers", "Is each customer profitable, and who will run past their budget?")
customers = ui.read("by_customer", ctx.filters)

if customers.empty:
    ui.empty_state("customer usage")
else:
    st.subheader("Revenue, cost and margin per customer")
    st.caption(
        "Compute cost is what a customer's requests carried plus its share of the idle time of the devices "
        "they ran on, in proportion to its busy seconds there; (idle) is capacity no request used. Gross "
        "margin is revenue minus that cost; contribution margin subtracts only what the requests carried. "
        "Revenue is billed revenue (plan fees recognised daily, usage after allowances and tiers, less "
        "credits); a customer paying a fee with no requests in the period has a row too."
    )
    top = customers.head(15)
    ui.bars(
        top,
        "customer",
        {"revenue_usd": "Revenue", "cost_usd": "Compute cost", "margin_usd": "Gross margin"},
        "Customer",
        "USD in the period",
        horizontal=True,
        money_axis=True,
        height=max(260, 40 * len(top) + 80),
    )
    ui.table(
        customers,
        "customers",
        {
            "customer": "Customer",
            "plan": "Plan",
            "requests": st.column_config.NumberColumn("Requests"),
            "errors": st.column_config.NumberColumn("Errors (5xx)"),
            "revenue_usd": ui.money_column("Revenue (USD)"),
            "cost_usd": ui.money_column("Compute cost, idle included (USD)"),
            "idle_cost_usd": ui.money_column("of which idle share (USD)"),
            "margin_usd": ui.money_column("Gross margin (USD)"),
            "margin_ratio": ui.percent_column("Gross margin (% of revenue)"),
            "contribution_margin_usd": ui.money_column("Contribution margin (USD)"),
            "fee_revenue_usd": ui.money_column("of revenue: plan fees (USD)"),
            "usage_revenue_usd": ui.money_column("of revenue: usage after allowances (USD)"),
            "credits_usd": ui.money_column("of revenue: credits deducted (USD)"),
            "list_revenue_usd": ui.money_column("Usage at list price (USD)"),
        },
    )

st.subheader("Spend this month against budget")
budgets = ui.read("budgets", ctx.filters)
if budgets.empty:
    ui.empty_state(
        "customers with a budget",
        "Give a customer a monthly budget: `verticals customers create NAME --plan PLAN --budget USD`.",
    )
else:
    st.caption(
        f"Month to {budgets.attrs.get('as_of', ctx.filters.end)}; the forecast extends this month's "
        "run-rate to month end, the run-rate taken over at least one day: a customer with less history "
        "this month counts as having spent its spend so far in one day, so a first test's few minutes "
        "are not extrapolated over the month."
    )
    ui.bars(
        budgets,
        "customer",
        {"used_pct": "Spent so far", "forecast_pct": "Forecast at month end"},
        "Customer",
        "Share of the monthly budget (%)",
        horizontal=True,
        percent_axis=True,
        reference=(1.0, "budget"),
        height=max(260, 50 * len(budgets) + 80),
    )
    ui.table(
        budgets,
        "budgets",
        {
            "customer": "Customer",
            "plan": "Plan",
            "budget_usd": ui.money_column("Monthly budget (USD)"),
            "spend_usd": ui.money_column("Spent this month (USD)"),
            "history_days": st.column_config.NumberColumn(
                "History this month (days)",
                format="%.1f",
                help="Time since the month began, or since the customer was created if later.",
            ),
            "forecast_usd": ui.money_column("Forecast month end (USD)"),
            "used_pct": ui.percent_column("Budget used"),
            "forecast_pct": ui.percent_column("Forecast / budget"),
        },
    )
