"""Unit-economics analytics over the ledger: every figure the dashboard and the admin API show.

Revenue is billed revenue (what the invoices charge: ``_billed``), usage at list price a column of its own.

Each function is pure: it takes a ``Ledger`` or a DuckDB connection plus filters, runs read-only
SQL and returns plain lists of dicts (or a dict) of str, int, float, Decimal (money, exact) and
UTC datetimes. ``since`` is inclusive, ``until`` exclusive.
"""

from verticals.ledger.analytics.alerts import recent_alerts
from verticals.ledger.analytics.anomalies import cost_anomalies
from verticals.ledger.analytics.audit import admin_audit
from verticals.ledger.analytics.billing import arpu, mrr, net_revenue_retention, revenue_by_business_model
from verticals.ledger.analytics.budgets import budget_status
from verticals.ledger.analytics.capacity import break_even, utilization
from verticals.ledger.analytics.concentration import concentration
from verticals.ledger.analytics.demo import demo_history
from verticals.ledger.analytics.evaluations import evaluation_history
from verticals.ledger.analytics.invoice_figures import (
    invoice_document,
    invoice_lines,
    invoice_summaries,
    invoices_by_status,
)
from verticals.ledger.analytics.latency import latency_by_model
from verticals.ledger.analytics.pricing_lab import pricing_lab
from verticals.ledger.analytics.request_log import request_log
from verticals.ledger.analytics.usage import unit_economics, usage_summary
from verticals.ledger.analytics.whatif import pricing_what_if

__all__ = [
    "admin_audit",
    "arpu",
    "break_even",
    "budget_status",
    "concentration",
    "cost_anomalies",
    "demo_history",
    "evaluation_history",
    "invoice_document",
    "invoice_lines",
    "invoice_summaries",
    "invoices_by_status",
    "latency_by_model",
    "mrr",
    "net_revenue_retention",
    "pricing_lab",
    "pricing_what_if",
    "recent_alerts",
    "request_log",
    "revenue_by_business_model",
    "unit_economics",
    "usage_summary",
    "utilization",
]
