"""The calls the analytics parity test makes: every function of ``verticals.ledger.analytics`` with
representative filters, and the comparison of two results (money exactly, floats to 1e-9 relative).

``CASES`` names each function in ``analytics.__all__``; a function added there without cases here fails the
parity test, so none is skipped by omission.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from parity_data import NOW, at

SEP, OCT, NOV = at("2026-09-01"), at("2026-10-01"), at("2026-11-01")
MID_OCT = at("2026-10-15 06:00")
WEEK = {"since": at("2026-10-12"), "until": at("2026-10-19")}
MONTH_OCT = {"since": OCT, "until": NOV}
# DuckDB and PostgreSQL round a float sum's last bit differently (their summation orders differ)
REL = 1e-9

_PRICES = [
    {"model": "nlp/chat", "unit": "tokens", "price_per_unit_usd": "0.0000025"},
    {"plugin": "vision", "unit": "images", "price_per_unit_usd": "0.0012"},
    {"plugin": "nlp", "task": "embed", "unit": "tokens", "price_per_unit_usd": "0.00000005"},
]

CASES: dict[str, list[dict[str, Any]]] = {
    "admin_audit": [{}, {"since": OCT, "until": at("2026-11-30")}, {"actor": "ops"},
                    {"subject": "customer-010"}, {"limit": 1}],
    "arpu": [{"month": "2026-09"}, {"month": "2026-10"}, {"month": "2026-11"}],
    "break_even": [{}, MONTH_OCT, {"basis": "list"}, {"at": at("2026-10-25")}],
    "budget_status": [{"at": NOW}, {"at": at("2026-10-15 12:00")}, {"at": at("2026-09-01 06:00")}],
    "concentration": [{}, MONTH_OCT, {"model": "nlp/chat"}, {"plugin": "vision"}, {"basis": "list"},
                      {"top": 3, **WEEK}],
    "cost_anomalies": [{}, {"k": 1.5, "min_excess_usd": 0}, {"since": OCT, "customer": "customer-001",
                       "k": 1.2, "min_excess_usd": "0"}, {"window_days": 3, "min_days": 1, "k": 1.1,
                       "min_excess_usd": "0.01"}],
    "demo_history": [{}, {"since": OCT}, {"since": at("2026-12-01")}],
    "evaluation_history": [{}, {"model": "nlp/chat"}, {"since": at("2026-09-10"), "until": OCT}],
    "invoice_document": [{"number": "VRT-000001"}, {"number": "VRT-000003"},
                         {"customer": "customer-004", "month": "2026-09"},
                         {"customer": "customer-005", "month": "2026-10"},
                         {"customer": "customer-008", "month": "2026-11"},
                         {"customer": "customer-001", "month": "2026-10"}],
    "invoice_lines": [{"number": "VRT-000002"}, {"customer": "customer-004", "month": "2026-10"},
                      {"customer": "customer-006", "month": "2026-10"},
                      {"customer": "customer-007", "month": "2026-11"},
                      {"customer": "customer-009", "month": "2026-10"}],
    "invoice_summaries": [{}, {"since": SEP, "until": OCT}, {"customer": "customer-005"}],
    "invoices_by_status": [{}, {"since": SEP, "until": NOV}],
    "latency_by_model": [{}, {**WEEK, "customer": "customer-002"}, {"model": "nlp/chat"},
                         {"plugin": "speech"}, {"model": "no model"}],
    "mrr": [{}, {"since": SEP, "until": NOV}, {"since": at("2026-08-01")}],
    "net_revenue_retention": [{"start": "2026-09", "end": "2026-10"}, {"start": "2026-10", "end": "2026-11"}],
    "pricing_lab": [{"month": "2026-10"}, {"month": "2026-09", "moves": {"customer-010": "growth"}},
                    {"month": "2026-10", "fees": {"growth": "59"},
                     "allowances": [{"plan": "growth", "unit": "tokens", "quantity": "1000000"}],
                     "prices": [{"plan": "pro", "unit": "tokens", "model": "nlp/chat",
                                 "charge_model": "graduated", "price_per_unit_usd": "0.000002",
                                 "tiers": ["1000000:0.000002", "inf:0.000001:2"]}]}],
    "pricing_what_if": [{"plan": "pro"}, {"plan": "scale", "by": "customer", **MONTH_OCT},
                        {"prices": _PRICES, "by": None, "model_tasks": {"nlp/embed": "embed"}},
                        {"prices": _PRICES, "by": "unit", "customer": "customer-003"},
                        {"plan": "growth", "by": "plugin", "at": MID_OCT}],
    "recent_alerts": [{}, {"since": at("2026-10-02")}, {"limit": 1}],
    "request_log": [{}, {"customer": "customer-002", "status_class": "5xx"}, {"key_prefix": "vk_c00000"},
                    {"request_id": "  backfill-3 "}, {"limit": 7, "offset": 30, **WEEK},
                    {"model": "speech/transcribe", "status_class": "4xx", "plugin": "speech"}],
    "revenue_by_business_model": [{}, {"since": SEP, "until": at("2026-10-20")}],
    "unit_economics": [{}, MONTH_OCT, {"basis": "list", "customer": "customer-001"}, {"plugin": "nlp"}],
    "usage_summary": [
        {},
        {"by": ["day", "customer"], **WEEK},
        {"by": ["hour", "model"], "since": at("2026-10-14"), "until": at("2026-10-15 06:00")},
        {"by": ["week", "device_class"]},
        {"by": ["month", "plugin"], "basis": "list"},
        {"by": ["customer"], **MONTH_OCT},
        {"by": ["model", "unit"], "customer": "customer-001"},
        {"by": ["endpoint"], "model": "nlp/chat"},
        {"by": ["day"], "plugin": "vision", **MONTH_OCT},
        {"by": ["hour"], "since": at("2026-11-09 18:00"), "customer": "customer-002"},
        {"by": [], "since": MID_OCT},
    ],
    "utilization": [{}, {"by": "device_class"}, {"by": "device", **MONTH_OCT}, {"by": "model",
                    "model": "nlp/chat"}, {"basis": "list", **WEEK}],
}  # fmt: skip


def differences(left: Any, right: Any, where: str = "") -> list[str]:
    """Where ``left`` (DuckDB's) and ``right`` (PostgreSQL's) differ: the same types everywhere (a Decimal
    is never a float), Decimals with the same digits and exponent, floats within ``REL`` relative (or both
    NaN), naive and aware datetimes apart; everything else equal. Empty when they agree."""
    if type(left) is not type(right):
        return [f"{where}: {type(left).__name__} {left!r} != {type(right).__name__} {right!r}"]
    if isinstance(left, dict):
        if list(left) != list(right):
            return [f"{where}: keys {list(left)} != {list(right)}"]
        return [d for key in left for d in differences(left[key], right[key], f"{where}.{key}")]
    if isinstance(left, list | tuple):
        if len(left) != len(right):
            return [f"{where}: {len(left)} items != {len(right)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(left, right, strict=True))
            for d in differences(a, b, f"{where}[{i}]")
        ]
    if isinstance(left, float):
        same = math.isclose(left, right, rel_tol=REL, abs_tol=1e-12) or (
            math.isnan(left) and math.isnan(right)
        )
        return [] if same else [f"{where}: {left!r} != {right!r}"]
    if isinstance(left, Decimal):
        return [] if str(left) == str(right) else [f"{where}: Decimal {left} != {right}"]
    if isinstance(left, datetime | date):
        same = left == right and getattr(left, "tzinfo", None) == getattr(right, "tzinfo", None)
        return [] if same else [f"{where}: {left!r} != {right!r}"]
    return [] if left == right else [f"{where}: {left!r} != {right!r}"]
