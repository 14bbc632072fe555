"""``verticals invoices ...`` on a ledger file (no gateway running), through the real click root group."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from verticals.billing.exports import to_dict
from verticals.billing.invoice_commands import attach
from verticals.billing.invoices import preview
from verticals.cli import cli as root
from verticals.ledger import Ledger

from .invoices import november_invoice, seed_october


@pytest.fixture(scope="module")
def app() -> click.Group:
    group = click.Group(commands=dict(root.commands))
    attach(group)
    return group


@pytest.fixture
def home(verticals_home: Path) -> Path:
    seed_october(verticals_home)
    return verticals_home


# rich sizes its tables to the terminal: a wide one, as an operator's, so no figure wraps
WIDE = {"COLUMNS": "180"}


def run(app: click.Group, *args: str) -> Result:
    result = CliRunner(env=WIDE).invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def refused(app: click.Group, message: str, *args: str) -> None:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code != 0, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output


def store_hand_built(home: Path) -> dict[str, object]:
    """Store the hand-built November invoice (the ledger numbers it VRT-000001); its to_dict."""
    with Ledger.open(home) as ledger:
        stored = ledger.store_invoice(replace(november_invoice(), id=None, number=None, issued_at=None))
    return to_dict(stored)


def test_show_prints_a_stored_invoice_as_json_csv_pdf_and_tables(app: click.Group, home: Path) -> None:
    expected = store_hand_built(home)
    assert expected["number"] == "VRT-000001"
    assert json.loads(run(app, "invoices", "show", "VRT-000001", "--json").output) == expected
    assert json.loads(run(app, "invoices", "show", "1", "--json").output) == expected
    rows = list(csv.DictReader(io.StringIO(run(app, "invoices", "show", "VRT-000001", "--csv").output)))
    assert [(row["line"], row["amount_usd"]) for row in rows][-3:] == [
        ("subtotal", "100.83"),
        ("credits", "-10.00"),
        ("total", "90.83"),
    ]
    pdf = home / "VRT-000001.pdf"
    said = run(app, "invoices", "show", "VRT-000001", "--pdf", str(pdf)).output
    assert "total 90.83 USD" in said
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "Total (USD)" in text and "$90.83" in text
    table = run(app, "invoices", "show", "VRT-000001").output
    for figure in ("Invoice VRT-000001", "16.33", "66.00", "2,500,000", "graduated", "0.000002", "90.83"):
        assert figure in table, figure
    assert "E-" not in table


def test_show_refuses_with_the_fix(app: click.Group, home: Path) -> None:
    refused(app, "verticals invoices list", "invoices", "show", "VRT-000042")
    store_hand_built(home)
    refused(app, "give one of --json, --csv or --pdf", "invoices", "show", "1", "--json", "--csv")
    refused(
        app, "give a path in a folder you can write", "invoices", "show", "1", "--pdf", "/nonexistent/x.pdf"
    )


def test_list_filters_and_prints_money_as_fixed_point(app: click.Group, home: Path) -> None:
    assert "no invoices" in run(app, "invoices", "list").output
    store_hand_built(home)
    (row,) = json.loads(run(app, "invoices", "list", "--json", "--customer", "acme").output)
    assert (row["number"], row["total_usd"], row["status"]) == ("VRT-000001", "90.83", "finalized")
    assert json.loads(run(app, "invoices", "list", "--json", "--month", "2026-10").output) == []
    assert json.loads(run(app, "invoices", "list", "--json", "--status", "void").output) == []
    table = run(app, "invoices", "list").output
    assert "VRT-000001" in table and "90.83" in table and "2026-11" in table
    refused(app, "is not YYYY-MM", "invoices", "list", "--month", "2026-13")
    refused(app, "'paid' is not one of", "invoices", "list", "--status", "paid")
    refused(app, "unknown customer 'nobody'", "invoices", "list", "--customer", "nobody")


def test_preview_is_the_engines_draft(app: click.Group, home: Path) -> None:
    shown = json.loads(run(app, "invoices", "preview", "acme", "--month", "2026-10", "--json").output)
    with Ledger.open(home) as ledger:
        assert shown == to_dict(preview(ledger, "acme", "2026-10"))
    assert shown["status"] == "draft" and shown["number"] is None
    assert [(fee["plan"], fee["amount_usd"]) for fee in shown["fees"]] == [("pro", "49.00")]
    assert Decimal(shown["total_usd"]) == Decimal("49.30")
    table = run(app, "invoices", "preview", "acme", "--month", "2026-10").output
    assert "Draft invoice" in table and "49.30" in table
    refused(app, "is not YYYY-MM", "invoices", "preview", "acme", "--month", "October")
    refused(app, "unknown customer", "invoices", "preview", "nobody", "--month", "2026-10")
    with Ledger.open(home) as ledger:
        assert ledger.list_invoices() == []  # a preview stores nothing


def test_finalize_issues_numbers_once_and_refuses_an_open_month(app: click.Group, home: Path) -> None:
    refused(app, "Missing option '--month'", "invoices", "finalize")
    refused(app, "still open", "invoices", "finalize", "--month", "2999-01")
    issued = json.loads(run(app, "invoices", "finalize", "--month", "2026-10", "--json").output)
    # acme's fee and usage; globex is on the free plan (whether its $0 invoice is issued is the engine's)
    assert [i["number"] for i in issued] == [f"VRT-{n:06d}" for n in range(1, len(issued) + 1)]
    totals = {i["customer"]: (i["status"], i["total_usd"]) for i in issued}
    assert totals["acme"] == ("finalized", "49.30")
    assert totals.get("globex", ("finalized", "0.00")) == ("finalized", "0.00")
    again = run(app, "invoices", "finalize", "--month", "2026-10").output
    assert "no invoices issued for 2026-10" in again
    for invoice in issued:
        assert json.loads(run(app, "invoices", "show", invoice["number"], "--json").output) == invoice
    table = run(app, "invoices", "list", "--month", "2026-10").output
    assert "VRT-000001" in table and "49.30" in table


def test_void_issues_a_correction_or_only_voids(app: click.Group, home: Path) -> None:
    run(app, "invoices", "finalize", "--month", "2026-10", "--customer", "acme")
    said = run(app, "invoices", "void", "VRT-000001").output
    assert "voided VRT-000001; issued VRT-000002" in said and "credit note 49.30 USD" in said
    correction = json.loads(run(app, "invoices", "show", "VRT-000002", "--json").output)
    assert (correction["replaces"], correction["credit_note_usd"]) == ("VRT-000001", "49.30")
    voided = json.loads(run(app, "invoices", "list", "--status", "void", "--json").output)
    assert [i["number"] for i in voided] == ["VRT-000001"]
    refused(app, "only a finalized invoice", "invoices", "void", "VRT-000001")
    only = json.loads(run(app, "invoices", "void", "VRT-000002", "--no-reissue", "--json").output)
    assert (only["number"], only["status"]) == ("VRT-000002", "void")
    assert "no correction issued" not in json.dumps(only)


@pytest.mark.parametrize("month", ["0000-01", "9999-12"])
def test_a_month_out_of_range_is_refused_without_a_traceback(
    app: click.Group, home: Path, month: str
) -> None:
    refused(
        app,
        "out of range: use a month from 0001-01 to 9999-11",
        "invoices",
        "preview",
        "acme",
        "--month",
        month,
    )
    refused(app, "out of range", "invoices", "finalize", "--month", month)
