"""The Pricing lab's before and after are the billing engine's previews: "before" of the books as they are,
"after" of books that really carry the variation (built here as a second ledger with the same usage), and
the lab writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from verticals.billing.invoices import preview_all
from verticals.billing.model import ChargeModel, Tier
from verticals.ledger import Ledger, LedgerError, UsageEvent
from verticals.ledger.analytics import pricing_lab

OCT_20 = datetime(2026, 10, 20, tzinfo=UTC)
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
AFTER = datetime(2026, 12, 2, tzinfo=UTC)
BASE = {
    "fee": "99",
    "allowance": "100000",
    "image_price": "0.02",
    "tiers": ("1000000:0.000004", "inf:0.000002"),
    "beta": "pro",
}
VARIATION = {
    "moves": {"beta": "scale"},
    "fees": {"scale": "79"},
    "allowances": [{"plan": "pro", "unit": "tokens", "quantity": "200000"}],
    "prices": [
        {"plan": "scale", "unit": "images", "model": "vision/classify", "price_per_unit_usd": "0.03"},
        {
            "plan": "scale",
            "unit": "tokens",
            "model": "nlp/chat",
            "charge_model": "volume",
            "price_per_unit_usd": "0.000003",
            "tiers": ["500000:0.000003", "inf:0.0000015"],
        },
    ],
}
VARIED = {
    "fee": "79",
    "allowance": "200000",
    "image_price": "0.03",
    "tiers": ("500000:0.000003", "inf:0.0000015"),
    "beta": "scale",
    "charge_model": ChargeModel.VOLUME,
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _tier(text: str) -> Tier:
    up_to, price = text.split(":")
    return Tier(None if up_to == "inf" else D(up_to), D(price))


def _books(home: Path, books: dict[str, object]) -> Ledger:
    """acme on scale (graduated tokens, per-image price) and beta on ``books["beta"]``, both using chat and
    vision in November; plans, allowances and prices as ``books`` says."""
    clock = Clock(OCT_20)
    ledger = Ledger.open(home, fsync_ms=20, clock=clock)
    ledger.create_plan("scale", str(books["fee"]))
    ledger.set_allowance("pro", "tokens", str(books["allowance"]))
    ledger.set_price("pro", "tokens", "0.00001", model="nlp/chat", effective_from=NOV_1)
    tiers = [_tier(text) for text in books["tiers"]]  # type: ignore[attr-defined]
    ledger.set_price(
        "scale", "tokens", tiers[0].unit_price, model="nlp/chat", effective_from=NOV_1,
        charge_model=books.get("charge_model", ChargeModel.GRADUATED), tiers=tiers,
    )  # fmt: skip
    ledger.set_price(
        "scale", "images", str(books["image_price"]), model="vision/classify", effective_from=NOV_1
    )
    ledger.create_customer("acme", "scale")
    ledger.create_customer("beta", str(books["beta"]))
    for index, (customer, model, units) in enumerate(
        [
            ("acme", "nlp/chat", 1_800_000),
            ("acme", "vision/classify", 700),
            ("beta", "nlp/chat", 900_000),
            ("beta", "vision/classify", 40),
        ]
    ):
        ledger.record(
            UsageEvent(
                request_id=f"r{index}",
                ts=datetime(2026, 11, 5 + index, tzinfo=UTC),
                customer=customer,
                key_prefix=None,
                plugin=model.split("/")[0],
                model=model,
                model_version="1",
                endpoint="/v1/chat/completions",
                status=200,
                latency_ms=10.0,
                units_in=units,
                units_out=0,
                unit="tokens" if model == "nlp/chat" else "images",
                compute_seconds=1.0,
                revenue_usd=D("0.10"),
                cost_usd=D("0.25"),
            )
        )
    ledger.flush()
    clock.now = AFTER
    return ledger


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Ledger]:
    with _books(tmp_path / "base", BASE) as ledger:
        yield ledger


def _totals(ledger: Ledger) -> dict[str, D]:
    return {invoice.customer: invoice.total_usd for invoice in preview_all(ledger, "2026-11")}


def test_before_and_after_equal_the_engines_previews(base: Ledger, tmp_path: Path) -> None:
    with _books(tmp_path / "varied", VARIED) as varied:
        expected_after = _totals(varied)
    expected_before = _totals(base)
    assert expected_before != expected_after  # the variation changes every customer's bill
    rows = {row["customer"]: row for row in pricing_lab(base, month="2026-11", **VARIATION)}
    for customer in ("acme", "beta"):
        assert rows[customer]["revenue_before_usd"] == expected_before[customer]
        assert rows[customer]["revenue_after_usd"] == expected_after[customer]
        assert rows[customer]["cost_usd"] == D("0.50")  # two requests at $0.25, no devices recorded
    assert (rows["beta"]["plan_before"], rows["beta"]["plan_after"]) == ("pro", "scale")
    total = rows["total"]
    assert total["revenue_before_usd"] == sum(expected_before.values(), D(0))
    assert total["revenue_after_usd"] == sum(expected_after.values(), D(0))
    assert total["margin_after_usd"] - total["margin_before_usd"] == total["revenue_change_usd"]


def test_no_variation_changes_nothing_and_the_lab_writes_nothing(base: Ledger) -> None:
    before = _totals(base)
    rows = pricing_lab(base, month="2026-11")
    assert {row["customer"]: row["revenue_after_usd"] for row in rows[:-1]} == before
    assert all(row["revenue_change_usd"] == 0 for row in rows)
    pricing_lab(base, month="2026-11", **VARIATION)
    assert _totals(base) == before and base.get_plan("scale").monthly_fee_usd == 99
    assert base.get_customer("beta").plan == "pro" and base.list_invoices() == []


def test_bad_variations_are_refused(base: Ledger) -> None:
    with pytest.raises(LedgerError, match="unknown plan"):
        pricing_lab(base, month="2026-11", moves={"beta": "gold"})
    with pytest.raises(LedgerError, match="tiers"):
        pricing_lab(base, month="2026-11", prices=[
            {"plan": "scale", "unit": "tokens", "model": "nlp/chat", "charge_model": "graduated",
             "price_per_unit_usd": "0.1"}])  # fmt: skip
