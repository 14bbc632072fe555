"""Invoices from a real ledger: the issue's acceptance scenario computed by hand line by line, a finalized
invoice that later edits never change, and a correction that voids and reissues with a credit note."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from itertools import count
from pathlib import Path

import pytest

from verticals.billing.errors import BillingError
from verticals.billing.invoices import finalize_month, preview, preview_all, void_and_reissue
from verticals.billing.model import ChargeModel, CreditLine, Invoice, InvoiceStatus, Tier, UsageLine
from verticals.ledger import Ledger, UsageEvent

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV_11 = datetime(2026, 11, 11, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)
AFTER = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # November has ended


class Clock:
    """The ledger's clock, moved by the test (prices and subscriptions may only be dated from now on)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 10, 20, tzinfo=UTC))


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "home", fsync_ms=20, clock=clock) as opened:
        yield opened


_ids = count()


def _use(
    ledger: Ledger,
    when: datetime,
    model: str,
    units_in: int,
    units_out: int = 0,
    *,
    cost: str = "0",
    revenue: str = "0",
    status: int = 200,
    customer: str = "acme",
) -> None:
    plugin = model.split("/")[0]
    unit = "images" if plugin == "vision" else "tokens"
    ledger.record(
        UsageEvent(
            request_id=f"req-{next(_ids)}",
            ts=when,
            customer=customer,
            plugin=plugin,
            model=model,
            model_version="1",
            endpoint="/v1/chat/completions" if unit == "tokens" else f"/v2/models/{model}/infer",
            status=status,
            latency_ms=10.0,
            units_in=units_in,
            units_out=units_out,
            unit=unit,
            revenue_usd=D(revenue),
            cost_usd=D(cost),
        )
    )


GRADUATED = [
    Tier(D(1_000_000), D("0.000004")),
    Tier(D(5_000_000), D("0.000002"), D(1)),
    Tier(None, D("0.000001")),
]


