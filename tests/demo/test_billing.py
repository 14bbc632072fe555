"""The demo company bills its customers on every business model (issue 17, item 7).

One 30-day back-fill ending at a fixed moment (2026-11-08 12:00 UTC, so October 9-31 is a closed month
and November a month in progress, whatever day the test runs), every plugin installed as ``make up``
does; then the invoices it finalized and the drafts of the month in progress, read through the ledger
and the billing engine.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

PLUGINS = "nlp,health,finance,vision,speech"
NOW = datetime(2026, 11, 8, 12, tzinfo=UTC)
DAYS = 30
CLOSED, OPEN = "2026-10", "2026-11"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from verticals.demo.backfill import backfill
    from verticals.demo.customers import DEMO_CUSTOMERS
    from verticals.ledger import Ledger

    home = tmp_path_factory.mktemp("demo-billing")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_LOAD_PLUGINS", PLUGINS)
        assert backfill(home, DAYS, DEMO_CUSTOMERS, random.Random(17), now=NOW) > 0
    with Ledger.open(home, read_only=True) as opened:
        yield opened


def business_model(plan: str) -> str:
    from verticals.demo.plans import DEMO_PLANS

    return {p.name: p.business_model for p in DEMO_PLANS}[plan]


def test_the_closed_month_is_invoiced_for_customers_on_every_business_model(ledger: Any) -> None:
    from verticals.billing.model import InvoiceStatus
    from verticals.demo.customers import DEMO_CUSTOMERS

    invoices = {invoice.customer: invoice for invoice in ledger.list_invoices(month=CLOSED)}
    assert set(invoices) == {c.name for c in DEMO_CUSTOMERS}
    assert all(invoice.status is InvoiceStatus.FINALIZED and invoice.number for invoice in invoices.values())
    assert all(invoice.issued_at == NOW for invoice in invoices.values())  # as of the end of the history
    models = {business_model(line.plan) for invoice in invoices.values() for line in invoice.fees}
    assert models == {"pay as you go", "subscription", "mix", "committed use"}
    for invoice in invoices.values():
        assert invoice.fees and invoice.usage, invoice.customer
        fees = sum((line.amount_usd for line in invoice.fees), Decimal(0))
        usage = sum((line.amount_usd for line in invoice.usage), Decimal(0))
        assert invoice.total_usd == fees + usage - invoice.credits_usd
        plans = {line.plan for line in invoice.fees}
        assert (fees > 0) == (plans != {"payg"}), invoice.customer  # pay as you go has no fee
    # the month in progress is not finalized: its drafts exist for the same customers
    assert ledger.list_invoices(month=OPEN) == []


def test_invoices_show_allowances_tiers_packages_and_a_credit(ledger: Any) -> None:
    from verticals.billing.invoices import preview
    from verticals.billing.model import ChargeModel

    closed = ledger.list_invoices(month=CLOSED)
    lines = [line for invoice in closed for line in invoice.usage]
    graduated = [line for line in lines if line.charge_model is ChargeModel.GRADUATED]
    # pay as you go crosses its first tier (10M tokens) within the month; scale's overage is graduated
    assert any(len(line.tiers) >= 2 for line in graduated), graduated
    assert {line.plan for line in graduated} >= {"payg", "scale"}
    assert any(line.charge_model is ChargeModel.VOLUME and line.billable > 0 for line in lines)
    assert any(line.charge_model is ChargeModel.PACKAGE and line.amount_usd > 0 for line in lines)
    # allowances included units: the subscription's 20M tokens of nlp/*, prorated to the days covered
    included = [line for line in lines if line.included > 0]
    assert {line.plan for line in included} >= {"team", "scale", "commit"}
    # the launch credit covers pay-as-you-go usage in the closed month and what is left in the next
    [litware] = [invoice for invoice in closed if invoice.customer == "demo-litware"]
    assert litware.credits and litware.credits_usd > 0
    grant = ledger.credit_grants("demo-litware")[0]
    draft = preview(ledger, "demo-litware", OPEN)
    assert draft.credits_usd > 0
    assert litware.credits_usd + draft.credits_usd <= grant.amount_usd


def test_a_mid_month_upgrade_prorates_both_plans_fees(ledger: Any) -> None:
    from verticals.billing.proration import seconds
    from verticals.demo.backfill import plan_change_at
    from verticals.demo.plans import DEMO_PLANS

    start = NOW - timedelta(days=DAYS)
    change = plan_change_at(start, NOW)
    assert change.strftime("%Y-%m") == CLOSED  # October has 22 back-filled days: the change lands there
    [invoice] = ledger.list_invoices(customer="demo-fabrikam", month=CLOSED)
    team, scale = invoice.fees
    assert (team.plan, scale.plan) == ("team", "scale")
    assert (team.period_start, team.period_end, scale.period_start) == (start, change, change)
    october = seconds(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    fees = {plan.name: plan.fee_usd for plan in DEMO_PLANS}
    for line in (team, scale):
        exact = fees[line.plan] * seconds(line.period_start, line.period_end) / october
        assert line.amount_usd == exact.quantize(Decimal("0.01"))
    assert ledger.get_customer("demo-fabrikam").plan == "scale"  # the current plan followed the change


def test_every_customer_has_a_draft_for_the_month_in_progress(ledger: Any) -> None:
    from verticals.billing.invoices import preview_all
    from verticals.billing.model import InvoiceStatus
    from verticals.demo.customers import DEMO_CUSTOMERS

    drafts = {draft.customer: draft for draft in preview_all(ledger, OPEN)}
    assert {c.name for c in DEMO_CUSTOMERS} <= set(drafts)
    assert all(draft.status is InvoiceStatus.DRAFT for draft in drafts.values())
    # the upgrade holds: fabrikam is billed on scale alone in November
    assert [line.plan for line in drafts["demo-fabrikam"].fees] == ["scale"]


def test_the_demo_still_has_a_losing_customer_and_a_healthy_margin(ledger: Any) -> None:
    from verticals.ledger.analytics import usage_summary

    [total] = usage_summary(ledger, by=[], since=NOW - timedelta(days=DAYS), until=NOW)
    assert 0.30 <= total["margin_ratio"] <= 0.80, total
    assert total["credits_usd"] > 0 and total["fee_revenue_usd"] > 0 and total["usage_revenue_usd"] > 0
    customers = usage_summary(ledger, by=["customer"], since=NOW - timedelta(days=DAYS), until=NOW)
    assert any(row["revenue_usd"] < row["cost_usd"] for row in customers)


def test_the_backfilled_books_are_the_demo_plans(ledger: Any) -> None:
    from verticals.demo.plans import DEMO_PLANS

    plans = {plan.name: plan for plan in ledger.list_plans()}
    for demo in DEMO_PLANS:
        assert plans[demo.name].monthly_fee_usd == demo.fee_usd
        rows = {(a.unit, a.model, a.quantity) for a in ledger.allowances(demo.name)}
        assert rows == set(demo.allowances)
        assert {row.charge_model for row in ledger.list_prices(demo.name)} == {
            rule.charge_model for rule in demo.prices
        }


def test_the_billing_page_has_every_kind_of_revenue_in_the_closed_month(ledger: Any) -> None:
    from verticals.ledger.analytics import revenue_by_business_model

    october = {"since": datetime(2026, 10, 1, tzinfo=UTC), "until": datetime(2026, 11, 1, tzinfo=UTC)}
    rows = revenue_by_business_model(ledger, **october)
    # adatum's team plan covers all it uses: a subscription alone; payg is usage alone; the rest both
    assert {row["business_model"] for row in rows} == {"subscription", "usage", "fee + usage"}
    invoiced = sum(invoice.total_usd for invoice in ledger.list_invoices(month=CLOSED))
    assert sum(row["revenue_usd"] for row in rows) == invoiced
