"""Figures for the Billing page and the Pricing lab's plans: the ledger's billing analytics (``mrr``,
``invoice_summaries``, ``invoices_by_status``, ``invoice_lines``, ``invoice_document``,
``revenue_by_business_model``, ``net_revenue_retention``, ``pricing_lab``), selected and labelled, nothing
computed here. Money is USD as float, except the invoice document (fixed-point strings, for downloads).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from verticals.dashboard.datasource import DataSource
from verticals.dashboard.filters import Filters
from verticals.dashboard.frames import frame, number

INVOICE_COLUMNS = [
    "number",
    "customer",
    "month",
    "status",
    "fee_usd",
    "usage_usd",
    "credits_usd",
    "total_usd",
    "compute_cost_usd",
    "margin_usd",
]
LINE_COLUMNS = [
    "kind",
    "description",
    "plan",
    "model",
    "unit",
    "quantity",
    "included",
    "billable",
    "amount_usd",
    "request_cost_usd",
    "idle_cost_usd",
    "cost_usd",
    "margin_usd",
    "margin_ratio",
]
LAB_COLUMNS = [
    "customer",
    "plan_before",
    "plan_after",
    "revenue_before_usd",
    "revenue_after_usd",
    "revenue_change_usd",
    "cost_usd",
    "margin_before_usd",
    "margin_after_usd",
    "margin_before_ratio",
    "margin_after_ratio",
]


def month_of(day: date) -> str:
    """``YYYY-MM`` of ``day``."""
    return f"{day.year:04d}-{day.month:02d}"


def month_start(month: str) -> datetime:
    """Midnight UTC on the first day of ``month`` (``YYYY-MM``)."""
    return datetime(int(month[:4]), int(month[5:]), 1, tzinfo=UTC)


def month_end(month: str) -> datetime:
    """Midnight UTC on the first day of the month after ``month``."""
    start = month_start(month)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(month: str) -> str:
    """The ``YYYY-MM`` before ``month``."""
    return month_of(month_start(month).date() - timedelta(days=1))


class BillingFigures:
    """The Billing page's and the Pricing lab's figures, read from ``source``'s ledger analytics."""

    source: DataSource

    def mrr_history(self, filters: Filters) -> pd.DataFrame:
        """MRR per month for the twelve months up to the range's end: month (``YYYY-MM``), fee_mrr_usd,
        usage_mrr_usd, mrr_usd, customers, arpu_usd, closed; the ledger's ``mrr``."""
        year, month = filters.end.year, filters.end.month - 11
        if month <= 0:
            year, month = year - 1, month + 12
        since = datetime(year, month, 1, tzinfo=UTC)
        rows = self.source.analytics("mrr", since=since, until=filters.until)
        columns = ["month", "fee_mrr_usd", "usage_mrr_usd", "mrr_usd", "customers", "arpu_usd", "closed"]
        df = frame(rows, columns)[columns]
        df["period"] = pd.to_datetime(df["month"] + "-01", utc=True)
        return df

    def invoiced_months(self, filters: Filters) -> list[str]:
        """The months (``YYYY-MM``, newest first) among the twelve up to the range's end that have an invoice
        or a draft billing anything (the ledger's ``invoice_summaries``)."""
        year, month = filters.end.year, filters.end.month - 11
        if month <= 0:
            year, month = year - 1, month + 12
        rows = self.source.analytics(
            "invoice_summaries", since=datetime(year, month, 1, tzinfo=UTC), until=filters.until
        )
        return sorted({str(row["month"]) for row in rows}, reverse=True)

    def net_revenue_retention(self, month: str) -> dict[str, Any]:
        """Net revenue retention from the month before ``month`` to ``month`` (the ledger's
        ``net_revenue_retention``): ``nrr`` (a fraction or None) and its parts as floats."""
        result = self.source.analytics("net_revenue_retention", start=previous_month(month), end=month)
        return {
            key: (None if value is None else number(value)) if key != "start" and key != "end" else value
            for key, value in result.items()
        }

    def invoices(self, month: str, customer: str | None = None) -> pd.DataFrame:
        """``month``'s invoices (finalized, void and drafts), with their compute cost and margin; the
        ledger's ``invoice_summaries``."""
        params: dict[str, Any] = {"since": month_start(month), "until": month_end(month)}
        if customer:
            params["customer"] = customer
        rows = self.source.analytics("invoice_summaries", **params)
        df = frame(rows, INVOICE_COLUMNS)
        return df[INVOICE_COLUMNS]

    def invoice_status(self, month: str) -> pd.DataFrame:
        """``month``'s invoices per status: status, invoices, total_usd (``invoices_by_status``)."""
        rows = self.source.analytics("invoices_by_status", since=month_start(month), until=month_end(month))
        return frame(rows, ["status", "invoices", "total_usd"])[["status", "invoices", "total_usd"]]

    def invoice_lines(self, number: str | None, customer: str, month: str) -> pd.DataFrame:
        """One invoice's lines (by ``number``, else the ``customer``'s draft for ``month``) with their
        compute cost and margin; the ledger's ``invoice_lines``."""
        named = {"number": number} if number else {"customer": customer, "month": month}
        df = frame(self.source.analytics("invoice_lines", **named), LINE_COLUMNS)
        for column in ("quantity", "included", "billable", "margin_ratio"):
            df[column] = pd.to_numeric(df[column], errors="coerce")
        return df[LINE_COLUMNS]

    def invoice_document(self, number: str | None, customer: str, month: str) -> dict[str, Any]:
        """The invoice as ``verticals.billing.exports.to_dict`` writes it, for the downloads."""
        named = {"number": number} if number else {"customer": customer, "month": month}
        document: dict[str, Any] = self.source.analytics("invoice_document", **named)
        return document

    def revenue_mix(self, filters: Filters) -> pd.DataFrame:
        """Billed revenue per month and business model (subscription, usage, fee + usage) in the range; the
        ledger's ``revenue_by_business_model``."""
        rows = self.source.analytics("revenue_by_business_model", since=filters.since, until=filters.until)
        columns = [
            "month",
            "business_model",
            "customers",
            "fee_usd",
            "usage_usd",
            "credits_usd",
            "revenue_usd",
        ]
        df = frame(rows, columns)[columns]
        df["month"] = pd.to_datetime(df["month"], utc=True).dt.strftime("%Y-%m")
        return df

    def plan_lab(self, month: str, variation: str) -> dict[str, Any]:
        """The ledger's ``pricing_lab`` for ``month`` under ``variation`` (a JSON object with moves, fees,
        allowances and prices): ``{"customers": DataFrame of LAB_COLUMNS, "total": {column: float}}``."""
        rows = self.source.analytics("pricing_lab", month=month, **json.loads(variation))
        df = frame(rows, LAB_COLUMNS)
        df["margin_before_ratio"] = pd.to_numeric(df["margin_before_ratio"], errors="coerce")
        df["margin_after_ratio"] = pd.to_numeric(df["margin_after_ratio"], errors="coerce")
        total = df[df["customer"] == "total"]
        customers = df[df["customer"] != "total"][LAB_COLUMNS].reset_index(drop=True)
        sums = {c: (number(total.iloc[0][c]) if not total.empty else 0.0) for c in LAB_COLUMNS[3:9]}
        return {"customers": customers, "total": sums}

    def lab_books(self, month: str) -> LabBooks:
        """The books the Pricing lab starts from for ``month`` (``LabBooks``)."""
        return LabBooks(self.source, month)


