"""``verticals subscriptions|credits`` and ``verticals plans allowance|allowances``: billing data from the
shell. While ``verticals serve`` runs, the same calls go through its admin API (``open_ledger``).
"""

from __future__ import annotations

from datetime import datetime

import click

from verticals.ledger._cli import DATE, json_option, open_ledger, rows_of, utc
from verticals.output import print_json, print_table


@click.group()
def subscriptions() -> None:
    """Customers' plan history: move a customer to a plan from a date, cancel, list."""


@subscriptions.command(name="set")
@click.argument("customer")
@click.argument("plan")
@click.option(
    "--from",
    "starts_at",
    type=DATE,
    help="When the new plan starts (UTC; past or future, after the current one's start); default now.",
)
@json_option
def subscriptions_set(customer: str, plan: str, starts_at: datetime | None, as_json: bool) -> None:
    """Move CUSTOMER to PLAN; the previous subscription ends where this one starts (fees prorate by
    second)."""
    with open_ledger() as ledger:
        row = ledger.set_subscription(customer, plan, utc(starts_at))
    if as_json:
        print_json(rows_of([row])[0])
    else:
        click.echo(f"{row.customer} is on plan {row.plan} from {row.starts_at.isoformat()}")


@subscriptions.command(name="cancel")
@click.argument("customer")
@click.option("--at", "at", type=DATE, help="When the subscription ends (UTC); default now.")
@json_option
def subscriptions_cancel(customer: str, at: datetime | None, as_json: bool) -> None:
    """End CUSTOMER's subscription: its monthly fee stops at that moment."""
    with open_ledger() as ledger:
        row = ledger.cancel_subscription(customer, utc(at))
    if as_json:
        print_json(rows_of([row])[0])
    else:
        ends = row.ends_at.isoformat() if row.ends_at is not None else "-"
        click.echo(f"{row.customer}'s subscription to {row.plan} ends at {ends}")


@subscriptions.command(name="list")
@click.option("--customer", help="Only this customer's history.")
@json_option
def subscriptions_list(customer: str | None, as_json: bool) -> None:
    """Show every subscription (an empty ends_at: still running)."""
    with open_ledger() as ledger:
        rows = rows_of(ledger.subscriptions(customer))
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["id", "customer", "plan", "starts_at", "ends_at"], title="Subscriptions")


@click.group()
def credits() -> None:
    """Credit grants: money a customer's usage charges draw on before they are invoiced."""


@credits.command(name="grant")
@click.argument("customer")
@click.argument("amount")
@click.option("--expires", type=DATE, help="When the credit expires (UTC); default never.")
@click.option("--reason", default="", help="Why it was granted (shown on invoices).")
@json_option
def credits_grant(customer: str, amount: str, expires: datetime | None, reason: str, as_json: bool) -> None:
    """Grant CUSTOMER AMOUNT USD of credit; invoices apply it to usage, oldest-expiring first."""
    with open_ledger() as ledger:
        grant = ledger.grant_credit(customer, amount, reason=reason, expires_at=utc(expires))
    if as_json:
        print_json(rows_of([grant])[0])
    else:
        until = f" until {grant.expires_at.isoformat()}" if grant.expires_at is not None else ""
        click.echo(f"granted {grant.customer} ${grant.amount_usd} of credit{until} (grant {grant.id})")


@credits.command(name="list")
@click.option("--customer", help="Only this customer's grants.")
@json_option
def credits_list(customer: str | None, as_json: bool) -> None:
    """Show every credit grant."""
    with open_ledger() as ledger:
        rows = rows_of(ledger.credit_grants(customer))
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows,
            ["id", "customer", "amount_usd", "reason", "granted_at", "expires_at"],
            title="Credit grants",
        )


@credits.command(name="balance")
@click.argument("customer")
@json_option
def credits_balance(customer: str, as_json: bool) -> None:
    """Show the credit CUSTOMER has left now (grants not expired, less what finalized invoices applied)."""
    with open_ledger() as ledger:
        balance = ledger.credit_balance(customer)
    if as_json:
        print_json({"customer": customer, "balance_usd": balance})
    else:
        click.echo(f"{customer} has ${balance} of credit left")


@click.command(name="allowance")
@click.argument("plan")
@click.argument("unit")
@click.argument("quantity")
@click.option("--model", help="Only this model (nlp/chat) or plugin pattern (nlp/*); default every model.")
@json_option
def plans_allowance(plan: str, unit: str, quantity: str, model: str | None, as_json: bool) -> None:
    """Include QUANTITY UNIT a month in PLAN's fee (replaces that allowance if set; 0 includes none)."""
    with open_ledger() as ledger:
        row = ledger.set_allowance(plan, unit, quantity, model=model)
    if as_json:
        print_json(rows_of([row])[0])
    else:
        click.echo(f"{row.plan} includes {row.quantity} {row.unit} a month of {row.model or 'every model'}")


@click.command(name="allowances")
@click.option("--plan", help="Only this plan's allowances.")
@json_option
def plans_allowances(plan: str | None, as_json: bool) -> None:
    """Show what each plan's fee includes (model: a model, a plugin pattern, or empty for every model)."""
    with open_ledger() as ledger:
        rows = rows_of(ledger.allowances(plan))
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["plan", "unit", "model", "quantity"], title="Allowances")
