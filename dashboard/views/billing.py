"""Billing: recurring revenue over time, a month's invoices by status, and one invoice's lines with the
compute each cost and the margin it left, with the invoice as JSON, CSV or PDF."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from verticals.billing import exports
from verticals.dashboard import ui

ctx = ui.page_header(
    "Billing", "What do customers pay every month, and what does each invoice line earn over its compute?"
)
history = ui.read("mrr_history", ctx.filters)
invoiced = ui.read("invoiced_months", ctx.filters)

if not invoiced and not history["mrr_usd"].fillna(0).any():
    ui.empty_state(
        "recurring revenue or invoices",
        "Subscribe customers to plans (`verticals subscriptions set CUSTOMER PLAN`) and send traffic, or run "
        "`verticals demo --backfill-days 30`; `verticals invoices finalize --month YYYY-MM` issues a closed "
        "month's invoices.",
    )
    st.stop()

latest = history.iloc[-1]
closed = set(history.loc[history["closed"].astype(bool), "month"])
months = list(reversed(history["month"].tolist()))
# the last closed month with invoices, else the newest month with any (drafts of the month in progress)
default = next((m for m in invoiced if m in closed), invoiced[0] if invoiced else months[0])
month = st.selectbox(
    "Month (UTC)",
    months,
    index=months.index(default) if default in months else 0,
    key="billing_month",
    help="The last closed month with invoices by default; the month in progress shows drafts recomputed now.",
)
retention = ui.read("net_revenue_retention", None, month)

cols = st.columns(4)
cols[0].metric(
    f"MRR ({latest['month']})",
    ui.usd(latest["mrr_usd"]),
    help=(
        f"Fees of the plans customers are on ({ui.usd(latest['fee_mrr_usd'])}) plus the usage charges, less "
        f"credits, of the last completed month ({ui.usd(latest['usage_mrr_usd'])})."
    ),
    border=True,
)
cols[1].metric(
    "ARPU",
    ui.usd(latest["arpu_usd"]),
    help=f"MRR over {int(latest['customers'])} paying customers.",
    border=True,
)
cols[2].metric(
    f"Net revenue retention ({month})",
    ui.pct(retention.get("nrr")),
    help=(
        f"Of the customers paying in {retention.get('start')}: their MRR in {month} over theirs then "
        f"(expansion {ui.usd(retention.get('expansion_usd'))}, contraction "
        f"{ui.usd(retention.get('contraction_usd'))}, churn {ui.usd(retention.get('churned_usd'))})."
    ),
    border=True,
)
status = ui.read("invoice_status", None, month)
cols[3].metric(
    f"Invoiced in {month}",
    ui.usd(float(status["total_usd"][status["status"] != "void"].sum()) if not status.empty else 0.0),
    help="Finalized invoices and drafts (void ones are replaced by their corrections).",
    border=True,
)

left, right = st.columns(2)
with left:
    st.subheader("MRR over time")
    ui.lines(
        history,
        "period",
        {"mrr_usd": "MRR", "fee_mrr_usd": "Fees", "usage_mrr_usd": "Usage"},
        "Month (UTC)",
        "USD per month",
        money_axis=True,
    )
with right:
    st.subheader("Revenue by business model")
    mix = ui.read("revenue_mix", ctx.filters)
    if mix.empty:
        st.caption("No billed revenue in the sidebar's dates.")
    else:
        ui.bars(
            mix,
            "business_model",
            {"fee_usd": "Fees", "usage_usd": "Usage after allowances and tiers", "credits_usd": "Credits"},
            "Business model",
            "USD in the sidebar's dates",
            money_axis=True,
        )
        ui.table(mix, "revenue-by-business-model")

st.subheader(f"Invoices of {month}")
ui.table(
    status, "invoices-by-status", {"status": "Status", "invoices": "Invoices", "total_usd": "Total (USD)"}
)
invoices = ui.read("invoices", None, month, ctx.filters.customer)
if invoices.empty:
    st.info(f"No invoice for {month}: no customer had anything to bill.", icon=":material/info:")
    st.stop()
ui.table(
    invoices,
    "invoices",
    {
        "number": "Number",
        "month": "Month",
        "status": "Status",
        "fee_usd": ui.money_column("Fees (USD)"),
        "usage_usd": ui.money_column("Usage (USD)"),
        "credits_usd": ui.money_column("Credits (USD)"),
        "total_usd": ui.money_column("Total (USD)"),
        "compute_cost_usd": ui.money_column("Compute its requests cost (USD)"),
        "margin_usd": ui.money_column("Total less that compute (USD)"),
    },
)

labels = [
    f"{row.customer}: {row.number or 'draft'} ({row.status}, {ui.usd(row.total_usd)})"
    for row in invoices.itertuples()
]
picked = st.selectbox("Invoice", range(len(labels)), format_func=labels.__getitem__, key="billing_invoice")
chosen = invoices.iloc[int(picked or 0)]
number = None if pd.isna(chosen["number"]) else str(chosen["number"])
customer = str(chosen["customer"])
lines = ui.read("invoice_lines", None, number, customer, month)
st.subheader(f"Lines of {number or f'the draft of {customer}'}")
st.caption(
    "Each usage line's compute cost is what its requests cost plus its share of the idle time of the devices "
    "they ran on (as on the Customers page); fees use no compute, credits are negative amounts."
)
ui.table(
    lines,
    f"invoice-lines-{number or customer + '-' + month}",
    {
        "kind": "Line",
        "description": "Description",
        "amount_usd": ui.money_column("Amount (USD)"),
        "request_cost_usd": ui.money_column("Requests' compute (USD)"),
        "idle_cost_usd": ui.money_column("Idle share (USD)"),
        "cost_usd": ui.money_column("Compute cost (USD)"),
        "margin_usd": ui.money_column("Margin (USD)"),
        "margin_ratio": ui.percent_column("Margin (% of amount)"),
    },
)

invoice = exports.from_dict(ui.read("invoice_document", None, number, customer, month))
name = f"invoice-{number}" if number else f"invoice-{customer}-{month}-draft"
downloads = st.columns(3)
downloads[0].download_button(
    "Download JSON", exports.to_json(invoice).encode(), f"{name}.json", "application/json",
    key="invoice-json", icon=":material/download:", on_click="ignore",
)  # fmt: skip
downloads[1].download_button(
    "Download CSV", exports.to_csv(invoice).encode(), f"{name}.csv", "text/csv",
    key="invoice-csv", icon=":material/download:", on_click="ignore",
)  # fmt: skip
downloads[2].download_button(
    "Download PDF", exports.pdf_bytes(invoice), f"{name}.pdf", "application/pdf",
    key="invoice-pdf", icon=":material/download:", on_click="ignore",
)  # fmt: skip
