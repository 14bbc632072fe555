"""Revenue in the analytics is billed revenue: a closed month adds up to its invoices, to the cent and
beyond, however it is grouped; the month in progress recognises its fee daily up to now.

The ledger is the issue's acceptance scenario (``test_invoices._scenario``): acme's November invoice is
16.33 + 66.00 fees, 36.25 usage after allowances and tiers, a $10.00 credit: 108.58, where the gateway
recorded $0.01 of usage at list price.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from verticals.billing.invoices import finalize_month, void_and_reissue
from verticals.cli import cli
from verticals.ledger import Ledger, commands
from verticals.ledger.analytics import concentration, unit_economics, usage_summary

from .invoices import seed_october
from .test_invoices import AFTER, DEC_1, NOV_1, NOV_11, Clock, _scenario, _use


@pytest.fixture
def books(tmp_path: Path) -> Iterator[tuple[Ledger, Clock]]:
    clock = Clock(datetime(2026, 10, 20, tzinfo=UTC))
    with Ledger.open(tmp_path / "home", fsync_ms=20, clock=clock) as ledger:
        _scenario(ledger)
        clock.now = AFTER
        yield ledger, clock


def test_a_closed_months_revenue_is_the_sum_of_its_invoices(books: tuple[Ledger, Clock]) -> None:
    ledger, _ = books
    issued = finalize_month(ledger, "2026-11", now=AFTER)
    invoiced = sum((invoice.total_usd for invoice in issued), D(0))
    assert invoiced == D("108.58")
    (total,) = usage_summary(ledger, by=[], since=NOV_1, until=DEC_1)
    assert total["revenue_usd"] == invoiced
    assert (total["fee_revenue_usd"], total["usage_revenue_usd"], total["credits_usd"]) == (
        D("82.33"),
        D("36.25"),
        D("10.00"),
    )
    assert total["list_revenue_usd"] == D("0.01")  # usage at list price, shown apart
    assert total["margin_usd"] == invoiced - total["cost_usd"]
    # however it is grouped, the groups add up to the invoices exactly
    for by in (["day"], ["hour", "customer"], ["model"], ["week", "unit"], ["endpoint", "device_class"]):
        rows = usage_summary(ledger, by=by, since=NOV_1, until=DEC_1)
        assert sum((row["revenue_usd"] for row in rows), D(0)) == invoiced, by
    models = {row["model"]: row for row in usage_summary(ledger, by=["model"], since=NOV_1, until=DEC_1)}
    assert models["(plan fee)"]["revenue_usd"] == D("82.33") and models["(plan fee)"]["requests"] == 0
    # fees by second: the first ten days carry pro's 16.33 and a third of nothing else
    days = usage_summary(ledger, by=["day"], since=NOV_1, until=NOV_11)
    assert sum((row["fee_revenue_usd"] for row in days), D(0)) == D("16.33")
    assert concentration(ledger, since=NOV_1, until=DEC_1)["total_revenue_usd"] == invoiced
    # per model: usage charges less the credit they bore (plan fees belong to no model)
    economics = unit_economics(ledger, since=NOV_1, until=DEC_1)
    assert sum((row["revenue_usd"] for row in economics), D(0)) == D("26.25")


def test_a_stream_the_client_left_is_invoiced_and_counted_as_revenue(books: tuple[Ledger, Clock]) -> None:
    """A 499 is billed for the tokens it received: on the invoice, and in the revenue the analytics spread
    over events, even as the only event of its line."""
    ledger, _ = books
    _use(ledger, datetime(2026, 11, 3, tzinfo=UTC), "nlp/embed", 1_000, revenue="0.05", status=499)
    ledger.flush()
    [invoice] = finalize_month(ledger, "2026-11", now=AFTER)
    [line] = [u for u in invoice.usage if (u.plan, u.model) == ("pro", "nlp/embed")]
    assert line.amount_usd == D("0.05")
    (total,) = usage_summary(ledger, by=[], since=NOV_1, until=DEC_1)
    assert total["revenue_usd"] == invoice.total_usd


def test_a_finalized_invoice_is_what_counts_and_a_correction_replaces_it(books: tuple[Ledger, Clock]) -> None:
    ledger, _ = books
    (invoice,) = finalize_month(ledger, "2026-11", now=AFTER)
    # a late event: the draft would change, the finalized invoice does not, and revenue follows the invoice
    _use(ledger, datetime(2026, 11, 29, tzinfo=UTC), "vision/classify", 1_000, cost="0.10")
    ledger.flush()
    (total,) = usage_summary(ledger, by=[], since=NOV_1, until=DEC_1)
    assert total["revenue_usd"] == invoice.total_usd == D("108.58")
    reissued = void_and_reissue(ledger, invoice.number or "")
    assert reissued.total_usd == D("128.58")  # 1,000 more images at $0.02
    (total,) = usage_summary(ledger, by=[], since=NOV_1, until=DEC_1)
    assert total["revenue_usd"] == reissued.total_usd


def test_the_month_in_progress_recognises_its_fee_daily_up_to_now(books: tuple[Ledger, Clock]) -> None:
    ledger, clock = books
    ledger.create_customer("quiet", "pro")  # $49 a month from 2 December 09:00, no usage
    clock.now = datetime(2026, 12, 11, 9, tzinfo=UTC)  # 9 of December's 31 days later
    rows = {r["customer"]: r for r in usage_summary(ledger, by=["customer"], since=DEC_1)}
    # the draft's fee is 49 x 29.625/31 = 46.83; by now 9/29.625 of it is recognised: 14.226...
    quiet = rows["quiet"]
    assert quiet["requests"] == 0
    assert quiet["fee_revenue_usd"] == pytest.approx(D("46.83") * 9 / D("29.625"), abs=D("1e-9"))
    # until=None and until in the future agree: nothing after now is recognised
    later = usage_summary(ledger, by=["customer"], since=DEC_1, until=datetime(2027, 1, 1, tzinfo=UTC))
    assert {r["customer"]: r["revenue_usd"] for r in later} == {c: r["revenue_usd"] for c, r in rows.items()}


def test_list_basis_is_usage_at_list_price(books: tuple[Ledger, Clock]) -> None:
    ledger, _ = books
    (total,) = usage_summary(ledger, by=[], since=NOV_1, until=DEC_1, basis="list")
    assert total["revenue_usd"] == total["list_revenue_usd"] == D("0.01")


def test_the_usage_report_shows_billed_revenue(verticals_home: Path) -> None:
    """`verticals usage report`: acme's October is its $49.00 fee and $0.30 of usage at list price (no
    price row, no allowance on pro): $49.30, where the usage alone at list price was $0.30."""
    seed_october(verticals_home)
    args = ["usage", "report", "--since", "2026-10-01", "--until", "2026-11-01", "--json"]
    app = click.Group(commands=dict(cli.commands))
    commands.attach(app)  # the ledger's commands, as the plugin manager registers them
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {row["customer"]: row for row in json.loads(result.output)}
    assert (rows["acme"]["revenue_usd"], rows["acme"]["list_revenue_usd"]) == ("49.300000000", "0.300000000")
    assert rows["acme"]["fee_revenue_usd"] == "49.000000000" and "globex" not in rows


def test_invoice_lines_carry_their_compute_cost_and_margin(books: tuple[Ledger, Clock]) -> None:
    from verticals.ledger.analytics import invoice_lines, invoice_summaries, invoices_by_status

    ledger, _ = books
    draft = {
        (r["kind"], r["plan"], r["model"]): r for r in invoice_lines(ledger, customer="acme", month="2026-11")
    }
    # the scenario's lines (test_invoices): scale vision/classify 24.00 on $3.00 of compute; no device
    # was recorded, so no idle share
    images = draft[("usage", "scale", "vision/classify")]
    assert (images["amount_usd"], images["request_cost_usd"], images["idle_cost_usd"]) == (
        D("24.00"),
        D("3.00"),
        D(0),
    )
    assert images["margin_usd"] == D("21.00") and images["margin_ratio"] == pytest.approx(21 / 24)
    assert draft[("fee", "pro", None)]["margin_usd"] == D("16.33")  # a fee uses no compute
    assert draft[("credit", None, None)]["amount_usd"] == D("-10.00")
    assert sum((r["amount_usd"] for r in draft.values()), D(0)) == D("108.58")
    (invoice,) = finalize_month(ledger, "2026-11", now=AFTER)
    void_and_reissue(ledger, invoice.number or "")
    statuses = {
        r["status"]: (r["invoices"], r["total_usd"])
        for r in invoices_by_status(ledger, since=NOV_1, until=DEC_1)
    }
    assert statuses == {"finalized": (1, D("108.58")), "void": (1, D("108.58"))}
    (listed,) = [r for r in invoice_summaries(ledger, since=NOV_1, until=DEC_1) if r["status"] == "finalized"]
    # compute: pro chat 0.70 + pro images 0.50 + scale chat 3.50 + embed 0.02 + scale images 3.00
    assert (listed["number"], listed["replaces"], listed["compute_cost_usd"]) == (
        "VRT-000002",
        "VRT-000001",
        D("7.72"),
    )
    assert invoice_lines(ledger, number="VRT-000002")[-1]["amount_usd"] == D("-10.00")