def _tiers_text(tiers: Any) -> str:
    """Tiers as the CLI writes them, ``UP_TO:PRICE[:FLAT]`` separated by spaces (``inf`` unbounded)."""
    parts = []
    for tier in tiers or ():
        bound = "inf" if tier.get("up_to") is None else str(tier["up_to"])
        flat = f":{tier['flat_fee']}" if tier.get("flat_fee") not in (None, "0", "0.000000", 0) else ""
        parts.append(f"{bound}:{tier['unit_price']}{flat}")
    return " ".join(parts)


class LabBooks:
    """The books the Pricing lab edits, as tables: ``customers`` (customer, plan), ``plans`` (plan,
    monthly_fee_usd), ``allowances`` (plan, unit, model, quantity) and ``prices`` (plan, model, plugin,
    unit, charge_model, price_per_unit_usd, package_size, tiers as ``UP_TO:PRICE[:FLAT]`` text): the
    price rows in force by the end of ``month``, the latest per (plan, model, plugin, unit), task-level
    rows left out (the lab edits prices per model or plugin)."""

    def __init__(self, source: DataSource, month: str) -> None:
        end = month_end(month)
        self.customers = pd.DataFrame(
            [{"customer": c["name"], "plan": c["plan"]} for c in source.control("customers")],
            columns=["customer", "plan"],
        )
        self.plans = pd.DataFrame(
            [
                {"plan": p["name"], "monthly_fee_usd": float(p["monthly_fee_usd"])}
                for p in source.control("plans")
            ],
            columns=["plan", "monthly_fee_usd"],
        )
        self.allowances = pd.DataFrame(
            [
                {"plan": a["plan"], "unit": a["unit"], "model": a["model"], "quantity": float(a["quantity"])}
                for a in source.control("allowances")
            ],
            columns=["plan", "unit", "model", "quantity"],
        )
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in sorted(source.control("prices"), key=lambda r: str(r["effective_from"])):
            if row.get("task") or datetime.fromisoformat(str(row["effective_from"])) >= end:
                continue
            latest[(row["plan"], row.get("model"), row.get("plugin"), row["unit"])] = {
                "plan": row["plan"],
                "model": row.get("model"),
                "plugin": row.get("plugin"),
                "unit": row["unit"],
                "charge_model": row.get("charge_model") or "per_unit",
                "price_per_unit_usd": str(row["price_per_unit_usd"]),
                "package_size": None if row.get("package_size") is None else str(row["package_size"]),
                "tiers": _tiers_text(row.get("tiers")),
            }
        self.prices = pd.DataFrame(
            list(latest.values()),
            columns=[
                "plan",
                "model",
                "plugin",
                "unit",
                "charge_model",
                "price_per_unit_usd",
                "package_size",
                "tiers",
            ],
        )


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if pd.isna(v) or v == "" else v) for k, v in row.items()} for row in df.to_dict("records")
    ]


