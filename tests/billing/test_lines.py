"""Lines of one plan segment (fee, usage after allowances) and credit application, on the ledger's own
records: allowances matched most specific first and shared as pools, credits oldest-expiring first on
usage charges only."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from verticals.billing.credits import apply_credits, counts_for
from verticals.billing.lines import PriceRowLike, Segment, fee_line, usage_lines
from verticals.billing.model import ChargeModel, CreditLine, Tier
from verticals.ledger.allowances import Allowance
from verticals.ledger.billing_usage import UsageTotal
from verticals.ledger.books import PriceRow
from verticals.ledger.credits import CreditGrant

NOV = datetime(2026, 11, 1, tzinfo=UTC)
NOV_11 = datetime(2026, 11, 11, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)
WHOLE = Segment("scale", NOV, DEC, "2026-11")


def _row(
    model: str, price: str, charge_model: ChargeModel = ChargeModel.PER_UNIT, **extra: object
) -> PriceRow:
    return PriceRow(1, "scale", model, None, None, "tokens", D(price), NOV, NOV, "", charge_model, **extra)  # type: ignore[arg-type]


PRICES = {
    "nlp/chat": _row("nlp/chat", "0.00001"),
    "nlp/embed": _row("nlp/embed", "0.000001"),
    "speech/transcribe": _row("speech/transcribe", "0.0001"),
}


def _lookup(
    plan: str, model: str, plugin: str, task: str, unit: str, at: datetime | None = None
) -> PriceRowLike | None:
    return PRICES.get(model)


def _total(model: str, quantity: int, unit: str = "tokens", cost: str = "0") -> UsageTotal:
    return UsageTotal(model, model.split("/")[0], None, unit, D(quantity), D(cost), 1)


def test_fee_line_prorates_by_second() -> None:
    line = fee_line(Segment("pro", NOV, NOV_11, "2026-11"), D(49))
    assert (line.plan, line.fee_usd, line.amount_usd) == ("pro", D(49), D("16.33"))
    assert line.fraction == D("0.333333333333")
    assert fee_line(WHOLE, D(49)).amount_usd == D("49.00")


def test_the_most_specific_allowance_is_drawn_first() -> None:
    allowances = [
        Allowance("scale", "tokens", None, D(1000)),
        Allowance("scale", "tokens", "nlp/*", D(500)),
        Allowance("scale", "tokens", "nlp/chat", D(300)),
    ]
    totals = [_total("nlp/chat", 1000), _total("nlp/embed", 400), _total("speech/transcribe", 600)]
    lines = usage_lines(WHOLE, totals, allowances, _lookup)
    got = {line.model: (line.quantity, line.included, line.billable) for line in lines}
    # chat: 300 of its own, then 500 of nlp/* (all of it), then 200 unit-wide
    assert got["nlp/chat"] == (D(1000), D(1000), D(0))
    # embed: nothing left of nlp/*, so 400 of the 800 unit-wide tokens left
    assert got["nlp/embed"] == (D(400), D(400), D(0))
    # transcribe: the 400 unit-wide tokens left (same unit: tokens here); 200 x $0.0001 = 0.02
    assert got["speech/transcribe"] == (D(600), D(400), D(200))
    assert [line.amount_usd for line in lines] == [D("0.00"), D("0.00"), D("0.02")]


def test_allowances_only_cover_their_unit_and_models_and_are_prorated() -> None:
    allowances = [
        Allowance("scale", "images", None, D(900)),
        Allowance("scale", "tokens", "vision/*", D(10**6)),
    ]
    segment = Segment("scale", NOV_11, DEC, "2026-11")
    (line,) = usage_lines(segment, [_total("nlp/chat", 150_000, cost="0.75")], allowances, _lookup)
    assert (line.included, line.billable, line.amount_usd) == (D(0), D(150_000), D("1.50"))
    assert line.compute_cost_usd == D("0.75")
    assert line.margin_usd == D("0.75")
    assert (line.period_start, line.period_end, line.plan) == (NOV_11, DEC, "scale")
    # 20 of 30 days: 1,000,000 x 2/3 = 666,666.67 -> 666,667 included
    prorated = [Allowance("scale", "tokens", None, D(10**6))]
    (line,) = usage_lines(segment, [_total("nlp/chat", 2_000_000)], prorated, _lookup)
    assert (line.included, line.billable) == (D(666_667), D(1_333_333))


def test_usage_outside_a_subscription_has_no_allowance() -> None:
    gap = Segment("scale", NOV_11, DEC, "2026-11", subscribed=False)
    (line,) = usage_lines(
        gap, [_total("nlp/chat", 1000)], [Allowance("scale", "tokens", None, D(10**6))], _lookup
    )
    assert (line.included, line.amount_usd) == (D(0), D("0.01"))


def test_a_tiered_row_prices_the_billable_units() -> None:
    tiers = (Tier(D(1_000_000), D("0.000004")), Tier(None, D("0.000002"), D(1)))
    row = _row("nlp/chat", "0.000004", ChargeModel.GRADUATED, tiers=tiers)

    def lookup(
        plan: str, model: str, plugin: str, task: str, unit: str, at: datetime | None = None
    ) -> PriceRow:
        return row

    (line,) = usage_lines(
        WHOLE, [_total("nlp/chat", 2_500_001)], [Allowance("scale", "tokens", None, D(1))], lookup
    )
    # 2,500,000 billable: 1,000,000 x 0.000004 = 4 + 1,500,000 x 0.000002 = 3 + flat 1
    assert line.billable == D(2_500_000)
    assert [t.amount for t in line.tiers] == [D("4.000000"), D("4.000000")]
    assert (line.charge_model, line.amount_usd) == (ChargeModel.GRADUATED, D("8.00"))


def _grant(grant_id: int, amount: str, expires: datetime | None, granted: datetime = NOV) -> CreditGrant:
    return CreditGrant(grant_id, "acme", D(amount), f"grant {grant_id}", granted, expires)


def test_credits_oldest_expiring_first_never_expiring_last() -> None:
    grants = [
        _grant(1, "5", None),
        _grant(2, "3", datetime(2027, 3, 1, tzinfo=UTC)),
        _grant(3, "4", datetime(2027, 1, 1, tzinfo=UTC)),
    ]
    lines = apply_credits(grants, lambda grant_id: D(0), D("10.50"), DEC)
    assert lines == (
        CreditLine(3, "grant 3", D("4")),
        CreditLine(2, "grant 2", D("3")),
        CreditLine(1, "grant 1", D("3.50")),
    )


def test_credits_cover_at_most_the_usage_and_what_is_left() -> None:
    grants = [_grant(1, "10", None)]
    assert apply_credits(grants, lambda grant_id: D(0), D("2.75"), DEC) == (
        CreditLine(1, "grant 1", D("2.75")),
    )
    assert apply_credits(grants, lambda grant_id: D("8.005"), D("5"), DEC) == (
        CreditLine(1, "grant 1", D("1.99")),
    )
    assert apply_credits(grants, lambda grant_id: D(10), D("5"), DEC) == ()
    assert apply_credits(grants, lambda grant_id: D(0), D(0), DEC) == ()
    # an invoice being corrected gives back what it took
    assert apply_credits(grants, lambda grant_id: D(10), D(5), DEC, {1: D(4)}) == (
        CreditLine(1, "grant 1", D(4)),
    )


def test_which_grants_count_for_a_month() -> None:
    assert counts_for(_grant(1, "1", DEC), DEC)  # expires as November ends: still covers November
    assert not counts_for(_grant(1, "1", datetime(2026, 11, 15, tzinfo=UTC)), DEC)  # gone before invoicing
    assert not counts_for(_grant(1, "1", None, granted=DEC), DEC)  # granted after November
    assert counts_for(_grant(1, "1", None, granted=datetime(2026, 11, 30, 23, tzinfo=UTC)), DEC)
