"""The admin API's ``/admin/invoices`` routes, the client's ``RemoteInvoices`` and ``verticals invoices``
while a gateway holds the ledger, on a ledger seeded with a closed month (tests/billing/invoices.py).
Ports 18270-18271."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import click
import pytest
from click.testing import CliRunner

from verticals.billing.exports import from_dict, to_dict
from verticals.client import AdminClient, RemoteInvoices, write_server_file
from verticals.ledger import LedgerError

from ..billing.invoices import november_invoice, seed_october
from .conftest import ADMIN_TOKEN, Running

PORT = 18270


@pytest.fixture(scope="module")
def billing_gateway(
    tmp_path_factory: pytest.TempPathFactory, launch_gateway: Callable[..., Any]
) -> Iterator[Running]:
    """A gateway over a ledger with October 2026 to invoice and the hand-built November invoice stored as
    VRT-000001."""
    home = tmp_path_factory.mktemp("billing-home")
    seed_october(home)
    from verticals.ledger import Ledger

    with Ledger.open(home, fsync_ms=5) as ledger:
        ledger.store_invoice(replace(november_invoice(), id=None, number=None, issued_at=None))
    server, running = launch_gateway(home, PORT, models=("echo/chat",))
    write_server_file(home, running.url)  # so the CLI finds it, as under `verticals serve`
    yield running
    server.stop()
    running.ledger.close()


def error_of(response: Any) -> str:
    return str(response.json()["error"]["message"])


def test_an_invoice_as_json_csv_and_pdf(billing_gateway: Running) -> None:
    listed = billing_gateway.admin("GET", "/admin/invoices", params={"customer": "acme", "month": "2026-11"})
    assert listed.status_code == 200, listed.text
    (row,) = listed.json()
    assert (row["number"], row["subtotal_usd"], row["credits_usd"], row["total_usd"]) == (
        "VRT-000001",
        "100.83",
        "10.00",
        "90.83",
    )
    one = billing_gateway.admin("GET", "/admin/invoices/VRT-000001")
    assert one.json() == row
    assert billing_gateway.admin("GET", "/admin/invoices/1").json() == row
    assert from_dict(one.json()) == replace(november_invoice(), issued_at=from_dict(row).issued_at)

    sheet = billing_gateway.admin("GET", "/admin/invoices/VRT-000001/csv")
    assert sheet.headers["content-type"].startswith("text/csv")
    assert 'filename="VRT-000001.csv"' in sheet.headers["content-disposition"]
    totals = {r["line"]: r["amount_usd"] for r in csv.DictReader(io.StringIO(sheet.text))}
    assert (totals["subtotal"], totals["credits"], totals["total"]) == ("100.83", "-10.00", "90.83")

    pdf = billing_gateway.admin("GET", "/admin/invoices/VRT-000001/pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert 'filename="VRT-000001.pdf"' in pdf.headers["content-disposition"]
    path = billing_gateway.home / "downloaded.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True).stdout
    assert "Invoice VRT-000001" in text and "$90.83" in text and "$100.83" in text


def test_refusals_name_the_problem_and_the_fix(billing_gateway: Running) -> None:
    missing = billing_gateway.admin("GET", "/admin/invoices/VRT-999999")
    assert missing.status_code == 404 and "verticals invoices list" in error_of(missing)
    assert billing_gateway.admin("GET", "/admin/invoices/VRT-999999/pdf").status_code == 404
    bad_status = billing_gateway.admin("GET", "/admin/invoices", params={"status": "paid"})
    assert bad_status.status_code == 400 and "finalized" in error_of(bad_status)
    bad_month = billing_gateway.admin("GET", "/admin/invoices", params={"month": "2026-13"})
    assert bad_month.status_code == 400 and "YYYY-MM" in error_of(bad_month)
    nobody = billing_gateway.admin("GET", "/admin/invoices/preview", params={"customer": "nobody"})
    assert nobody.status_code == 400 and "unknown customer 'nobody'" in error_of(nobody)
    for month in ("0000-01", "9999-12"):
        beyond = billing_gateway.admin("POST", "/admin/invoices/finalize", json={"month": month})
        assert beyond.status_code == 400 and "out of range" in error_of(beyond)
    huge = billing_gateway.admin("GET", "/admin/invoices/" + "9" * 30)
    assert huge.status_code == 404
    open_month = datetime.now(UTC).strftime("%Y-%m")
    still_open = billing_gateway.admin("POST", "/admin/invoices/finalize", json={"month": open_month})
    assert still_open.status_code == 400 and "still open" in error_of(still_open)
    import httpx

    anonymous = httpx.get(billing_gateway.url + "/admin/invoices", timeout=30)
    assert anonymous.status_code == 401
    key = billing_gateway.customer("snoop", plan="free")
    as_customer = httpx.get(
        billing_gateway.url + "/admin/invoices/VRT-000001",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert as_customer.status_code == 403


def test_preview_finalize_and_void_through_the_client(billing_gateway: Running) -> None:
    desk = RemoteInvoices(AdminClient(billing_gateway.url, ADMIN_TOKEN))
    draft = desk.preview("acme", "2026-10")
    assert (draft.status.value, draft.number, draft.total_usd) == ("draft", None, Decimal("49.30"))
    assert [(fee.plan, fee.amount_usd) for fee in draft.fees] == [("pro", Decimal("49.00"))]

    (issued,) = desk.finalize("2026-10", "acme")
    assert (issued.number, issued.status.value, issued.total_usd) == (
        "VRT-000002",
        "finalized",
        Decimal("49.30"),
    )
    assert desk.get("VRT-000002") == issued
    assert desk.finalize("2026-10", "acme") == []  # invoiced once

    correction = desk.void("VRT-000002")
    assert (correction.number, correction.replaces, correction.credit_note_usd) == (
        "VRT-000003",
        "VRT-000002",
        Decimal("49.30"),
    )
    assert [i.number for i in desk.list(status="void")] == ["VRT-000002"]
    with pytest.raises(LedgerError, match="VRT-000002"):
        desk.void("VRT-000002")
    with pytest.raises(LedgerError, match="verticals invoices list"):
        desk.get("VRT-424242")


def test_the_cli_goes_through_the_running_gateway(
    billing_gateway: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verticals.billing.invoice_commands import attach
    from verticals.cli import cli as root

    app = click.Group(commands=dict(root.commands))
    attach(app)
    monkeypatch.setenv("VERTICALS_HOME", str(billing_gateway.home))
    monkeypatch.setenv("VERTICALS_ADMIN_TOKEN", ADMIN_TOKEN)
    runner = CliRunner(env={"COLUMNS": "180"})
    # the gateway holds the ledger's lock: a command that opened the file itself would fail
    shown = runner.invoke(app, ["invoices", "show", "VRT-000001", "--json"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == to_dict(billing_gateway.ledger.get_invoice("VRT-000001"))
    table = runner.invoke(app, ["invoices", "list", "--customer", "acme"], catch_exceptions=False)
    assert table.exit_code == 0 and "VRT-000001" in table.output and "90.83" in table.output
    draft = runner.invoke(app, ["invoices", "preview", "acme", "--month", "2026-10"], catch_exceptions=False)
    assert draft.exit_code == 0 and "Draft invoice" in draft.output and "49.30" in draft.output
    pdf = billing_gateway.home / "cli.pdf"
    written = runner.invoke(app, ["invoices", "show", "1", "--pdf", str(pdf)], catch_exceptions=False)
    assert written.exit_code == 0 and pdf.read_bytes().startswith(b"%PDF-")
    missing = runner.invoke(app, ["invoices", "show", "VRT-777777"], catch_exceptions=False)
    assert missing.exit_code == 1 and "verticals invoices list" in missing.output
    assert "Traceback" not in missing.output
