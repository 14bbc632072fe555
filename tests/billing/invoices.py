"""Hand-built invoices for the export, CLI and admin API tests: every figure computed by hand, so a test
can compare an export's totals with numbers it did not compute itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from verticals.billing.model import (
    ChargeModel,
    CreditLine,
    FeeLine,
    Invoice,
    InvoiceStatus,
    TierUsage,
    UsageLine,
)

D = Decimal
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV_11 = datetime(2026, 11, 11, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)


def november_invoice() -> Invoice:
    """acme in November 2026: ``pro`` ($49) for 10 of 30 days, then ``growth`` ($99) for 20.

    fees: 49 x 1/3 = 16.333.. -> 16.33; 99 x 2/3 = 66.00
    usage: pro nlp/chat 150,000 tokens, 50,000 included, 100,000 x $0.00001 = 1.00
           growth nlp/chat 2,500,000 tokens graduated: 1,000,000 x $0.000002 = 2.00 + 1,500,000 x
           $0.000001 = 1.50 -> 3.50
           growth vision/classify 1,400 images x $0.01 = 14.00
    subtotal 16.33 + 66.00 + 1.00 + 3.50 + 14.00 = 100.83; a $10 credit; total 90.83.
    """
    return Invoice(
        customer="acme",
        month="2026-11",
        status=InvoiceStatus.FINALIZED,
        fees=(
            FeeLine("pro", NOV_1, NOV_11, D("49"), D(1) / D(3), D("16.33")),
            FeeLine("growth", NOV_11, DEC_1, D("99"), D(2) / D(3), D("66.00")),
        ),
        usage=(
            UsageLine(
                plan="pro",
                model="nlp/chat",
                unit="tokens",
                period_start=NOV_1,
                period_end=NOV_11,
                quantity=D(150000),
                included=D(50000),
                billable=D(100000),
                charge_model=ChargeModel.PER_UNIT,
                tiers=(TierUsage(None, D(100000), D("0.00001"), D(0), D("1.00000")),),
                amount_usd=D("1.00"),
                compute_cost_usd=D("0.25"),
            ),
            UsageLine(
                plan="growth",
                model="nlp/chat",
                unit="tokens",
                period_start=NOV_11,
                period_end=DEC_1,
                quantity=D(2500000),
                included=D(0),
                billable=D(2500000),
                charge_model=ChargeModel.GRADUATED,
                tiers=(
                    TierUsage(D(1000000), D(1000000), D("0.000002"), D(0), D("2.000000")),
                    TierUsage(None, D(1500000), D("0.000001"), D(0), D("1.500000")),
                ),
                amount_usd=D("3.50"),
                compute_cost_usd=D("1.75"),
            ),
            UsageLine(
                plan="growth",
                model="vision/classify",
                unit="images",
                period_start=NOV_11,
                period_end=DEC_1,
                quantity=D(1400),
                included=D(0),
                billable=D(1400),
                charge_model=ChargeModel.PER_UNIT,
                tiers=(TierUsage(None, D(1400), D("0.01"), D(0), D("14.00")),),
                amount_usd=D("14.00"),
                compute_cost_usd=D("3.10"),
            ),
        ),
        credits=(CreditLine(7, "launch promotion", D("10.00")),),
        subtotal_usd=D("100.83"),
        credits_usd=D("10.00"),
        total_usd=D("90.83"),
        id=1,
        number="VRT-000001",
        issued_at=datetime(2026, 12, 1, 0, 5, tzinfo=UTC),
    )


def correction_of(invoice: Invoice) -> Invoice:
    """What voiding ``invoice`` and issuing it again gives: a new number, ``replaces`` the old one and a
    credit note of what it charged (the figures themselves unchanged here)."""
    return replace(
        invoice,
        id=2,
        number="VRT-000002",
        replaces=invoice.number,
        credit_note_usd=invoice.total_usd,
        issued_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
    )


OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)


def seed_october(home: Path) -> None:
    """A ledger in ``home`` with a closed month to invoice: ``acme`` on ``pro`` ($49/month) from 1 October
    2026 with one chat request on 15 October (3,000 tokens charged $0.30 at list price, no price row),
    and ``globex`` on ``free`` with nothing to bill. acme's October: fee 49.00 + usage 0.30 = 49.30."""
    from verticals.ledger import Ledger, UsageEvent

    with Ledger.open(home, fsync_ms=5, clock=lambda: OCT_1) as ledger:
        ledger.create_customer("acme", "pro")
        ledger.create_customer("globex", "free")
        ledger.record(
            UsageEvent(
                request_id="req-oct-15",
                ts=datetime(2026, 10, 15, 12, 0, tzinfo=UTC),
                customer="acme",
                plugin="nlp",
                model="nlp/chat",
                model_version="1",
                endpoint="/v1/chat/completions",
                status=200,
                latency_ms=120.0,
                units_in=1000,
                units_out=2000,
                unit="tokens",
                compute_seconds=0.5,
                revenue_usd=Decimal("0.30"),
                cost_usd=Decimal("0.01"),
            )
        )
        ledger.flush()
