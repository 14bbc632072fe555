"""The figures each page draws, as DataFrames: the ledger's analytics results, labelled for display.

Nothing here computes a business figure; it selects, renames, joins on keys and converts the
analytics' exact Decimal strings to floats at the last moment, for plotting. The Pricing lab's and
the Risk page's figures live in ``decisions.py``.
"""

from __future__ import annotations

import pandas as pd

from verticals.dashboard.billing_figures import BillingFigures
from verticals.dashboard.datasource import DataSource
from verticals.dashboard.decisions import DecisionFigures
from verticals.dashboard.filters import Filters
from verticals.dashboard.frames import as_of, frame, grain, number
from verticals.dashboard.request_log import RequestLogFigures


class Figures(DecisionFigures, BillingFigures, RequestLogFigures):
    """The figures the dashboard pages show, read from ``source`` (the ledger's analytics functions):
    selected, joined and labelled, never computed here. Money is USD as float, shares and rates are
    fractions 0-1, latencies ms.
    """

    def __init__(self, source: DataSource) -> None:
        self.source = source

    def filter_options(self, dates: Filters) -> dict[str, list[str]]:
        """Every customer; the plugins and models with traffic between the dates ("no model" for requests
        that named none; not the "(idle)" row of unused capacity, which has no requests)."""
        customers = sorted(row["name"] for row in self.source.control("customers"))
        rows = self.source.analytics(
            "usage_summary", by=["plugin", "model"], since=dates.since, until=dates.until
        )
        rows = [row for row in rows if row["requests"]]
        return {
            "customers": customers,
            "plugins": sorted({row["plugin"] for row in rows}),
            "models": sorted({row["model"] for row in rows}),
        }

    # Overview
    def summary(self, filters: Filters) -> dict[str, float]:
        """Totals for the filters: revenue_usd (billed: fee_revenue_usd + usage_revenue_usd - credits_usd;
        list_revenue_usd is the usage at list price); cost_usd (compute spend, idle included) =
        request_cost_usd (what requests carried) + idle_cost_usd; margin_usd and margin_ratio (gross margin:
        revenue - cost_usd, fraction of revenue); contribution_margin_usd (revenue - request_cost_usd);
        requests, errors, and active_customers (customers with at least one request). Raises
        DataSourceError when the source cannot be read (MissingAnalytics for a function the ledger lacks).
        """
        rows = self.source.analytics("usage_summary", by=[], **filters.params())
        total = rows[0] if rows else {}
        active = self.source.analytics("usage_summary", by=["customer"], **filters.params())
        return {
            "revenue_usd": number(total.get("revenue_usd")),
            "fee_revenue_usd": number(total.get("fee_revenue_usd")),
            "usage_revenue_usd": number(total.get("usage_revenue_usd")),
            "credits_usd": number(total.get("credits_usd")),
            "list_revenue_usd": number(total.get("list_revenue_usd")),
            "cost_usd": number(total.get("cost_usd")),
            "request_cost_usd": number(total.get("request_cost_usd")),
            "idle_cost_usd": number(total.get("idle_cost_usd")),
            "margin_usd": number(total.get("margin_usd")),
            "margin_ratio": number(total.get("margin_ratio")),
            "contribution_margin_usd": number(total.get("contribution_margin_usd")),
            "requests": int(total.get("requests") or 0),
            "errors": int(total.get("errors") or 0),
            # the "(idle)" row of capacity no request used has no requests, so it is not a customer
            "active_customers": sum(1 for row in active if row["requests"]),
        }

    def timeseries(self, filters: Filters) -> pd.DataFrame:
        """Revenue, cost and margin (USD), requests and errors per hour (ranges of two days or less) or per
        day: columns period (UTC timestamp), revenue_usd, cost_usd, margin_usd, requests, errors. Raises
        DataSourceError when the source cannot be read (MissingAnalytics for a function the ledger lacks).
        """
        rows = self.source.analytics("usage_summary", by=[grain(filters)], **filters.params())
        df = frame(rows, ["bucket", "revenue_usd", "cost_usd", "margin_usd", "requests", "errors"])
        df["period"] = pd.to_datetime(df["bucket"], utc=True)
        return df[["period", "revenue_usd", "cost_usd", "margin_usd", "requests", "errors"]]

    # Customers
    def by_customer(self, filters: Filters) -> pd.DataFrame:
        """One row per customer with traffic or a plan fee: customer, plan, requests, errors, revenue_usd
        (billed: fee_revenue_usd + usage_revenue_usd - credits_usd; list_revenue_usd the usage at list
        price), cost_usd (compute
        spend: what its requests carried plus its busy share of idle devices, idle_cost_usd), margin_usd and
        margin_ratio (gross margin, fraction), contribution_margin_usd (revenue minus what requests carried);
        and a row "(idle)" for capacity no request used. Raises DataSourceError when the source cannot be
        read (MissingAnalytics for a function the ledger lacks).
        """
        rows = self.source.analytics("usage_summary", by=["customer"], **filters.params())
        plans = {row["name"]: row["plan"] for row in self.source.control("customers")}
        df = frame(
            rows,
            [
                "customer",
                "requests",
                "errors",
                "units",
                "revenue_usd",
                "fee_revenue_usd",
                "usage_revenue_usd",
                "credits_usd",
                "list_revenue_usd",
                "cost_usd",
                "idle_cost_usd",
                "margin_usd",
                "margin_ratio",
                "contribution_margin_usd",
            ],
        )
        df.insert(1, "plan", df["customer"].map(plans))
        columns = ["customer", "plan", "requests", "errors", "revenue_usd", "cost_usd", "idle_cost_usd"]
        billed = ["fee_revenue_usd", "usage_revenue_usd", "credits_usd", "list_revenue_usd"]
        return df[[*columns, "margin_usd", "margin_ratio", "contribution_margin_usd", *billed]]

    def budgets(self, filters: Filters) -> pd.DataFrame:
        """Customers with a budget, as of the range's end (or now): customer, plan, budget_usd, spend_usd,
        history_days (the month's time behind the run-rate), forecast_usd (the run-rate over at least one
        day, to month end), used_pct and forecast_pct (fractions of the budget), highest forecast first;
        ``attrs['as_of']`` names the moment. From the ledger's ``budget_status``. Raises DataSourceError
        when the source cannot be read (MissingAnalytics for a function the ledger lacks).
        """
        at = as_of(filters)
        rows = self.source.analytics("budget_status", at=at)
        df = frame(
            rows,
            [
                "customer",
                "plan",
                "budget_usd",
                "spend_usd",
                "history_days",
                "forecast_usd",
                "budget_used",
                "forecast_vs_budget",
                "over_budget_forecast",
            ],
        )
        if filters.customer is not None:
            df = df[df["customer"] == filters.customer]
        df = df[df["budget_usd"].notna()].rename(
            columns={"budget_used": "used_pct", "forecast_vs_budget": "forecast_pct"}
        )
        df = df.sort_values("forecast_pct", ascending=False)
        df.attrs["as_of"] = f"{at:%d %b %Y %H:%M} UTC"
        columns = ["customer", "plan", "budget_usd", "spend_usd", "history_days", "forecast_usd"]
        return df[[*columns, "used_pct", "forecast_pct"]]

    # Models and plugins
    def by_model(self, filters: Filters) -> pd.DataFrame:
        """One row per model: plugin, model, requests, billing unit, cost per 1,000 units (USD) and beside
        it the latest evaluation scores (``evaluation`` text and ``evaluation_passed``, None where none ran,
        see ``evaluation_scores``), revenue per 1,000 units (USD), error_rate (fraction), p50/p95/p99
        latency (ms), units (in + out), revenue_usd and cost_usd. From the ledger's ``latency_by_model``,
        ``unit_economics`` and ``evaluation_history``. Raises DataSourceError when the source cannot be
        read (MissingAnalytics for a usage function the ledger lacks).
        """
        latency = frame(
            self.source.analytics("latency_by_model", **filters.params()),
            ["model", "requests", "p50_ms", "p95_ms", "p99_ms", "errors", "error_rate"],
        )
        economics = frame(
            self.source.analytics("unit_economics", **filters.params()),
            [
                "model",
                "unit",
                "units_in",
                "units_out",
                "revenue_usd",
                "cost_usd",
                "revenue_per_1k_units_usd",
                "cost_per_1k_units_usd",
            ],
        )
        economics["units"] = economics["units_in"].fillna(0) + economics["units_out"].fillna(0)
        df = latency.merge(economics.drop(columns=["requests"], errors="ignore"), on="model", how="left")
        scores = self.evaluation_scores(filters)[["model", "evaluation", "evaluation_passed"]]
        df = df.merge(scores, on="model", how="left")
        df.insert(0, "plugin", df["model"].str.split("/", n=1).str[0])
        return df[
            [
                # unit cost and quality first, side by side: the table is wider than the page
                "plugin",
                "model",
                "requests",
                "unit",
                "cost_per_1k_units_usd",
                "evaluation",
                "evaluation_passed",
                "revenue_per_1k_units_usd",
                "error_rate",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "units",
                "revenue_usd",
                "cost_usd",
            ]
        ]

    def model_timeseries(self, filters: Filters) -> pd.DataFrame:
        """Requests per model per hour (ranges of two days or less) or per day: columns period (UTC
        timestamp), model, requests. Raises DataSourceError when the source cannot be read
        (MissingAnalytics for a function the ledger lacks).
        """
        rows = self.source.analytics("usage_summary", by=[grain(filters), "model"], **filters.params())
        rows = [row for row in rows if row["requests"]]  # not the "(idle)" rows of unused capacity
        df = frame(rows, ["bucket", "model", "requests"])
        df["period"] = pd.to_datetime(df["bucket"], utc=True)
        return df[["period", "model", "requests"]]

    def sla_breaches(self, filters: Filters, p95_target_ms: float, error_target: float) -> pd.DataFrame:
        """The models whose p95 latency exceeds ``p95_target_ms`` (ms) or whose error rate exceeds
        ``error_target`` (a fraction): model, requests, p95_ms, error_rate, and ``breach`` naming which
        target was missed. Raises DataSourceError when the source cannot be read (MissingAnalytics for a
        function the ledger lacks).
        """
        models = self.by_model(filters)
        breached = models[(models["p95_ms"] > p95_target_ms) | (models["error_rate"] > error_target)]
        out = breached[["model", "requests", "p95_ms", "error_rate"]].copy()
        out["breach"] = [
            " and ".join(
                part
                for part, hit in (("latency p95", p95 > p95_target_ms), ("error rate", err > error_target))
                if hit
            )
            for p95, err in zip(out["p95_ms"], out["error_rate"], strict=True)
        ]
        return out

    # Compute
    def utilization(self, filters: Filters) -> pd.DataFrame:
        """Capacity per model and device class up to the range's end (or now): instances (devices),
        provisioned_hours (the model's busy share of its devices' hours, so rows add up to the device-hours
        paid for, each device once), busy_hours, utilization (busy / provisioned, a fraction), and
        provisioned (charged), allocated (carried by requests) and idle cost (USD); devices no request used
        are the model "(idle)". From the ledger's ``utilization``. Raises DataSourceError when the source
        cannot be read (MissingAnalytics for a function the ledger lacks).
        """
        rows = self.source.analytics(
            "utilization",
            since=filters.since,
            until=as_of(filters),
            **({"model": filters.model} if filters.model else {}),
        )
        df = frame(
            rows,
            [
                "model",
                "device_class",
                "instances",
                "provisioned_hours",
                "busy_hours",
                "utilization",
                "provisioned_cost_usd",
                "allocated_cost_usd",
                "idle_cost_usd",
                "revenue_usd",
            ],
        )
        return df[
            [
                "model",
                "device_class",
                "instances",
                "provisioned_hours",
                "busy_hours",
                "utilization",
                "provisioned_cost_usd",
                "allocated_cost_usd",
                "idle_cost_usd",
            ]
        ]

    def devices(self, filters: Filters) -> pd.DataFrame:
        """One row per device up in the range (a machine's CPUs, one GPU; paid for once): device_id,
        device_class, models (comma-separated), provisioned_hours, busy_hours, utilization (a fraction),
        provisioned, allocated and idle cost (USD). From the ledger's ``utilization(by="device")``. Raises
        DataSourceError when the source cannot be read (MissingAnalytics for a function the ledger lacks).
        """
        rows = self.source.analytics("utilization", since=filters.since, until=as_of(filters), by="device")
        columns = ["device_id", "device_class", "models", "provisioned_hours", "busy_hours", "utilization"]
        costs = ["provisioned_cost_usd", "allocated_cost_usd", "idle_cost_usd"]
        df = frame(rows, [*columns, *costs])
        df["models"] = [", ".join(models) if isinstance(models, list) else "" for models in df["models"]]
        return df[[*columns, *costs]]

    def device_utilization(self, filters: Filters) -> pd.DataFrame:
        """Per device class, largest provisioned first."""
        rows = self.source.analytics(
            "utilization",
            since=filters.since,
            until=as_of(filters),
            by="device_class",
            **({"model": filters.model} if filters.model else {}),
        )
        df = frame(rows, ["device_class", "provisioned_hours", "busy_hours", "utilization"])
        return df.sort_values("provisioned_hours", ascending=False).reset_index(drop=True)

    def break_even(self, filters: Filters) -> pd.DataFrame:
        """Per device class with busy hours in the range: usd_per_hour (cost book), revenue_per_busy_hour_usd,
        break_even_utilization and utilization (fractions). From the ledger's ``break_even``. Raises
        DataSourceError when the source cannot be read (MissingAnalytics for a function the ledger lacks).
        """
        rows = self.source.analytics("break_even", since=filters.since, until=as_of(filters))
        df = frame(
            rows,
            [
                "device_class",
                "usd_per_hour",
                "revenue_per_busy_hour_usd",
                "break_even_utilization",
                "utilization",
                "busy_hours",
            ],
        )
        df = df[df["busy_hours"].fillna(0) > 0]
        return df[
            [
                "device_class",
                "usd_per_hour",
                "revenue_per_busy_hour_usd",
                "break_even_utilization",
                "utilization",
            ]
        ]
