"""Billing on the dashboard, under Streamlit's AppTest over a ledger with a closed, finalized month (last
month, whatever today is): the Overview's revenue for that month is the sum of its invoices, the Billing
page shows an invoice's lines with their cost and margin and offers it for download, and the Pricing
lab's before and after are the billing engine's previews.

The month: ``acme`` on ``pro`` ($49 a month) all month with 3,000 chat tokens charged $0.30 at list price
(no price row, no allowance: the invoice charges the list price), and ``beta`` on a $0 ``metered`` plan
with 2,000 tokens at $0.00002 (a price row): $0.04, where the gateway recorded $1.00. Invoices: 49.30 and
0.04, 49.34 in all; usage at list price 1.30.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., Any]


def last_month() -> tuple[date, date]:
    """The first and last day (UTC) of the month before this one."""
    first_of_this = datetime.now(UTC).date().replace(day=1)
    last = first_of_this - timedelta(days=1)
    return last.replace(day=1), last


def _event(request_id: str, customer: str, ts: datetime, revenue: str) -> Any:
    from verticals.ledger import UsageEvent

    return UsageEvent(
        request_id=request_id,
        ts=ts,
        customer=customer,
        key_prefix=None,
        plugin="nlp",
        model="nlp/chat",
        model_version="1",
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=100.0,
        units_in=1000,
        units_out=2000 if customer == "acme" else 1000,
        unit="tokens",
        compute_seconds=3.6,
        device_class="cpu",
        revenue_usd=Decimal(revenue),
        cost_usd=Decimal("0.01"),
    )


@pytest.fixture(scope="module")
def billed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from verticals.billing.invoices import finalize_month
    from verticals.ledger import Ledger

    first, _ = last_month()
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    home = tmp_path_factory.mktemp("billed-home")
    with Ledger.open(home, fsync_ms=0, clock=lambda: start) as ledger:
        ledger.create_plan("metered", "0")
        ledger.set_price("metered", "tokens", "0.00002", model="nlp/chat", effective_from=start)
        ledger.create_customer("acme", "pro")
        ledger.create_customer("beta", "metered")
        ledger.record(_event("a1", "acme", start + timedelta(days=14, hours=12), "0.30"))
        ledger.record(_event("b1", "beta", start + timedelta(days=3), "1.00"))
        ledger.flush()
        issued = finalize_month(ledger, f"{first:%Y-%m}")
    assert sorted(str(invoice.total_usd) for invoice in issued) == ["0.04", "49.30"]
    return home


def problems(at: Any) -> list[str]:
    return [f"exception: {e.value}" for e in at.exception] + [f"error box: {e.value}" for e in at.error]


def test_a_closed_months_revenue_on_the_overview_is_the_sum_of_its_invoices(
    app_test: Run, billed_home: Path
) -> None:
    from verticals.ledger import Ledger

    first, last = last_month()
    with Ledger.open(billed_home, read_only=True) as ledger:
        invoiced = sum((i.total_usd for i in ledger.list_invoices(month=f"{first:%Y-%m}")), Decimal(0))
    assert invoiced == Decimal("49.34")
    at = app_test(billed_home)
    at.sidebar.date_input(key="filter_dates").set_value((first, last)).run()
    assert not problems(at), problems(at)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Revenue"] == f"${invoiced:,.2f}"
    assert any("$1.30" in c.value and "list price" in c.value for c in at.caption)  # usage at list price
    customers = app_test(billed_home, "customers")
    customers.sidebar.date_input(key="filter_dates").set_value((first, last)).run()
    table = next(d.value for d in customers.dataframe if "fee_revenue_usd" in d.value.columns)
    assert float(table["revenue_usd"].sum()) == pytest.approx(49.34)


def test_the_billing_page_shows_an_invoices_lines_with_cost_and_margin(
    app_test: Run, billed_home: Path
) -> None:
    first, _ = last_month()
    at = app_test(billed_home, "billing")
    assert not problems(at), problems(at)
    at.selectbox(key="billing_month").select(f"{first:%Y-%m}").run()
    assert not problems(at), problems(at)
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    invoices = next(t for cols, t in tables.items() if "number" in cols)
    assert sorted(invoices["number"]) == ["VRT-000001", "VRT-000002"]
    assert set(invoices["status"]) == {"finalized"}
    labels = at.selectbox(key="billing_invoice").options
    acme = next(i for i, label in enumerate(labels) if label.startswith("acme"))
    at.selectbox(key="billing_invoice").select(labels[acme]).run()
    lines = next(d.value for d in at.dataframe if "kind" in d.value.columns)
    fee = lines[lines["kind"] == "fee"].iloc[0]
    usage = lines[lines["kind"] == "usage"].iloc[0]
    assert float(fee["amount_usd"]) == 49.0 and float(fee["cost_usd"]) == 0.0
    assert float(usage["amount_usd"]) == pytest.approx(0.30)
    assert float(usage["request_cost_usd"]) == pytest.approx(0.01)
    assert float(usage["margin_usd"]) == pytest.approx(0.30 - float(usage["cost_usd"]))
    buttons = [b.proto.label for b in at.get("download_button")]
    assert {"Download JSON", "Download CSV", "Download PDF"} <= set(buttons)
    assert "MRR" in " ".join(m.label for m in at.metric)


def test_the_pricing_labs_before_and_after_are_engine_previews(app_test: Run, billed_home: Path) -> None:
    from verticals.billing.invoices import preview_all
    from verticals.ledger import Ledger
    from verticals.ledger.analytics import pricing_lab

    first, _ = last_month()
    month = f"{first:%Y-%m}"
    at = app_test(billed_home, "pricing")
    assert not problems(at), problems(at)
    at.selectbox(key="lab_month").select(month).run()
    shown = {m.label: m.value for m in at.metric}
    with Ledger.open(billed_home, read_only=True) as ledger:
        before = sum((i.total_usd for i in preview_all(ledger, month)), Decimal(0))
        after = pricing_lab(ledger, month=month, moves={"acme": "metered"})[-1]["revenue_after_usd"]
    assert before == Decimal("49.34") and after == Decimal("0.10")  # acme's 3,000 tokens at $0.00002
    assert shown[f"Revenue {month}, as billed"] == "$49.34"
    # move acme to the metered plan in the customers table
    row = int(at.dataframe[0].value.index[at.dataframe[0].value["customer"] == "acme"][0])
    at.session_state["lab_customers"] = {"edited_rows": {row: {"plan": "metered"}}, "added_rows": [],
                                         "deleted_rows": []}  # fmt: skip
    at.run()
    assert not problems(at), problems(at)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Revenue with the edits"] == f"${after:,.2f}"
    assert shown[f"Revenue {month}, as billed"] == "$49.34"
