"""``verticals invoices preview|finalize|list|show|void``: invoices from the shell.

Each command prints rich tables for people, or with ``--json`` the invoice in
``verticals.billing.exports.to_dict``'s shape for scripts (``show`` and ``preview`` also take ``--csv``
and ``--pdf FILE``). Money is printed as fixed-point decimal strings in USD (``16.33``, a unit price
``0.000002``), never floats. While ``verticals serve`` holds the ledger, the same calls go through its
admin API (``verticals.client.RemoteInvoices``); otherwise the ledger file is opened here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from verticals.billing.exports import money, to_csv, to_dict, to_json, to_pdf
from verticals.billing.invoice_view import print_invoice, print_summaries
from verticals.billing.model import Invoice
from verticals.output import print_json

if TYPE_CHECKING:
    from verticals.billing.desk import Invoices


def attach(cli: click.Group) -> None:
    """Add the ``invoices`` command group to the ``verticals`` CLI group ``cli``."""
    cli.add_command(invoices)


def _month(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check a ``--month`` value is a calendar month, ``YYYY-MM`` (UTC); BadParameter with an example."""
    from verticals.billing.desk import check_month
    from verticals.ledger.errors import LedgerError

    if value is not None:
        try:
            check_month(value)
        except LedgerError as error:
            raise click.BadParameter(str(error), ctx, param) from None
    return value


