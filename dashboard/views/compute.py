"""Compute: what capacity was provisioned, how much of it requests used, and what the idle part cost."""

from __future__ import annotations

import streamlit as st

from verticals.dashboard import ui

ctx = ui.page_header("Compute", "What is compute costing us, and how much of it sits idle?")
usage = ui.read("utilization", ctx.filters)

if usage.empty:
    ui.empty_state(
        "provisioned capacity",
        "The gateway records every backend it starts as capacity: start it with `verticals serve`.",
    )
else:
    totals = usage[
        ["provisioned_hours", "busy_hours", "provisioned_cost_usd", "allocated_cost_usd", "idle_cost_usd"]
    ].sum()
    devices = ui.read("device_utilization", ctx.filters)
    main = devices.iloc[0]
    cols = st.columns(4)
    cols[0].metric(
        "Device-hours provisioned",
        f"{totals['provisioned_hours']:,.1f} h",
        border=True,
        help="Each device (a machine's CPUs, one GPU) counted once, however many models it serves.",
    )
    cols[1].metric(
        "Device-hours busy",
        f"{totals['busy_hours']:,.1f} h",
        border=True,
        help="Compute seconds measured on requests, in hours.",
    )
    others = f" ({len(devices) - 1} other device classes in the table)" if len(devices) > 1 else ""
    cols[2].metric(
        f"Utilization ({main['device_class']})",
        ui.pct(main["utilization"]),
        border=True,
        help=f"Busy over provisioned device-hours of the class with the most capacity{others}.",
    )
    cols[3].metric(
        "Idle cost",
        ui.usd(totals["idle_cost_usd"]),
        border=True,
        help="Provisioned cost minus the cost allocated to requests. Gross margins include it; a model's "
        "or customer's share follows its busy seconds on each device.",
    )
    left, right = st.columns(2)
    label = usage["model"].fillna("") + " (" + usage["device_class"] + ")"
    with left:
        st.subheader("Device-hours: provisioned vs busy")
        ui.bars(
            usage.assign(label=label),
            "label",
            {"provisioned_hours": "Provisioned", "busy_hours": "Busy"},
            "Backend (device class)",
            "Device-hours (h)",
        )
    with right:
        st.subheader("Cost: allocated vs idle")
        ui.bars(
            usage.assign(label=label),
            "label",
            {"allocated_cost_usd": "Allocated to requests", "idle_cost_usd": "Idle"},
            "Backend (device class)",
            "USD in the period",
            stacked=True,
            money_axis=True,
        )
    st.caption(
        "A device shared by several models is paid for once: each model is charged its busy share of the "
        "device's hours and idle cost; (idle) is devices no request used in the period."
    )
    ui.table(
        usage,
        "utilization",
        {
            "device_class": "Device class",
            "model": "Model",
            "instances": st.column_config.NumberColumn("Devices"),
            "provisioned_hours": st.column_config.NumberColumn(
                "Provisioned, busy share (device-h)", format="%.2f"
            ),
            "busy_hours": st.column_config.NumberColumn("Busy (device-h)", format="%.2f"),
            "utilization": ui.percent_column("Utilization"),
            "provisioned_cost_usd": ui.money_column("Compute cost (USD)"),
            "allocated_cost_usd": ui.money_column("Allocated to requests (USD)"),
            "idle_cost_usd": ui.money_column("Idle share (USD)"),
        },
    )
    st.subheader("Devices")
    ui.table(
        ui.read("devices", ctx.filters),
        "devices",
        {
            "device_id": "Device",
            "device_class": "Device class",
            "models": "Models served",
            "provisioned_hours": st.column_config.NumberColumn("Up (device-h)", format="%.2f"),
            "busy_hours": st.column_config.NumberColumn("Busy (device-h)", format="%.2f"),
            "utilization": ui.percent_column("Utilization"),
            "provisioned_cost_usd": ui.money_column("Provisioned cost (USD)"),
            "allocated_cost_usd": ui.money_column("Allocated to requests (USD)"),
            "idle_cost_usd": ui.money_column("Idle cost (USD)"),
        },
    )

st.subheader("Break-even utilization")
st.caption(
    "The utilization at which revenue from requests (billed usage: after allowances, tiers and credits; "
    "plan fees run on no device) pays for the provisioned device-hours at current prices. Below it a "
    "device class loses money."
)
breakeven = ui.read("break_even", ctx.filters)
if breakeven.empty:
    ui.empty_state("device classes with both capacity and priced traffic")
else:
    ui.bars(
        breakeven,
        "device_class",
        {"break_even_utilization": "Break-even", "utilization": "Actual"},
        "Device class",
        "Utilization (% of provisioned hours)",
        percent_axis=True,
    )
    ui.table(
        breakeven,
        "break-even",
        {
            "device_class": "Device class",
            "usd_per_hour": st.column_config.NumberColumn("Rate (USD per device-h)", format="$%.2f"),
            "revenue_per_busy_hour_usd": st.column_config.NumberColumn(
                "Revenue per busy device-h (USD)", format="$%.2f"
            ),
            "break_even_utilization": ui.percent_column("Break-even utilization"),
            "utilization": ui.percent_column("Actual utilization"),
        },
    )
