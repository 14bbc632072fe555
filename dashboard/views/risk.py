"""Risk: revenue concentration, budgets, SLA breaches, cost anomalies and failing evaluations."""

from __future__ import annotations

import streamlit as st

from verticals.dashboard import ui

ctx = ui.page_header("Risk", "What risk is building up?")

with st.expander("Targets and thresholds", icon=":material/tune:"):
    c = st.columns(4)
    top1_limit = (
        c[0].number_input("Top-1 customer share limit (%)", 1.0, 100.0, 25.0, 1.0, key="risk_top1") / 100
    )
    hhi_limit = c[1].number_input(
        "HHI limit (0-10,000)",
        100,
        10_000,
        2_500,
        100,
        key="risk_hhi",
        help="2,500 is the usual line above which a market counts as highly concentrated.",
    )
    near = c[2].number_input("Near budget at (% used)", 10.0, 100.0, 80.0, 5.0, key="risk_near") / 100
    p95_target = c[3].number_input("Latency p95 target (ms)", 1.0, 600_000.0, 2_000.0, 100.0, key="risk_p95")
    c = st.columns(4)
    error_target = c[0].number_input("Error rate target (%)", 0.0, 100.0, 1.0, 0.1, key="risk_errors") / 100
    k = c[1].number_input("Anomaly: cost above k x trailing median, k =", 1.1, 100.0, 3.0, 0.5, key="risk_k")
    window = int(c[2].number_input("Anomaly: trailing window (days)", 2, 90, 14, 1, key="risk_window"))
    min_excess = c[3].number_input(
        "Anomaly: at least this much above the median (USD)",
        0.0,
        1_000_000.0,
        1.0,
        0.5,
        key="risk_min_excess",
        help="Against a $0.00 median any cent is k times it: days closer to their median are not shown.",
    )

st.subheader("Recent alerts")
alerts = ui.read("alerts", ctx.filters)
if "missing" in alerts.attrs:
    st.warning(f"Alerts cannot be shown: {alerts.attrs['missing']}.", icon=":material/update:")
elif alerts.empty:
    st.success(
        "No alert in this range: no budget threshold crossed, cost anomaly, backend down or failing "
        "evaluation. `[alerts] webhook_url` in verticals.toml sends them to your chat as they happen.",
        icon=":material/check_circle:",
    )
else:
    ui.table(
        alerts,
        "recent-alerts",
        {"time": st.column_config.DatetimeColumn("Raised (UTC)", format="YYYY-MM-DD HH:mm:ss")},
    )

st.subheader("Revenue concentration")
conc = ui.read("concentration", ctx.filters)
if not conc["customers"]:
    ui.empty_state("revenue")
else:
    cols = st.columns(3)
    cols[0].metric(
        "Top-1 customer share",
        ui.pct(conc["top1_share"]),
        border=True,
        delta="above limit" if conc["top1_share"] > top1_limit else "within limit",
        delta_color="inverse" if conc["top1_share"] > top1_limit else "off",
    )
    cols[1].metric("Top-5 customers share", ui.pct(conc["top5_share"]), border=True)
    cols[2].metric(
        "Herfindahl-Hirschman index",
        f"{conc['hhi']:,.0f}",
        border=True,
        delta="above limit" if conc["hhi"] > hhi_limit else "within limit",
        delta_color="inverse" if conc["hhi"] > hhi_limit else "off",
        help="Sum of squared revenue shares in percent: 10,000 is one customer, lower is spread out.",
    )
    shares = conc["shares"]
    ui.bars(
        shares.head(15),
        "customer",
        {"share": "Share of revenue"},
        "Customer",
        "Share of revenue (%)",
        horizontal=True,
        percent_axis=True,
        height=max(240, 35 * min(len(shares), 15) + 80),
    )
    ui.table(
        shares,
        "revenue-shares",
        {"revenue_usd": ui.money_column("Revenue (USD)"), "share": ui.percent_column("Share of revenue")},
    )

st.subheader("Customers over or near budget")
budgets = ui.read("budgets", ctx.filters)
at_risk = (
    budgets[(budgets["used_pct"] >= near) | (budgets["forecast_pct"] >= 1)] if not budgets.empty else budgets
)
if at_risk.empty:
    st.success(
        f"No customer has used {near:.0%} of their budget or is forecast to pass it.",
        icon=":material/check_circle:",
    )
else:
    ui.table(
        at_risk,
        "budget-risk",
        {
            "budget_usd": ui.money_column("Monthly budget (USD)"),
            "spend_usd": ui.money_column("Spent this month (USD)"),
            "forecast_usd": ui.money_column("Forecast month end (USD)"),
            "used_pct": ui.percent_column("Budget used"),
            "forecast_pct": ui.percent_column("Forecast / budget"),
        },
    )

st.subheader("SLA breaches")
breaches = ui.read("sla_breaches", ctx.filters, p95_target, error_target)
if breaches.empty:
    st.success(
        f"Every model met p95 <= {p95_target:,.0f} ms and error rate <= {error_target:.1%}.",
        icon=":material/check_circle:",
    )
else:
    ui.table(
        breaches,
        "sla-breaches",
        {
            "p95_ms": st.column_config.NumberColumn("p95 (ms)", format="%.0f"),
            "error_rate": ui.percent_column("Error rate"),
        },
    )

st.subheader("Cost anomalies")
anomalies = ui.read("anomalies", ctx.filters, float(k), window, float(min_excess))
if anomalies.empty:
    st.success(
        f"No customer-day cost above {k:g} x the median of its trailing {window} days and at least "
        f"{ui.usd(min_excess)} above it.",
        icon=":material/check_circle:",
    )
else:
    ui.table(
        anomalies,
        "cost-anomalies",
        {
            "cost_usd": ui.money_column("Cost that day (USD)"),
            "trailing_median_usd": ui.money_column("Trailing median (USD)"),
            "ratio": st.column_config.NumberColumn("x median", format="%.1f"),
        },
    )

st.subheader("Evaluations")
failing = ui.read("failing_evaluations", ctx.filters)
suites = int(failing.attrs.get("suites", 0))
if "missing" in failing.attrs:
    st.warning(f"Evaluation results cannot be checked: {failing.attrs['missing']}.", icon=":material/update:")
elif not suites:
    st.warning(
        "No evaluation has run, so nothing says the models still answer well. `verticals eval --fast` "
        "runs the suites of every model that evaluates in seconds on a CPU; `verticals eval MODEL` one "
        "model's.",
        icon=":material/help:",
    )
elif failing.empty:
    st.success(
        f"Evaluations passed: the latest run of each of {suites} model suites met its thresholds.",
        icon=":material/check_circle:",
    )
else:
    pairs = len(failing.groupby(["model", "suite"]))
    # a warning, not st.error: the page works, it is the models that fell short
    st.warning(
        f"Evaluations failed: the latest run of {pairs} of {suites} model suites missed a threshold "
        "(the metrics below).",
        icon=":material/error:",
    )
    ui.table(
        failing,
        "failing-evaluations",
        {
            "time": st.column_config.DatetimeColumn("Run time (UTC)", format="YYYY-MM-DD HH:mm"),
        },
    )