@contextmanager
def open_invoices() -> Iterator[Invoices]:
    """The invoice operations on the configured ledger: through the running gateway's admin API when
    ``verticals serve`` holds it, else on the ledger opened here (always, with ``database_url``). A
    LedgerError (a refusal, naming its fix) or a configuration error becomes a one-line click error."""
    from verticals.billing.desk import LocalInvoices, model_tasks
    from verticals.client import running_server
    from verticals.client.invoices import RemoteInvoices
    from verticals.config import ConfigError, load_settings
    from verticals.ledger._cli import open_cli_ledger
    from verticals.ledger.errors import LedgerError
    from verticals.registry import Registry

    desk: Invoices
    try:
        settings = load_settings()
        client = None if settings.database_url else running_server(settings)
        if client is not None:
            desk = RemoteInvoices(client)
        else:  # PostgreSQL (database_url) is written directly, audited as the admin API would (open_ledger)
            ledger = open_cli_ledger(settings)
            desk = LocalInvoices(ledger, lambda: model_tasks(Registry.load()))  # for prices per task
    except (LedgerError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    try:
        yield desk
    except LedgerError as error:
        raise click.ClickException(str(error)) from None
    finally:
        desk.close()


def emit(invoice: Invoice, *, as_json: bool, as_csv: bool, pdf: Path | None) -> None:
    """Print ``invoice`` as asked: JSON, CSV, a PDF file (saying where), or tables. UsageError for more than
    one of them; a click error naming the path when the PDF cannot be written."""
    if sum((as_json, as_csv, pdf is not None)) > 1:
        raise click.UsageError("give one of --json, --csv or --pdf FILE, not several")
    if as_json:
        click.echo(to_json(invoice))
    elif as_csv:
        click.echo(to_csv(invoice), nl=False)
    elif pdf is not None:
        try:
            to_pdf(invoice, pdf)
        except OSError as error:
            raise click.ClickException(
                f"cannot write {pdf}: {error.strerror or error}; give a path in a folder you can write"
            ) from None
        label = invoice.number or f"draft for {invoice.customer} {invoice.month}"
        click.echo(f"wrote {pdf} (invoice {label}, total {money(invoice.total_usd)} {invoice.currency})")
    else:
        print_invoice(invoice)


_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
_CSV = click.option("--csv", "as_csv", is_flag=True, help="Print CSV for spreadsheets.")
_PDF = click.option(
    "--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path), help="Write the customer's PDF to FILE."
)


@click.group()
def invoices() -> None:
    """Preview, finalize, list, show and void invoices (per customer per calendar month, UTC)."""


@invoices.command(name="preview")
@click.argument("customer")
@click.option(
    "--month", callback=_month, metavar="YYYY-MM", help="The month, YYYY-MM (UTC); default the current one."
)
@_JSON
@_CSV
@_PDF
def invoices_preview(customer: str, month: str | None, as_json: bool, as_csv: bool, pdf: Path | None) -> None:
    """Show CUSTOMER's draft invoice for a month, recomputed from the ledger now (nothing is stored)."""
    wanted = month or datetime.now(UTC).strftime("%Y-%m")
    with open_invoices() as desk:
        invoice = desk.preview(customer, wanted)
    emit(invoice, as_json=as_json, as_csv=as_csv, pdf=pdf)


@invoices.command(name="finalize")
@click.option(
    "--month",
    callback=_month,
    metavar="YYYY-MM",
    required=True,
    help="The closed month to invoice, YYYY-MM (UTC).",
)
@click.option("--customer", help="Only this customer (default every customer).")
@_JSON
def invoices_finalize(month: str, customer: str | None, as_json: bool) -> None:
    """Issue the month's invoices: each gets the next number and is stored as it will stay. Customers that
    already have the month's invoice are skipped."""
    with open_invoices() as desk:
        issued = desk.finalize(month, customer)
    if as_json:
        print_json([to_dict(invoice) for invoice in issued])
    elif not issued:
        who = f"{customer} already has" if customer else "every customer already has"
        click.echo(
            f"no invoices issued for {month}: {who} one, or nobody was subscribed "
            f"(see `verticals invoices list --month {month}`)"
        )
    else:
        print_summaries(issued, f"Invoices issued for {month}")


@invoices.command(name="list")
@click.option("--customer", help="Only this customer's invoices.")
@click.option("--status", type=click.Choice(["finalized", "void"]), help="Only invoices in this state.")
@click.option("--month", callback=_month, metavar="YYYY-MM", help="Only this month's invoices, YYYY-MM.")
@_JSON
def invoices_list(customer: str | None, status: str | None, month: str | None, as_json: bool) -> None:
    """List issued invoices (finalized and void) by number; drafts are never stored: see `preview`."""
    with open_invoices() as desk:
        found = desk.list(customer=customer, status=status, month=month)
    if as_json:
        print_json([to_dict(invoice) for invoice in found])
    else:
        print_summaries(found, "Invoices")


@invoices.command(name="show")
@click.argument("id_or_number")
@_JSON
@_CSV
@_PDF
def invoices_show(id_or_number: str, as_json: bool, as_csv: bool, pdf: Path | None) -> None:
    """Show an issued invoice by number (VRT-000001) or id, exactly as it was issued."""
    with open_invoices() as desk:
        invoice = desk.get(id_or_number)
    emit(invoice, as_json=as_json, as_csv=as_csv, pdf=pdf)


@invoices.command(name="void")
@click.argument("number")
@click.option(
    "--no-reissue",
    "reissue",
    flag_value=False,
    default=True,
    help="Only void it; issue no correction.",
)
@_JSON
def invoices_void(number: str, reissue: bool, as_json: bool) -> None:
    """Void invoice NUMBER and issue its correction, recomputed from the ledger, with a credit note for
    what NUMBER charged. Issued invoices are never edited."""
    with open_invoices() as desk:
        invoice = desk.void(number, reissue=reissue)
    if as_json:
        print_json(to_dict(invoice))
    elif not reissue:
        click.echo(f"voided {invoice.number} ({invoice.customer}, {invoice.month}); no correction issued")
    else:
        note = money(invoice.credit_note_usd) if invoice.credit_note_usd is not None else "0.00"
        click.echo(
            f"voided {number}; issued {invoice.number} in its place: total {money(invoice.total_usd)} "
            f"{invoice.currency}, credit note {note} {invoice.currency} for {invoice.replaces or number}"
        )