def _scenario(ledger: Ledger) -> None:
    """``acme`` on ``pro`` ($49/month, 100,000 tokens included) from 20 October, on ``scale`` ($99/month,
    1,000,000 tokens of nlp/* included, graduated token tiers, $0.02 an image) from 11 November 00:00,
    a $10 credit, and chat, embeddings and vision usage on both sides of the switch."""
    assert ledger.get_plan("pro").monthly_fee_usd == 49
    ledger.create_plan("scale", "99", description="graduated tokens, per-image price")
    ledger.set_allowance("pro", "tokens", "100000")
    ledger.set_allowance("scale", "tokens", "1000000", model="nlp/*")
    ledger.set_price("pro", "tokens", "0.00001", model="nlp/chat", effective_from=NOV_1)
    ledger.set_price("pro", "images", "0.01", model="vision/classify", effective_from=NOV_1)
    ledger.set_price(
        "scale", "tokens", "0.000004", model="nlp/chat", effective_from=NOV_1,
        charge_model=ChargeModel.GRADUATED, tiers=GRADUATED,
    )  # fmt: skip
    ledger.set_price("scale", "images", "0.02", model="vision/classify", effective_from=NOV_1)
    # a price change inside the scale segment: the segment keeps the row in force at its start
    ledger.set_price(
        "scale", "images", "0.05", model="vision/classify", effective_from=datetime(2026, 11, 20, tzinfo=UTC)
    )
    ledger.create_customer("acme", "pro")
    ledger.set_subscription("acme", "scale", NOV_11)
    ledger.grant_credit(
        "acme", "10", reason="welcome", granted_at=datetime(2026, 11, 5, tzinfo=UTC),
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    # on pro, 1-10 November
    _use(ledger, datetime(2026, 11, 2, 10, tzinfo=UTC), "nlp/chat", 60_000, 20_000, cost="0.40")
    _use(ledger, NOV_11 - timedelta(seconds=1), "nlp/chat", 50_000, 10_000, cost="0.30")
    _use(ledger, datetime(2026, 11, 5, tzinfo=UTC), "vision/classify", 250, cost="0.50")
    _use(ledger, datetime(2026, 11, 6, tzinfo=UTC), "vision/classify", 100, cost="0.05", status=500)  # failed
    _use(ledger, datetime(2026, 10, 31, 23, 59, tzinfo=UTC), "nlp/chat", 999_999)  # October's
    # on scale, 11-30 November
    _use(ledger, NOV_11, "nlp/chat", 1_500_000, 500_000, cost="2.00")
    _use(ledger, datetime(2026, 11, 25, tzinfo=UTC), "nlp/chat", 1_000_000, 500_000, cost="1.50")
    _use(ledger, datetime(2026, 11, 26, tzinfo=UTC), "nlp/embed", 100_000, cost="0.02", revenue="0.01")
    _use(ledger, DEC_1 - timedelta(microseconds=1), "vision/classify", 1_200, cost="3.00")
    _use(ledger, DEC_1, "vision/classify", 999)  # December's
    ledger.flush()


def _line(invoice: Invoice, plan: str, model: str) -> UsageLine:
    (line,) = [u for u in invoice.usage if (u.plan, u.model) == (plan, model)]
    return line


def test_the_acceptance_scenario_equals_the_hand_computation(ledger: Ledger) -> None:
    _scenario(ledger)
    invoice = preview(ledger, "acme", "2026-11")
    assert invoice.status is InvoiceStatus.DRAFT and invoice.number is None
    # fees, by second: November has 2,592,000 s; pro covers 864,000 (1/3), scale 1,728,000 (2/3)
    assert [(f.plan, f.period_start, f.period_end, f.amount_usd) for f in invoice.fees] == [
        ("pro", NOV_1, NOV_11, D("16.33")),  # 49 x 1/3 = 16.333...
        ("scale", NOV_11, DEC_1, D("66.00")),  # 99 x 2/3
    ]
    # pro nlp/chat: 80,000 + 60,000 tokens; 100,000 x 1/3 = 33,333.3 -> 33,333 included;
    # 106,667 x $0.00001 = 1.06667 -> 1.07
    chat = _line(invoice, "pro", "nlp/chat")
    assert (chat.quantity, chat.included, chat.billable) == (D(140_000), D(33_333), D(106_667))
    assert (chat.charge_model, chat.amount_usd, chat.compute_cost_usd) == (
        ChargeModel.PER_UNIT,
        D("1.07"),
        D("0.70"),
    )
    # pro vision/classify: 250 images (the failed request's 100 are not billed) x $0.01 = 2.50
    images = _line(invoice, "pro", "vision/classify")
    assert (images.quantity, images.included, images.amount_usd, images.compute_cost_usd) == (
        D(250), D(0), D("2.50"), D("0.50"),
    )  # fmt: skip
    # scale nlp/chat: 2,000,000 + 1,500,000 tokens; 1,000,000 x 2/3 = 666,666.7 -> 666,667 included;
    # 2,833,333 billable: 1,000,000 x 0.000004 = 4.00, then 1,833,333 x 0.000002 = 3.666666 + $1 flat
    # = 4.666666; 8.666666 -> 8.67
    chat = _line(invoice, "scale", "nlp/chat")
    assert (chat.quantity, chat.included, chat.billable) == (D(3_500_000), D(666_667), D(2_833_333))
    assert [(t.quantity, t.amount) for t in chat.tiers] == [
        (D(1_000_000), D("4.000000")),
        (D(1_833_333), D("4.666666")),
    ]
    assert (chat.amount_usd, chat.compute_cost_usd) == (D("8.67"), D("3.50"))
    # scale nlp/embed: nlp/chat drew the whole nlp/* pool first (name order), so all 100,000 tokens are
    # billable; no scale price for it: the list price the gateway recorded ($0.01) applies
    embed = _line(invoice, "scale", "nlp/embed")
    assert (embed.included, embed.billable, embed.amount_usd) == (D(0), D(100_000), D("0.01"))
    # scale vision/classify: 1,200 images at $0.02, the price in force when the segment began
    images = _line(invoice, "scale", "vision/classify")
    assert (images.quantity, images.amount_usd, images.margin_usd) == (D(1_200), D("24.00"), D("21.00"))
    assert len(invoice.usage) == 5
    # 16.33 + 66.00 + 1.07 + 2.50 + 8.67 + 0.01 + 24.00 = 118.58; the $10 credit; 108.58
    assert invoice.subtotal_usd == D("118.58")
    assert invoice.credits == (CreditLine(1, "welcome", D("10.00")),)
    assert (invoice.credits_usd, invoice.total_usd) == (D("10.00"), D("108.58"))


def test_credits_cover_usage_only(ledger: Ledger) -> None:
    ledger.create_customer("acme", "pro")
    ledger.grant_credit("acme", "100", reason="prepaid", granted_at=NOV_1)
    ledger.set_price("pro", "tokens", "0.00001", model="nlp/chat", effective_from=NOV_1)
    _use(ledger, datetime(2026, 11, 3, tzinfo=UTC), "nlp/chat", 300_000)
    ledger.flush()
    invoice = preview(ledger, "acme", "2026-11")
    # pro from 20 October covers all November: fee $49.00; 300,000 tokens x $0.00001 = 3.00, all credited
    assert [f.amount_usd for f in invoice.fees] == [D("49.00")]
    assert invoice.credits == (CreditLine(1, "prepaid", D("3.00")),)
    assert invoice.total_usd == D("49.00")


def test_a_finalized_invoice_never_changes_and_a_correction_voids_and_reissues(
    ledger: Ledger, clock: Clock
) -> None:
    _scenario(ledger)
    with pytest.raises(BillingError, match="still open"):
        finalize_month(ledger, "2026-11", now=datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    clock.now = AFTER
    (issued,) = finalize_month(ledger, "2026-11", now=AFTER)
    assert (issued.number, issued.status, issued.total_usd) == (
        "VRT-000001",
        InvoiceStatus.FINALIZED,
        D("108.58"),
    )
    snapshot = ledger.invoice_snapshot("VRT-000001")
    assert ledger.credit_balance("acme", AFTER) == 0
    assert finalize_month(ledger, "2026-11", now=AFTER) == []  # acme has its invoice already

    # the price book and the plan change afterwards ...
    ledger.set_price("scale", "tokens", "0.00002", model="nlp/chat")
    ledger.set_allowance("scale", "tokens", "2000000", model="nlp/*")
    ledger.set_allowance("pro", "tokens", "0")
    ledger.set_subscription("acme", "pro", AFTER + timedelta(hours=1))
    # ... and the stored invoice is the same, byte for byte
    assert ledger.invoice_snapshot("VRT-000001") == snapshot
    assert ledger.get_invoice("VRT-000001") == issued
    # while a draft recomputed now sees the new allowances: pro chat includes nothing (140,000 x
    # $0.00001 = 1.40), scale chat includes 1,333,333 (2,166,667 billable: 4.00 + 1,166,667 x 0.000002
    # = 2.333334 + $1 -> 7.33)
    draft = preview(ledger, "acme", "2026-11")
    assert (_line(draft, "pro", "nlp/chat").amount_usd, _line(draft, "scale", "nlp/chat").amount_usd) == (
        D("1.40"), D("7.33"),
    )  # fmt: skip

    # a correction: VRT-000001 void, VRT-000002 recomputed, its credit used again, with a credit note
    corrected = void_and_reissue(ledger, "VRT-000001")
    assert (corrected.number, corrected.replaces, corrected.credit_note_usd) == (
        "VRT-000002",
        "VRT-000001",
        D("108.58"),
    )
    # 118.58 - 1.07 + 1.40 - 8.67 + 7.33 = 117.57; less the $10 credit: 107.57
    assert (corrected.subtotal_usd, corrected.credits_usd, corrected.total_usd) == (
        D("117.57"),
        D("10.00"),
        D("107.57"),
    )
    assert any("VRT-000001" in note for note in corrected.notes)
    assert ledger.get_invoice("VRT-000001").status is InvoiceStatus.VOID
    assert ledger.invoice_snapshot("VRT-000001") == snapshot
    assert ledger.credit_balance("acme", AFTER) == 0
    with pytest.raises(BillingError, match="only a finalized invoice"):
        void_and_reissue(ledger, "VRT-000001")


def test_cancellation_ends_the_fee_and_later_usage_is_noted(ledger: Ledger) -> None:
    ledger.create_plan("scale", "99")
    ledger.set_price("scale", "tokens", "0.00001", model="nlp/chat", effective_from=NOV_1)
    ledger.create_customer("acme", "scale")
    ledger.cancel_subscription("acme", datetime(2026, 11, 21, tzinfo=UTC))
    _use(ledger, datetime(2026, 11, 25, tzinfo=UTC), "nlp/chat", 100_000)
    ledger.flush()
    invoice = preview(ledger, "acme", "2026-11")
    # 99 x 20/30 = 66.00; the 100,000 tokens after the cancellation at scale's price, no allowance
    assert [(f.period_end, f.amount_usd) for f in invoice.fees] == [
        (datetime(2026, 11, 21, tzinfo=UTC), D("66.00"))
    ]
    assert [(u.period_start, u.amount_usd) for u in invoice.usage] == [
        (datetime(2026, 11, 21, tzinfo=UTC), D("1.00"))
    ]
    assert invoice.total_usd == D("67.00")
    assert "outside any subscription" in invoice.notes[0]


def test_customers_with_nothing_to_bill_get_no_invoice(ledger: Ledger) -> None:
    ledger.create_customer("acme", "free")
    ledger.create_customer("globex", "free")
    assert preview(ledger, "acme", "2026-09").fees == ()  # before acme existed
    assert finalize_month(ledger, "2026-09", now=AFTER) == []
    # October on a free plan: globex, with a $0.00 fee and no usage, has nothing to bill; acme used 1,000
    # tokens, which the gateway charged at the list price ($0.002), and gets its invoice
    _use(ledger, datetime(2026, 10, 25, tzinfo=UTC), "nlp/chat", 1000, revenue="0.002")
    ledger.flush()
    assert [f.amount_usd for f in preview(ledger, "globex", "2026-10").fees] == [D("0.00")]
    issued = finalize_month(ledger, "2026-10", now=AFTER)
    assert [(i.customer, i.number, i.total_usd) for i in issued] == [("acme", "VRT-000001", D("0.00"))]
    with pytest.raises(BillingError, match="YYYY-MM"):
        preview(ledger, "acme", "November")


def test_all_customers_at_once_equals_each_alone(ledger: Ledger) -> None:
    """``preview_all`` reads the month's usage in one scan (``usage_totals_many``); it gives each customer
    the invoice ``preview`` gives it alone."""
    _scenario(ledger)
    ledger.create_customer("globex", "free")  # nothing to bill: left out
    ledger.create_customer("initech", "scale")
    _use(ledger, datetime(2026, 11, 20, tzinfo=UTC), "nlp/chat", 5_000, customer="initech")
    ledger.flush()
    drafts = preview_all(ledger, "2026-11")
    assert [d.customer for d in drafts] == ["acme", "initech"]
    assert drafts == [preview(ledger, "acme", "2026-11"), preview(ledger, "initech", "2026-11")]
    windows = [
        ("acme", NOV_1, NOV_11),
        ("initech", NOV_1, DEC_1),
        ("acme", NOV_1, DEC_1),  # overlapping windows each count their own events
        ("nobody", NOV_1, DEC_1),
    ]
    assert ledger.usage_totals_many(windows) == [
        ledger.usage_totals("acme", NOV_1, NOV_11),
        ledger.usage_totals("initech", NOV_1, DEC_1),
        ledger.usage_totals("acme", NOV_1, DEC_1),
        [],
    ]
