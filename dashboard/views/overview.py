"""Overview: revenue, compute cost (idle included), gross margin, requests and active customers, against the
period before."""

from __future__ import annotations

import streamlit as st

from verticals.dashboard import ui

ctx = ui.page_header("Overview", "Is the business earning more than its compute costs?")
now = ui.read("summary", ctx.filters)
before = ui.read("summary", ctx.filters.previous())

if not now["requests"]:
    ui.empty_state("requests")
    st.stop()

cols = st.columns(5)
cols[0].metric(
    "Revenue",
    ui.usd(now["revenue_usd"]),
    ui.delta_pct(now["revenue_usd"], before["revenue_usd"]),
    help=(
        f"Billed revenue: plan fees recognised daily ({ui.usd(now['fee_revenue_usd'])}; the month in "
        f"progress up to now) + usage after allowances and tiers ({ui.usd(now['usage_revenue_usd'])}) - "
        f"credits ({ui.usd(now['credits_usd'])}), from finalized invoices, else drafts. Usage at list price: "
        f"{ui.usd(now['list_revenue_usd'])}."
    ),
    border=True,
)
cols[1].metric(
    "Compute cost",
    ui.usd(now["cost_usd"]),
    ui.delta_pct(now["cost_usd"], before["cost_usd"]),
    delta_color="inverse",
    help=(
        "Everything provisioned in the period, idle included: each device paid for once, "
        f"{ui.usd(now['request_cost_usd'])} carried by requests and {ui.usd(now['idle_cost_usd'])} idle "
        "(see Compute)."
    ),
    border=True,
)
cols[2].metric(
    "Gross margin",
    ui.usd(now["margin_usd"]),
    ui.delta_pct(now["margin_usd"], before["margin_usd"]),
    help=f"Revenue minus compute cost, idle included: {ui.pct(now['margin_ratio'])} of revenue.",
    border=True,
)
cols[3].metric(
    "Requests",
    f"{now['requests']:,}",
    ui.delta_pct(now["requests"], before["requests"]),
    help=f"{now['errors']:,} answered with an error.",
    border=True,
)
cols[4].metric(
    "Active customers",
    f"{now['active_customers']:,}",
    ui.delta_pct(now["active_customers"], before["active_customers"]),
    help="Customers with at least one request in the period.",
    border=True,
)

st.caption(
    f"Revenue is what customers are billed: {ui.usd(now['fee_revenue_usd'])} of plan fees and "
    f"{ui.usd(now['usage_revenue_usd'])} of usage after allowances and tiers, less "
    f"{ui.usd(now['credits_usd'])} of credits; the same requests at list price come to "
    f"{ui.usd(now['list_revenue_usd'])} (usage at list price, before fees, allowances, tiers and credits)."
)
st.caption(
    f"Contribution margin (revenue minus only the compute requests carried): "
    f"{ui.usd(now['contribution_margin_usd'])}. The gross margin also pays for idle capacity, "
    f"{ui.usd(now['idle_cost_usd'])} in this period."
)

series = ui.read("timeseries", ctx.filters)
grain, per = ui.period(ctx.filters)
left, right = st.columns(2)
with left:
    st.subheader("Revenue, cost and margin")
    ui.lines(
        series,
        "period",
        {"revenue_usd": "Revenue", "cost_usd": "Compute cost", "margin_usd": "Gross margin"},
        grain,
        f"USD per {per}",
        money_axis=True,
    )
with right:
    st.subheader("Requests")
    ui.bars(series, "period", {"requests": "Requests"}, grain, f"Requests per {per}")
st.subheader("By period")
ui.table(
    series,
    "overview",
    {
        "period": st.column_config.DatetimeColumn(
            grain, format="YYYY-MM-DD HH:mm" if ctx.filters.days <= 2 else "YYYY-MM-DD"
        ),
        "revenue_usd": ui.money_column("Revenue (USD)"),
        "cost_usd": ui.money_column("Compute cost, idle included (USD)"),
        "margin_usd": ui.money_column("Gross margin (USD)"),
        "requests": st.column_config.NumberColumn("Requests"),
        "errors": st.column_config.NumberColumn("Errors (5xx)"),
    },
)
