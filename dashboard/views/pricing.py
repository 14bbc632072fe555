"""Pricing lab: replay the period's recorded usage at other prices, side by side with what it earned."""

from __future__ import annotations

import streamlit as st

from verticals.dashboard import ui

ctx = ui.page_header(
    "Pricing lab", "Which price change would pay? Replay the period's usage at other prices."
)
current = ui.read("current_prices", ctx.filters)

if current.empty:
    ui.empty_state("usage in this period to replay")
    st.stop()

mode = st.radio(
    "Alternative",
    ["Edit prices per model", "Move every customer to one plan"],
    horizontal=True,
    key="pricing_mode",
)
prices: tuple[tuple[str, str, str], ...] = ()
plan: str | None = None
if mode == "Edit prices per model":
    st.caption(
        "Edit the **Alternative price** column. A model you leave alone keeps the revenue it actually "
        "earned; usage and compute cost (idle included) stay as recorded, so margin moves with revenue."
    )
    draft = current.assign(alt_price_usd=current["revenue_per_unit_usd"])
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
            "revenue_per_unit_usd": st.column_config.NumberColumn(
                "Earned per unit now (USD)", format="$%.8f"
            ),
            "alt_price_usd": st.column_config.NumberColumn(
                "Alternative price (USD per unit)", format="$%.8f", min_value=0.0, step=1e-8, required=True
            ),
        },
    )
    changed = edited[(edited["alt_price_usd"] - edited["revenue_per_unit_usd"]).abs() > 1e-12]
    prices = tuple((str(r.model), str(r.unit), repr(float(r.alt_price_usd))) for r in changed.itertuples())
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
cols[0].metric("Actual revenue", ui.usd(total["actual_revenue_usd"]), border=True)
cols[1].metric(
    "What-if revenue", ui.usd(total["whatif_revenue_usd"]), ui.usd(total["revenue_change_usd"]), border=True
)
cols[2].metric("Actual gross margin", ui.usd(total["actual_margin_usd"]), border=True)
cols[3].metric(
    "What-if gross margin",
    ui.usd(total["whatif_margin_usd"]),
    ui.usd(total["whatif_margin_usd"] - total["actual_margin_usd"]),
    border=True,
)
if mode == "Edit prices per model" and not prices:
    st.caption("No price changed yet: the what-if equals the actual.")

money = {
    "requests": st.column_config.NumberColumn("Requests"),
    "repriced_requests": st.column_config.NumberColumn("Repriced requests"),
    "actual_revenue_usd": ui.money_column("Actual revenue (USD)"),
    "whatif_revenue_usd": ui.money_column("What-if revenue (USD)"),
    "revenue_change_usd": ui.money_column("Revenue change (USD)"),
    "cost_usd": ui.money_column("Compute cost, idle included (USD)"),
    "actual_margin_usd": ui.money_column("Actual gross margin (USD)"),
    "whatif_margin_usd": ui.money_column("What-if gross margin (USD)"),
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
            {"actual_revenue_usd": "Actual revenue", "whatif_revenue_usd": "What-if revenue"},
            key.capitalize(),
            "USD in the period",
            horizontal=True,
            money_axis=True,
            height=max(260, 45 * min(len(frame), 15) + 80),
        )
        ui.table(frame, f"what-if-{key}", {key: key.capitalize(), **money})
