"""Invoice exports (JSON, CSV, PDF) of hand-built invoices, compared with figures computed by hand."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from verticals.billing.exports import from_json, to_csv, to_dict, to_json, to_pdf
from verticals.billing.model import InvoiceStatus

from .invoices import correction_of, november_invoice


def pdf_text(path: Path) -> str:
    """The PDF's text as poppler's pdftotext lays it out (Debian's poppler-utils; `make install` adds it)."""
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext is missing: install Debian's poppler-utils (make system does)"
    done = subprocess.run([tool, "-layout", str(path), "-"], check=True, capture_output=True, text=True)
    return done.stdout


def amount_after(label: str, text: str) -> Decimal:
    """The dollar amount on the line that starts with ``label`` ('-$10.00' -> Decimal('-10.00'))."""
    match = re.search(rf"^\s*{re.escape(label)}\s+(-?)\$([\d,]+\.\d\d)\s*$", text, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{text}"
    return Decimal(match.group(1) + match.group(2).replace(",", ""))


def test_json_keeps_every_figure_as_a_fixed_point_string_and_reads_back_equal() -> None:
    invoice = november_invoice()
    text = to_json(invoice)
    data = json.loads(text, parse_float=lambda raw: pytest.fail(f"a float in the JSON: {raw}"))
    assert (data["subtotal_usd"], data["credits_usd"], data["total_usd"]) == ("100.83", "10.00", "90.83")
    assert [fee["amount_usd"] for fee in data["fees"]] == ["16.33", "66.00"]
    graduated = data["usage"][1]
    assert [(t["up_to"], t["quantity"], t["unit_price"], t["amount"]) for t in graduated["tiers"]] == [
        ("1000000", "1000000", "0.000002", "2.000000"),
        (None, "1500000", "0.000001", "1.500000"),
    ]
    assert (graduated["compute_cost_usd"], graduated["margin_usd"]) == ("1.75", "1.75")
    assert "E-" not in text and "E+" not in text
    assert data["issued_at"] == "2026-12-01T00:05:00+00:00"
    assert from_json(text) == invoice
    assert to_dict(from_json(text)) == data


def test_json_of_a_correction_names_the_voided_invoice_and_its_credit_note() -> None:
    data = json.loads(to_json(correction_of(november_invoice())))
    got = (data["number"], data["replaces"], data["credit_note_usd"])
    assert got == ("VRT-000002", "VRT-000001", "90.83")


def test_from_json_names_what_is_missing() -> None:
    data = to_dict(november_invoice())
    del data["total_usd"]
    with pytest.raises(ValueError, match="lacks 'total_usd'"):
        from_json(json.dumps(data))
    with pytest.raises(ValueError, match="is not a decimal number"):
        from_json(json.dumps({**to_dict(november_invoice()), "total_usd": "lots"}))


def test_csv_lines_add_up_to_the_total() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(november_invoice()))))
    kinds = [row["line"] for row in rows]
    assert kinds == ["fee", "fee", "usage", "usage", "usage", "credit", "subtotal", "credits", "total"]
    lines = [row for row in rows if row["line"] in ("fee", "usage", "credit")]
    by_kind = {row["line"]: Decimal(row["amount_usd"]) for row in rows if row["line"] not in ("fee", "usage")}
    assert by_kind == {
        "credit": Decimal("-10.00"),
        "subtotal": Decimal("100.83"),
        "credits": Decimal("-10.00"),
        "total": Decimal("90.83"),
    }
    assert sum(Decimal(row["amount_usd"]) for row in lines) == Decimal("90.83")
    assert all(row["invoice"] == "VRT-000001" and row["customer"] == "acme" for row in rows)
    graduated = rows[3]
    assert (graduated["model"], graduated["charge_model"], graduated["margin_usd"]) == (
        "nlp/chat",
        "graduated",
        "1.75",
    )
    assert graduated["tiers"] == (
        "1000000 up to 1000000 at 0.000002 = 2.000000; 1500000 above at 0.000001 = 1.500000"
    )


def test_csv_of_a_correction_has_a_credit_note_row_outside_the_total() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(correction_of(november_invoice())))))
    note = rows[-1]
    assert (note["line"], note["amount_usd"]) == ("credit_note", "-90.83")
    assert "VRT-000001" in note["description"]
    assert [row["amount_usd"] for row in rows if row["line"] == "total"] == ["90.83"]


def test_pdf_text_shows_the_lines_and_the_totals(tmp_path: Path) -> None:
    path = to_pdf(november_invoice(), tmp_path / "VRT-000001.pdf")
    assert path.read_bytes().startswith(b"%PDF-")
    text = pdf_text(path)
    assert "Invoice VRT-000001" in text and "Customer: acme" in text and "2026-11" in text
    assert amount_after("Subtotal", text) == Decimal("100.83")
    assert amount_after("Credits", text) == Decimal("-10.00")
    assert amount_after("Total (USD)", text) == Decimal("90.83")
    for amount in ("$16.33", "$66.00", "$1.00", "$3.50", "$14.00", "-$10.00"):
        assert amount in text, amount
    # the graduated line's tiers, each with its amount
    assert re.search(r"tier up to 1,000,000: 1,000,000 x \$0\.000002\s+\$2\.00$", text, re.MULTILINE), text
    assert re.search(r"tier above: 1,500,000 x \$0\.000001\s+\$1\.50$", text, re.MULTILINE), text
    assert "launch promotion" in text
    # compute cost and margin are the operator's, not the customer's
    assert "1.75" not in text and "3.10" not in text


def test_pdf_of_the_same_invoice_is_the_same_file(tmp_path: Path) -> None:
    first = to_pdf(november_invoice(), tmp_path / "a.pdf").read_bytes()
    second = to_pdf(november_invoice(), tmp_path / "b.pdf").read_bytes()
    assert first == second


def test_pdf_of_a_draft_a_correction_and_a_name_outside_latin1(tmp_path: Path) -> None:
    draft = replace(november_invoice(), status=InvoiceStatus.DRAFT, number=None, id=None, issued_at=None)
    text = pdf_text(to_pdf(replace(draft, customer="Zürich 株式会社"), tmp_path / "draft.pdf"))
    assert "Draft invoice" in text and "Customer: Zürich ????" in text
    assert amount_after("Total (USD)", text) == Decimal("90.83")
    text = pdf_text(to_pdf(correction_of(november_invoice()), tmp_path / "VRT-000002.pdf"))
    assert "Invoice VRT-000002" in text and "Replaces invoice VRT-000001" in text
    assert "Credit note: -$90.83 cancels VRT-000001" in text


def test_pdf_of_a_long_invoice_runs_over_pages_and_keeps_every_line(tmp_path: Path) -> None:
    invoice = november_invoice()
    lines = tuple(replace(invoice.usage[2], model=f"vision/model-{n:03d}") for n in range(120))
    total = sum((line.amount_usd for line in lines), Decimal(0))
    long = replace(
        invoice, usage=lines, credits=(), subtotal_usd=total, credits_usd=Decimal(0), total_usd=total
    )
    path = to_pdf(long, tmp_path / "long.pdf")
    text = pdf_text(path)
    assert "Page 3" in text
    assert all(f"vision/model-{n:03d}" in text for n in range(120))
    assert amount_after("Total (USD)", text) == Decimal("1680.00")
    assert "$1,680.00" in text
