"""MRR, ARPU, net revenue retention and revenue by business model on a scenario computed by hand.

    plans   basic $20/month; plus $50/month; metered $0/month, nlp/chat tokens at $0.00001
    alpha   basic from 1 September, plus from 15 October 00:00 (an upgrade: expansion)
    beta    metered from 1 September: 1,000,000 tokens in September ($10.00), 2,000,000 in October ($20.00)
    gamma   basic from 1 September, cancelled 10 October 00:00 (churn)
    now     15 November 12:00 (September and October closed, November in progress)

MRR (fee of the plan in force at the month's last moment + the month's usage charges less credits):
    September: alpha 20 + beta 10 + gamma 20 = 50, 3 customers, ARPU 16.666666667
    October:   alpha 50 + beta 20 + gamma 0  = 70, 2 customers, ARPU 35
    November (in progress): alpha 50 + beta's October usage 20 = 70
NRR September -> October: (50 + expansion 30 (alpha) + 10 (beta) - churn 20 (gamma)) / 50 = 1.4
Revenue in October by business model (fees prorated by second; October has 31 days):
    subscription: alpha 20 x 14/31 = 9.03 + 50 x 17/31 = 27.42; gamma 20 x 9/31 = 5.81 -> 42.26, 2 customers
    usage: beta 20.00
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from verticals.ledger import Ledger, LedgerError, UsageEvent
from verticals.ledger.analytics import arpu, mrr, net_revenue_retention, revenue_by_business_model

SEP_1 = datetime(2026, 9, 1, tzinfo=UTC)
OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _tokens(ledger: Ledger, request_id: str, when: datetime, tokens: int) -> None:
    ledger.record(
        UsageEvent(
            request_id=request_id,
            ts=when,
            customer="beta",
            key_prefix=None,
            plugin="nlp",
            model="nlp/chat",
            model_version="1",
            endpoint="/v1/chat/completions",
            status=200,
            latency_ms=10.0,
            units_in=tokens // 2,
            units_out=tokens // 2,
            unit="tokens",
            compute_seconds=1.0,
            revenue_usd=D("0.50"),  # list price: what billing does not use
            cost_usd=D("0.01"),
        )
    )


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    clock = Clock(SEP_1)
    with Ledger.open(tmp_path_factory.mktemp("metrics"), fsync_ms=20, clock=clock) as ledger:
        ledger.create_plan("basic", "20")
        ledger.create_plan("plus", "50")
        ledger.create_plan("metered", "0")
        ledger.set_price("metered", "tokens", "0.00001", model="nlp/chat", effective_from=SEP_1)
        for name, plan in (("alpha", "basic"), ("beta", "metered"), ("gamma", "basic")):
            ledger.create_customer(name, plan)
        ledger.set_subscription("alpha", "plus", datetime(2026, 10, 15, tzinfo=UTC))
        ledger.cancel_subscription("gamma", datetime(2026, 10, 10, tzinfo=UTC))
        _tokens(ledger, "sep", datetime(2026, 9, 20, tzinfo=UTC), 1_000_000)
        _tokens(ledger, "oct", datetime(2026, 10, 20, tzinfo=UTC), 2_000_000)
        ledger.flush()
        clock.now = NOW
        yield ledger


def test_mrr_per_month_with_arpu(books: Ledger) -> None:
    rows = mrr(books, since=SEP_1, until=NOW)
    got = [(r["month"], r["fee_mrr_usd"], r["usage_mrr_usd"], r["mrr_usd"], r["customers"]) for r in rows]
    assert got == [
        ("2026-09", D(40), D(10), D(50), 3),
        ("2026-10", D(50), D(20), D(70), 2),
        ("2026-11", D(50), D(20), D(70), 2),  # in progress: October's usage, the last completed period
    ]
    assert [r["arpu_usd"] for r in rows] == [D("16.666666667"), D(35), D(35)]
    assert [r["closed"] for r in rows] == [True, True, False]
    assert arpu(books, month="2026-09") == {
        "month": "2026-09",
        "mrr_usd": D(50),
        "customers": 3,
        "arpu_usd": D("16.666666667"),
    }


def test_net_revenue_retention(books: Ledger) -> None:
    result = net_revenue_retention(books, start="2026-09", end="2026-10")
    assert (result["starting_mrr_usd"], result["expansion_usd"], result["contraction_usd"]) == (
        D(50),
        D(40),
        D(0),
    )
    assert (result["churned_usd"], result["ending_mrr_usd"]) == (D(20), D(70))
    assert result["nrr"] == pytest.approx(1.4)
    assert (result["customers"], result["retained_customers"]) == (3, 2)
    with pytest.raises(LedgerError, match="start month must come first"):
        net_revenue_retention(books, start="2026-10", end="2026-09")


def test_revenue_by_business_model(books: Ledger) -> None:
    rows = revenue_by_business_model(books, since=OCT_1, until=NOV_1)
    got = [
        (r["business_model"], r["customers"], r["fee_usd"], r["usage_usd"], r["revenue_usd"]) for r in rows
    ]
    assert got == [
        ("subscription", 2, D("42.26"), D(0), D("42.26")),
        ("usage", 1, D(0), D("20.00"), D("20.00")),
    ]
    assert rows[0]["month"] == OCT_1 and rows[0]["fee_share"] == 1.0 and rows[1]["fee_share"] == 0.0
