"""Pricing lab: a month's invoices with customers moved between plans, or a plan's fee, allowances and
prices changed, against the invoices as they are, on that month's real usage; and the period's usage
replayed at other list prices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import streamlit as st

from verticals.dashboard import ui
from verticals.dashboard.billing_figures import month_of, previous_month, variation

ctx = ui.page_header(
    "Pricing lab",
    "Which plan or price change would pay? Rebill a month's real usage under other plans, before and after.",
)

st.subheader("Plans and prices on a month's invoices")
this_month = month_of(datetime.now(UTC).date())
choices = [previous_month(this_month)]
for _ in range(5):
    choices.append(previous_month(choices[-1]))
month = st.selectbox(
    "Month (UTC)",
    [*choices, this_month],
    key="lab_month",
    help="Last month by default: its real usage, billed by the engine as the plans are and as edited here. "
    "Nothing is written to the ledger.",
)
books = ui.read("lab_books", None, month)
st.caption(
    "Edit any table: move a customer to another plan, change a plan's monthly fee, an allowance (a unit a "
    "month, optionally for a model or a `plugin/*`), or a price row (charge model per_unit, package, "
    "graduated or volume; tiers as `UP_TO:PRICE[:FLAT]` separated by spaces, `inf` for the last). Rows can "
    "be added to the allowances and prices."
)
plans = books.plans["plan"].tolist()
edit_left, edit_right = st.columns(2)
with edit_left:
    moved = st.data_editor(
        books.customers,
        key="lab_customers",
        hide_index=True,
        disabled=["customer"],
        column_config={
            "customer": "Customer",
            "plan": st.column_config.SelectboxColumn("Plan", options=plans),
        },
    )
    fees = st.data_editor(
        books.plans,
        key="lab_plans",
        hide_index=True,
        disabled=["plan"],
        column_config={
            "plan": "Plan",
            "monthly_fee_usd": st.column_config.NumberColumn(
                "Monthly fee (USD)", format="$%.2f", min_value=0.0
            ),
        },
    )
with edit_right:
    allowances = st.data_editor(
        books.allowances,
        key="lab_allowances",
        hide_index=True,
        num_rows="dynamic",
        column_config={
            "plan": st.column_config.SelectboxColumn("Plan", options=plans),
            "unit": "Unit",
            "model": "Model or plugin/*",
            "quantity": st.column_config.NumberColumn("Included a month", min_value=0.0),
        },
    )
    price_rows = st.data_editor(
        books.prices,
        key="lab_prices",
        hide_index=True,
        num_rows="dynamic",
        column_config={
            "plan": st.column_config.SelectboxColumn("Plan", options=plans),
            "charge_model": st.column_config.SelectboxColumn(
                "Charge model", options=["per_unit", "package", "graduated", "volume"]
            ),
            "model": "Model",
            "plugin": "Plugin",
            "unit": "Unit",
            "price_per_unit_usd": "Price (USD per unit, per package, or first tier's)",
            "package_size": "Package size",
            "tiers": "Tiers",
        },
    )
edits = variation(books, moved, fees, allowances, price_rows)
lab = ui.read("plan_lab", None, month, edits)
lab_total = lab["total"]
tiles = st.columns(4)
tiles[0].metric(f"Revenue {month}, as billed", ui.usd(lab_total["revenue_before_usd"]), border=True)
tiles[1].metric(
    "Revenue with the edits",
    ui.usd(lab_total["revenue_after_usd"]),
    ui.usd(lab_total["revenue_change_usd"]),
    border=True,
)
tiles[2].metric("Gross margin, as billed", ui.usd(lab_total["margin_before_usd"]), border=True)
tiles[3].metric(
    "Gross margin with the edits",
    ui.usd(lab_total["margin_after_usd"]),
    ui.usd(lab_total["margin_after_usd"] - lab_total["margin_before_usd"]),
    border=True,
    help="Compute cost (idle included) does not depend on prices: the margin moves with the revenue.",
)
if edits == variation(books, books.customers, books.plans, books.allowances, books.prices):
    st.caption("Nothing edited yet: the edited invoices equal the invoices as billed.")
if lab["customers"].empty:
    st.caption(f"No customer had anything to bill in {month}: pick another month.")
ui.table(
    lab["customers"],
    f"pricing-lab-{month}",
    {
        "customer": "Customer",
        "plan_before": "Plan",
        "plan_after": "Plan in the lab",
        "revenue_before_usd": ui.money_column("Invoice total (USD)"),
        "revenue_after_usd": ui.money_column("Edited invoice total (USD)"),
        "revenue_change_usd": ui.money_column("Change (USD)"),
        "cost_usd": ui.money_column("Compute cost, idle included (USD)"),
        "margin_before_usd": ui.money_column("Gross margin (USD)"),
        "margin_after_usd": ui.money_column("Edited gross margin (USD)"),
        "margin_before_ratio": ui.percent_column("Gross margin (%)"),
        "margin_after_ratio": ui.percent_column("Edited gross margin (%)"),
    },
)

st.subheader("Usage at list price, replayed per model")
current = ui.read("current_prices", ctx.filters)

if current.empty:
    ui.empty_state("usage in this period to replay")
    st.stop()

st.caption(
    "What the period's requests would have been charged at other list prices (the price the gateway "
    "records per request: price x units, before fees, allowances, tiers and credits)."
)
mode = st.radio(
    "Alternative",
    ["Edit prices per model", "Move every customer to one plan"],
    horizontal=True,
    key="pricing_mode",
)
prices: tuple[tuple[str, str, str], ...] = ()
TOKENS_QUOTED_PER = 1_000_000
PLACES = Decimal("0.000000000001")
plan: str | None = None
if mode == "Edit prices per model":
    st.caption(
        "Edit the **Alternative price** column. A model you leave alone keeps the revenue it actually "
        "earned; usage and compute cost (idle included) stay as recorded, so margin moves with revenue."
    )
    # Token prices are quoted per 1M tokens, as the trade quotes them; other units per unit. Stored per unit.
    per_units = current["unit"].map(lambda unit: TOKENS_QUOTED_PER if unit == "tokens" else 1)
    now = current["revenue_per_unit_usd"] * per_units
    draft = current.assign(
        per=current["unit"].map(lambda unit: "1M tokens" if unit == "tokens" else unit.rstrip("s")),
        now_price_usd=now,
        alt_price_usd=now,
    ).drop(columns=["revenue_per_unit_usd"])
    edited = st.data_editor(
        draft,
        key="pricing_editor",
        hide_index=True,
        disabled=[c for c in draft.columns if c != "alt_price_usd"],
        column_config={
            "model": "Model",
            "unit": "Unit",
            "units": st.column_config.NumberColumn("Units in the period", format="%.0f"),
            "revenue_usd": ui.money_column("Revenue (USD)"),
            "per": "Price per",
            "now_price_usd": st.column_config.NumberColumn("Earned now (USD)", format="$%.6f"),
            "alt_price_usd": st.column_config.NumberColumn(
                "Alternative price (USD)", format="$%.6f", min_value=0.0, step=1e-6, required=True
            ),
        },
    )
    # A price counts as changed when it differs beyond float noise, relative to its size.
    moved = (edited["alt_price_usd"] - edited["now_price_usd"]).abs() > 1e-9 * edited[
        "now_price_usd"
    ].abs().clip(lower=1e-12)
    changed = edited[moved]
    prices = tuple(
        # the book keeps 12 decimal places per unit
        (
            str(r.model),
            str(r.unit),
            str((Decimal(repr(r.alt_price_usd)) / per_units[r.Index]).quantize(PLACES)),
        )
        for r in changed.itertuples()
    )
else:
    plans = [row["name"] for row in ui.read("plans")]
    plan = st.selectbox(
        "Price every request as plan",
        plans,
        key="pricing_plan",
        help="Uses that plan's price book in force at the end of the period.",
    )

result = ui.read("what_if", ctx.filters, prices, plan)
total = result["total"]
cols = st.columns(4)
cols[0].metric("Usage at list price", ui.usd(total["actual_revenue_usd"]), border=True)
cols[1].metric(
    "What-if usage at list price",
    ui.usd(total["whatif_revenue_usd"]),
    ui.usd(total["revenue_change_usd"]),
    border=True,
)
cols[2].metric("Margin on usage at list price", ui.usd(total["actual_margin_usd"]), border=True)
cols[3].metric(
    "What-if margin on usage at list price",
    ui.usd(total["whatif_margin_usd"]),
    ui.usd(total["whatif_margin_usd"] - total["actual_margin_usd"]),
    border=True,
)
if mode == "Edit prices per model" and not prices:
    st.caption("No price changed yet: the what-if equals the actual.")

money = {
    "requests": st.column_config.NumberColumn("Requests"),
    "repriced_requests": st.column_config.NumberColumn("Repriced requests"),
    "actual_revenue_usd": ui.money_column("Usage at list price (USD)"),
    "whatif_revenue_usd": ui.money_column("What-if usage at list price (USD)"),
    "revenue_change_usd": ui.money_column("Revenue change (USD)"),
    "cost_usd": ui.money_column("Compute cost, idle included (USD)"),
    "actual_margin_usd": ui.money_column("Margin on usage at list price (USD)"),
    "whatif_margin_usd": ui.money_column("What-if margin on usage at list price (USD)"),
}
left, right = st.columns(2)
for column, (title, key) in zip(
    (left, right), (("Per customer", "customer"), ("Per model", "model")), strict=True
):
    frame = result[f"by_{key}"]
    with column:
        st.subheader(title)
        ui.bars(
            frame.head(15),
            key,
            {"actual_revenue_usd": "At list price", "whatif_revenue_usd": "At the what-if list price"},
            key.capitalize(),
            "USD in the period",
            horizontal=True,
            money_axis=True,
            height=max(260, 45 * min(len(frame), 15) + 80),
        )
        ui.table(frame, f"what-if-{key}", {key: key.capitalize(), **money})
