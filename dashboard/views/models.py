"""Models and plugins: traffic, latency, errors, unit economics and evaluation results per model."""

from __future__ import annotations

import streamlit as st

from verticals.dashboard import ui

EVAL_HINT = (
    "`verticals eval MODEL` runs one model's suites, `verticals eval --fast` those of every model that "
    "evaluates in seconds on a CPU (`make up` runs it once the gateway is ready)."
)

ctx = ui.page_header(
    "Models and plugins", "Which models carry the traffic, how fast, how reliably, at what unit cost?"
)
models = ui.read("by_model", ctx.filters)

if models.empty:
    ui.empty_state("model traffic")
else:
    traffic = ui.read("model_timeseries", ctx.filters)
    grain, per = ui.period(ctx.filters)
    left, right = st.columns(2)
    with left:
        st.subheader("Requests per model")
        wide = traffic.pivot_table(
            index="period", columns="model", values="requests", fill_value=0
        ).reset_index()
        ui.bars(
            wide,
            "period",
            {m: m for m in wide.columns if m != "period"},
            grain,
            f"Requests per {per}",
            stacked=True,
        )
    with right:
        st.subheader("Latency per model")
        ui.bars(
            models,
            "model",
            {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"},
            "Model",
            "Latency (ms, log scale)",
            log_axis=True,
        )
    ui.table(
        models,
        "models",
        {
            "plugin": "Plugin",
            "model": "Model",
            "requests": st.column_config.NumberColumn("Requests"),
            "error_rate": ui.percent_column("Error rate"),
            "p50_ms": st.column_config.NumberColumn("p50 (ms)", format="%.0f"),
            "p95_ms": st.column_config.NumberColumn("p95 (ms)", format="%.0f"),
            "p99_ms": st.column_config.NumberColumn("p99 (ms)", format="%.0f"),
            "unit": "Unit",
            "units": st.column_config.NumberColumn("Units", format="%.0f"),
            "revenue_usd": ui.money_column(
                "Revenue (USD)",
                help="Billed usage revenue: usage after allowances and tiers, less credits; plan fees "
                "belong to no model.",
            ),
            "cost_usd": ui.money_column("Compute cost, idle share included (USD)"),
            "cost_per_1k_units_usd": st.column_config.NumberColumn(
                "Cost per 1k units, idle share included (USD)", format="$%.4f"
            ),
            "evaluation": st.column_config.TextColumn(
                "Latest evaluation scores",
                help="The latest run of each of the model's evaluation suites up to the range's end.",
            ),
            "evaluation_passed": st.column_config.CheckboxColumn(
                "Evaluation passed", help="Every metric of those runs within its thresholds."
            ),
            "revenue_per_1k_units_usd": st.column_config.NumberColumn(
                "Revenue per 1k units (USD)",
                format="$%.4f",
                help="Billed usage revenue per 1,000 units (after allowances, tiers and credits).",
            ),
        },
    )
    st.caption(
        "For token models a unit is a token, so 'per 1k units' reads as per 1k tokens. A model without "
        f"evaluation scores has had no suite run: {EVAL_HINT}"
    )

st.subheader("Evaluation results over time")
evaluations = ui.read("evaluations", ctx.filters)
if "missing" in evaluations.attrs:
    st.warning(
        f"Evaluation results cannot be shown: {evaluations.attrs['missing']}.", icon=":material/update:"
    )
elif evaluations.empty:
    ui.empty_state("evaluation runs", EVAL_HINT)
else:
    for (model, metric), runs in evaluations.groupby(["model", "metric"], sort=True):
        with st.container(border=True):
            st.markdown(f"**{model}**: {metric}")
            ui.lines(
                runs.assign(series=runs["version"])
                .pivot_table(index="time", columns="series", values="value")
                .reset_index(),
                "time",
                {v: f"version {v}" for v in sorted(runs["version"].unique())},
                "Run time (UTC)",
                f"{metric} (score)",
                height=240,
            )
    ui.table(
        evaluations,
        "evaluations",
        {
            "time": st.column_config.DatetimeColumn("Run time (UTC)", format="YYYY-MM-DD HH:mm"),
            "passed": st.column_config.CheckboxColumn("Passed"),
        },
    )
