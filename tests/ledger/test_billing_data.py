"""Billing data in the ledger: charge models and tiers, allowances, subscriptions, credits, usage totals and
the invoice store (schema v4)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from verticals.billing.model import (
    ChargeModel,
    CreditLine,
    FeeLine,
    Invoice,
    InvoiceStatus,
    Tier,
    TierUsage,
    UsageLine,
)
from verticals.ledger import Ledger, LedgerError
from verticals.ledger.schema import migrate

from .conftest import Clock, make_event

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)
ENGINES = ("duckdb", "postgres")  # every test taking `ledger` runs on both (conftest)
TIERS = [Tier(Decimal(1_000_000), Decimal("0.000002")), Tier(None, Decimal("0.000001"), Decimal(5))]


def test_v3_customers_get_one_subscription_from_their_creation(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, str(path), target=3)
    conn.execute(
        "INSERT INTO customers VALUES ('old-co', 'pro', NULL, 'active', TIMESTAMP '2025-03-04 05:06:07')"
    )
    conn.execute(
        "INSERT INTO price_book (plan, model, unit, price_per_unit_usd, effective_from, created_at) "
        "VALUES ('pro', 'nlp/chat', 'tokens', 0.000002, TIMESTAMP '2025-01-01', TIMESTAMP '2025-01-01')"
    )
    conn.close()
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        [subscription] = ledger.subscriptions("old-co")
        assert (subscription.plan, subscription.starts_at, subscription.ends_at) == (
            "pro",
            datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
            None,
        )
        [row] = ledger.list_prices("pro")
        assert (row.charge_model, row.package_size, row.tiers) == (ChargeModel.PER_UNIT, None, ())
        assert ledger.credit_grants() == [] and ledger.list_invoices() == [] and ledger.allowances() == []


def test_allowances_per_unit_model_and_plugin_pattern(ledger: Ledger) -> None:
    ledger.set_allowance("pro", "tokens", "100000")
    ledger.set_allowance("pro", "tokens", Decimal(1_000_000), model="nlp/*")
    ledger.set_allowance("pro", "images", 10_000, model="vision/classify")
    ledger.set_allowance("pro", "tokens", "200000")  # replaces the unit-wide row
    rows = ledger.allowances("pro")
    assert [(a.unit, a.model, a.quantity) for a in rows] == [
        ("images", "vision/classify", Decimal(10_000)),
        ("tokens", None, Decimal(200_000)),
        ("tokens", "nlp/*", Decimal(1_000_000)),
    ]
    pattern = rows[2]
    assert pattern.matches("nlp/chat") and not pattern.matches("nlpx/chat") and pattern.specificity == 1
    assert ledger.allowances("free") == []
    with pytest.raises(LedgerError, match="neither a model"):
        ledger.set_allowance("pro", "tokens", 1, model="nlp")
    with pytest.raises(LedgerError, match="unknown plan"):
        ledger.set_allowance("gold", "tokens", 1)
    with pytest.raises(LedgerError, match="decimal string"):
        ledger.set_allowance("pro", "tokens", 1.5)  # type: ignore[arg-type]


def test_charge_models_are_stored_and_read_back(
    ledger: Ledger, clock: Clock, reopen: Callable[..., Ledger]
) -> None:
    package = ledger.set_price(
        "pro", "images", "0.50", model="vision/classify", charge_model="package", package_size="1000"
    )
    graduated = ledger.set_price(
        "pro", "tokens", "0.000002", model="nlp/chat", charge_model=ChargeModel.GRADUATED, tiers=TIERS
    )
    assert package.charge_model is ChargeModel.PACKAGE and package.package_size == 1000
    assert graduated.tiers == (
        Tier(Decimal(1_000_000), Decimal("0.000002"), Decimal(0)),
        Tier(None, Decimal("0.000001"), Decimal(5)),
    )
    # the gateway prices requests per unit: a package row is its price over its size
    ledger.create_customer("acme", "pro")
    assert ledger.price_per_unit("acme", "vision/classify", "vision", "classify", "images") == Decimal(
        "0.0005"
    )
    assert ledger.price_per_unit("acme", "nlp/chat", "nlp", "chat", "tokens") == Decimal("0.000002")
    row = ledger.price_row("pro", "nlp/chat", "nlp", "chat", "tokens", clock())
    assert row is not None and row.id == graduated.id and row.tiers == graduated.tiers
    assert ledger.price_row("free", "nlp/chat", "nlp", "chat", "tokens") is None
    ledger.close()
    with reopen(read_only=True) as again:
        assert [r.tiers for r in again.list_prices("pro")] == [graduated.tiers, ()]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"charge_model": "package"}, "needs a package size"),
        ({"charge_model": "per_unit", "package_size": "10"}, "only goes with the package"),
        ({"charge_model": "graduated"}, "needs tiers"),
        ({"charge_model": "volume", "tiers": [Tier(None, Decimal(1))]}, "first tier's"),
        ({"charge_model": "per_unit", "tiers": TIERS}, "only go with the graduated or volume"),
        ({"charge_model": "tiered"}, "unknown charge model"),
        (
            {"charge_model": "graduated", "tiers": [Tier(Decimal(5), Decimal("0.000002"))]},
            "make it unbounded",
        ),
        (
            {
                "charge_model": "graduated",
                "tiers": [
                    Tier(Decimal(5), Decimal("0.000002")),
                    Tier(Decimal(5), Decimal(1)),
                    Tier(None, Decimal(1)),
                ],
            },
            "must be above the previous",
        ),
    ],
)
def test_bad_charge_models_are_refused(ledger: Ledger, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        ledger.set_price("pro", "tokens", "0.000002", model="nlp/chat", **kwargs)  # type: ignore[arg-type]
    assert ledger.list_prices("pro") == []


def test_subscriptions_are_the_plan_history(ledger: Ledger, clock: Clock) -> None:
    ledger.create_customer("acme", "pro")
    start = clock()
    switch = start + timedelta(days=3)
    growth = ledger.set_subscription("acme", "enterprise", starts_at=switch)  # in the future
    first, second = ledger.subscriptions("acme")
    assert (first.plan, first.starts_at, first.ends_at) == ("pro", start, switch)
    assert (second.id, second.plan, second.starts_at, second.ends_at) == (
        growth.id,
        "enterprise",
        switch,
        None,
    )
    # prices follow the plan in force at the time asked, and a cached price expires at the switch
    ledger.set_price("pro", "tokens", "0.000002", model="nlp/chat")
    ledger.set_price("enterprise", "tokens", "0.000001", model="nlp/chat")
    assert ledger.price_per_unit("acme", "nlp/chat", "nlp", "chat", "tokens") == Decimal("0.000002")
    assert ledger.price_per_unit("acme", "nlp/chat", "nlp", "chat", "tokens", switch) == Decimal("0.000001")
    assert ledger.price_span("acme", "nlp/chat", "nlp", "chat", "tokens").until == switch
    assert ledger.get_customer("acme").plan == "pro"
    clock.advance(days=4)
    assert ledger.get_customer("acme").plan == "enterprise"
    with pytest.raises(LedgerError, match="must start after it"):
        ledger.set_subscription("acme", "free", starts_at=start + timedelta(days=1))
    with pytest.raises(LedgerError, match="already on plan enterprise"):
        ledger.set_subscription("acme", "enterprise")
    ended = ledger.cancel_subscription("acme")
    assert ended.id == growth.id and ended.ends_at == clock()
    with pytest.raises(LedgerError, match="no open subscription"):
        ledger.cancel_subscription("acme")
    with pytest.raises(LedgerError, match="unknown customer"):
        ledger.set_subscription("globex", "pro")
    with pytest.raises(LedgerError, match="unknown plan"):
        ledger.set_subscription("acme", "gold")


def test_a_plan_change_through_customers_set_is_a_subscription_change(ledger: Ledger, clock: Clock) -> None:
    ledger.create_customer("acme", "free")
    ledger.update_customer("acme", plan="pro")  # the same instant: replaces the first plan
    clock.advance(hours=1)
    ledger.update_customer("acme", plan="enterprise", budget_usd="10")
    ledger.update_customer("acme", budget_usd="20")  # no plan change, no subscription change
    assert [(s.plan, s.ends_at) for s in ledger.subscriptions("acme")] == [
        ("pro", clock()),
        ("enterprise", None),
    ]


def _invoice(customer: str, month: str, credits: tuple[CreditLine, ...] = ()) -> Invoice:
    applied = sum((c.amount_usd for c in credits), Decimal(0))
    tier = TierUsage(Decimal(1_000_000), Decimal(1_000_000), Decimal("0.000002"), Decimal(0), Decimal(2))
    usage = UsageLine(
        "pro", "nlp/chat", "tokens", NOV, DEC, Decimal(1_500_000), Decimal(100_000), Decimal(1_400_000),
        ChargeModel.GRADUATED, (tier,), Decimal("2.40"), Decimal("0.31"),
    )  # fmt: skip
    fee = FeeLine("pro", NOV, DEC, Decimal(49), Decimal(1), Decimal("49.00"))
    return Invoice(
        customer, month, InvoiceStatus.DRAFT, (fee,), (usage,), credits, Decimal("51.40"), applied,
        Decimal("51.40") - applied,
    )  # fmt: skip


def test_credits_balance_counts_expiry_and_finalized_invoices(ledger: Ledger, clock: Clock) -> None:
    ledger.create_customer("acme", "pro")
    promo = ledger.grant_credit("acme", "10", reason="launch", granted_at=NOV, expires_at=DEC)
    later = ledger.grant_credit("acme", Decimal("2.50"))
    assert [(g.id, g.amount_usd, g.reason) for g in ledger.credit_grants("acme")] == [
        (promo.id, Decimal(10), "launch"),
        (later.id, Decimal("2.5"), ""),
    ]
    assert ledger.credit_balance("acme", clock()) == Decimal("12.5")
    assert ledger.credit_balance("acme", DEC) == Decimal("2.5")  # the promotion expired
    stored = ledger.store_invoice(
        _invoice("acme", "2026-11", (CreditLine(promo.id, "launch", Decimal("2.40")),))
    )
    assert ledger.applied_credits(promo.id) == Decimal("2.40")
    assert ledger.credit_balance("acme", clock()) == Decimal("10.1")
    assert stored.number is not None
    ledger.void_invoice(stored.number)
    assert ledger.applied_credits(promo.id) == 0 and ledger.credit_balance("acme", clock()) == Decimal("12.5")
    for amount, message in (("0", "above \\$0"), ("-1", "negative"), ("ten", "not a number")):
        with pytest.raises(LedgerError, match=message):
            ledger.grant_credit("acme", amount)
    with pytest.raises(LedgerError, match="expire"):
        ledger.grant_credit("acme", "1", expires_at=NOV)
    with pytest.raises(LedgerError, match="unknown customer"):
        ledger.grant_credit("globex", "1")


def test_usage_totals_count_billed_units_of_billed_events(ledger: Ledger) -> None:
    ledger.create_customer("acme", "pro")
    at = datetime(2026, 11, 10, tzinfo=UTC)
    events = [
        make_event(request_id="a", ts=at, units_in=100, units_out=50, cost_usd="0.01"),
        make_event(request_id="b", ts=at, units_in=0.1, units_out=0.2, cost_usd="0.02"),
        make_event(request_id="c", ts=at, units_in=1000, units_out=1000, status=500, revenue_usd="0"),
        make_event(request_id="d", ts=DEC, units_in=7, units_out=0),  # next month
        make_event(
            request_id="e",
            ts=at,
            model="vision/classify",
            plugin="vision",
            unit="images",
            units_in=3,
            units_out=1,
            cost_usd="0.5",
        ),
        make_event(request_id="f", ts=at, customer="other"),
        # a stream the client left is billed for the tokens it received, so it is invoiced too
        make_event(request_id="g", ts=at, units_in=10, units_out=5, status=499, cost_usd="0.001"),
    ]
    for event in events:
        ledger.record(event)
    totals = ledger.usage_totals("acme", NOV, DEC)
    assert [
        (t.model, t.plugin, t.task, t.unit, t.quantity, t.compute_cost_usd, t.requests) for t in totals
    ] == [
        ("nlp/chat", "nlp", "", "tokens", Decimal("165.3"), Decimal("0.031"), 3),
        ("vision/classify", "vision", "", "images", Decimal(3), Decimal("0.5"), 1),
    ]
    assert ledger.usage_totals("acme", DEC, DEC + timedelta(days=31))[0].quantity == 7


def test_invoices_are_numbered_stored_as_issued_and_voided_never_edited(ledger: Ledger, clock: Clock) -> None:
    ledger.create_customer("acme", "pro")
    ledger.create_customer("globex", "pro")
    draft = _invoice("acme", "2026-11")
    first = ledger.store_invoice(draft)
    second = ledger.store_invoice(_invoice("globex", "2026-11"))
    assert (first.id, first.number, first.issued_at) == (1, "VRT-000001", clock())
    assert first.status is InvoiceStatus.FINALIZED
    assert second.number == "VRT-000002"
    assert ledger.get_invoice(1) == ledger.get_invoice("VRT-000001") == ledger.get_invoice("1") == first
    snapshot = ledger.invoice_snapshot("VRT-000001")
    # edits to the price book, allowances and the customer's plan do not touch what was issued
    ledger.set_price("pro", "tokens", "9", model="nlp/chat")
    ledger.set_allowance("pro", "tokens", "1")
    ledger.update_customer("acme", plan="enterprise")
    assert ledger.invoice_snapshot("VRT-000001") == snapshot and ledger.get_invoice(1) == first
    with pytest.raises(LedgerError, match="already has invoice VRT-000001"):
        ledger.store_invoice(draft)
    with pytest.raises(LedgerError, match="already stored"):
        ledger.store_invoice(first)
    voided = ledger.void_invoice("VRT-000001")
    assert voided.status is InvoiceStatus.VOID and ledger.invoice_snapshot(1) == snapshot
    with pytest.raises(LedgerError, match="already voided"):
        ledger.void_invoice("VRT-000001")
    reissued = ledger.store_invoice(_invoice("acme", "2026-11"))
    assert reissued.number == "VRT-000003"
    assert [i.number for i in ledger.list_invoices(customer="acme")] == ["VRT-000001", "VRT-000003"]
    assert [i.number for i in ledger.list_invoices(status="void")] == ["VRT-000001"]
    assert [i.number for i in ledger.list_invoices(status="finalized", month="2026-11")] == [
        "VRT-000002",
        "VRT-000003",
    ]
    assert ledger.list_invoices(month="2026-10") == [] and ledger.list_invoices(status="draft") == []
    with pytest.raises(LedgerError, match="no invoice"):
        ledger.get_invoice("VRT-000009")
    with pytest.raises(LedgerError, match="not YYYY-MM"):
        ledger.list_invoices(month="November")
    with pytest.raises(LedgerError, match="unknown invoice status"):
        ledger.list_invoices(status="paid")


def test_billing_writes_are_refused_on_a_read_only_ledger(
    ledger: Ledger, reopen: Callable[..., Ledger]
) -> None:
    ledger.create_customer("acme", "pro")
    ledger.close()
    with reopen(read_only=True) as read_only:
        assert len(read_only.subscriptions("acme")) == 1
        assert read_only.usage_totals("acme", NOV, DEC) == []
        for call in (
            lambda: read_only.set_subscription("acme", "free"),
            lambda: read_only.grant_credit("acme", "1"),
            lambda: read_only.set_allowance("pro", "tokens", "1"),
            lambda: read_only.store_invoice(_invoice("acme", "2026-11")),
        ):
            with pytest.raises(LedgerError, match="read-only"):
                call()
