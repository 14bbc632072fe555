"""Request log: recent requests one by one (customer, key, model, status, latency, queue time, units, price,
cost, request id), filtered by the sidebar and by key prefix and status class; a request id pasted from a
support ticket finds its row. No prompt or response: the ledger stores none."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from verticals.dashboard import ui
from verticals.dashboard.datasource import DataSourceError, MissingAnalytics
from verticals.dashboard.figures import Figures
from verticals.dashboard.request_log import STATUS_CLASSES, LogQuery

ctx = ui.page_header("Request log", "Which requests did a customer send, and how did each one go?")
st.info(
    "**Prompts and responses are not stored.** The ledger's usage events hold who called which model with "
    "which key, the status, latency, queue time, units, price and cost of each request, and nothing a "
    "customer sent or received; so this page cannot show it either.",
    icon=":material/lock:",
)

c = st.columns([3, 2, 1, 1, 1])
request_id = (
    c[0]
    .text_input(
        "Request id",
        key="requests_id",
        placeholder="req_... from the x-request-id header",
        help="Paste the id from a customer's support ticket: it is searched across every date, customer and "
        "model, whatever the sidebar says.",
    )
    .strip()
)
key_prefix = c[1].text_input(
    "Key prefix", key="requests_key", placeholder="vk_...", help="Keys whose prefix starts with this."
)
status_class = c[2].selectbox(
    "Status", STATUS_CLASSES, index=None, key="requests_status", placeholder="All statuses"
)
limit = int(c[3].selectbox("Rows per page", (25, 50, 100, 200), index=1, key="requests_limit"))
page = int(c[4].number_input("Page", min_value=1, value=1, step=1, key="requests_page"))


def read(query: LogQuery) -> pd.DataFrame:
    # Not cached, unlike the other pages' figures: a request answered a moment ago must be findable now.
    try:
        return Figures(ctx.source).request_log(ctx.filters, query)
    except MissingAnalytics as error:
        st.warning(f"The request log cannot be shown: {error}.", icon=":material/update:")
    except DataSourceError as error:
        st.error(f"Could not read the data: {error}")
    st.stop()


query = LogQuery(key_prefix, status_class, request_id, limit, (page - 1) * limit)
log = read(query)
total = int(log.attrs["total"])
pages = max(1, math.ceil(total / limit))
if total and page > pages:  # past the end, for example after a narrower filter: show the last page
    page = pages
    log = read(LogQuery(key_prefix, status_class, request_id, limit, (page - 1) * limit))

if request_id:
    st.caption(f"Searching every request for id `{request_id}`, whatever the sidebar's dates and filters.")
if not total:
    if request_id:
        st.warning(
            f"No request has the id `{request_id}`. Check it against the ticket (ids look like "
            "`req_` and 32 hex digits); a request refused before it reached the gateway has none.",
            icon=":material/search_off:",
        )
    else:
        ui.empty_state("requests")
    st.stop()

first = (page - 1) * limit + 1
st.caption(
    f"Requests {first:,} to {first + len(log) - 1:,} of {total:,}, newest first (page {page} of {pages}). "
    "Price is the list price in force times the billable units; plan allowances, tiers and credits apply on "
    "the invoice. Cost is the compute the request used."
)
ui.table(
    log,
    "request-log",
    {
        "time": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "request_id": "Request id",
        "key_prefix": "Key prefix",
        "status": st.column_config.NumberColumn("Status", format="%d"),
        "latency_ms": st.column_config.NumberColumn("Latency (ms)", format="%.1f"),
        "queue_ms": st.column_config.NumberColumn("Queue time (ms)", format="%.1f"),
        "units": st.column_config.NumberColumn("Units", format="%g"),
        "price_usd": st.column_config.TextColumn("Price (USD)", help="Exact, as the ledger holds it."),
        "cost_usd": st.column_config.TextColumn("Cost (USD)", help="Exact, as the ledger holds it."),
        "model_version": "Model version",
    },
)
if len(log) > 1:  # one request is the row above; a chart of one point says nothing more
    ui.lines(
        log.sort_values("time"),
        "time",
        {"latency_ms": "Latency", "queue_ms": "Queue time"},
        "Time (UTC)",
        "Milliseconds (ms)",
    )