def variation(books: LabBooks, customers: pd.DataFrame, plans: pd.DataFrame, allowances: pd.DataFrame,
              prices: pd.DataFrame) -> str:  # fmt: skip
    """The edits between ``books`` and the edited tables as the JSON ``pricing_lab`` takes: ``moves``
    (customers whose plan changed), ``fees`` (plans whose fee changed), ``allowances`` and ``prices`` (rows
    changed or added; the tiers text split into ``UP_TO:PRICE[:FLAT]`` items). Sorted keys, so the same
    edits give the same text (a cache key)."""
    before = dict(zip(books.customers["customer"], books.customers["plan"], strict=True))
    moves = {
        str(c): str(p)
        for c, p in zip(customers["customer"], customers["plan"], strict=True)
        if before.get(c) != p
    }
    fees_before = dict(zip(books.plans["plan"], books.plans["monthly_fee_usd"], strict=True))
    fees = {
        str(p): repr(float(f))
        for p, f in zip(plans["plan"], plans["monthly_fee_usd"], strict=True)
        if not pd.isna(f) and abs(float(f) - float(fees_before.get(p, float("nan")))) > 1e-9
    }
    kept = {tuple(str(v) for v in row.values()) for row in _records(books.allowances)}
    changed_allowances = [
        {"plan": r["plan"], "unit": r["unit"], "model": r["model"], "quantity": repr(float(r["quantity"]))}
        for r in _records(allowances)
        if r["plan"]
        and r["unit"]
        and r["quantity"] is not None
        and tuple(str(v) for v in r.values()) not in kept
    ]
    kept_prices = {tuple(str(v) for v in row.values()) for row in _records(books.prices)}
    changed_prices = []
    for r in _records(prices):
        if (
            not (r["plan"] and r["unit"] and r["price_per_unit_usd"])
            or tuple(str(v) for v in r.values()) in kept_prices
        ):
            continue
        entry = {k: r[k] for k in ("plan", "unit", "model", "plugin", "charge_model", "package_size") if r[k]}
        entry["price_per_unit_usd"] = str(r["price_per_unit_usd"])
        if r["tiers"]:
            entry["tiers"] = str(r["tiers"]).split()
        changed_prices.append(entry)
    return json.dumps(
        {"moves": moves, "fees": fees, "allowances": changed_allowances, "prices": changed_prices},
        sort_keys=True,
    )
