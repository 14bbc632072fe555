"""``verticals customers|keys|plans|prices|costs|usage``: the ledger's control data from the shell.

DuckDB lets one process write the ledger: while ``verticals serve`` runs these commands say so
and point at the admin API, which changes the same data through the server.
"""

from __future__ import annotations

import click

from verticals.ledger._cli import json_option, open_ledger, rows_of
from verticals.output import Column, moment, money, print_json, print_table


def attach(cli: click.Group) -> None:
    """Add the ledger's command groups (customers, keys, plans, prices, costs, usage, subscriptions,
    credits) to the ``verticals`` CLI group ``cli``.
    """
    from verticals.ledger.commands_billing import credits, plans_allowance, plans_allowances, subscriptions
    from verticals.ledger.commands_books import costs, usage
    from verticals.ledger.commands_prices import prices
    from verticals.ledger.commands_retention import usage_retention

    usage.add_command(usage_retention)
    plans.add_command(plans_allowance)
    plans.add_command(plans_allowances)
    for group in (customers, keys, plans, prices, costs, usage, subscriptions, credits):
        cli.add_command(group)


@click.group()
def customers() -> None:
    """Create and list customers (name, plan, monthly budget)."""


@customers.command(name="create")
@click.argument("name")
@click.option("--plan", required=True, help="Plan the customer is on (see `verticals plans list`).")
@click.option("--budget", help="Monthly budget in USD; requests beyond it are refused with 402.")
@json_option
def customers_create(name: str, plan: str, budget: str | None, as_json: bool) -> None:
    """Create customer NAME on a plan."""
    with open_ledger() as ledger:
        customer = ledger.create_customer(name, plan, budget)
    if as_json:
        print_json(rows_of([customer])[0])
    else:
        budget_text = f", budget ${customer.budget_usd}/month" if customer.budget_usd is not None else ""
        click.echo(f"created customer {customer.name} on plan {customer.plan}{budget_text}")


@customers.command(name="list")
@json_option
def customers_list(as_json: bool) -> None:
    """Show every customer."""
    with open_ledger() as ledger:
        rows = rows_of(ledger.list_customers())
    if as_json:
        print_json(rows)
    else:
        columns: list[str | Column] = [
            "name",
            "plan",
            money("budget_usd", "budget/month"),
            "status",
            moment("created_at", "created (UTC)"),
        ]
        print_table(rows, columns, title="Customers")


@customers.command(name="set")
@click.argument("name")
@click.option("--plan", help="Move the customer to this plan.")
@click.option("--budget", help="New monthly budget in USD.")
@click.option("--no-budget", is_flag=True, help="Remove the monthly budget.")
@click.option("--status", type=click.Choice(["active", "suspended"]), help="Suspend or reactivate.")
@json_option
def customers_set(
    name: str, plan: str | None, budget: str | None, no_budget: bool, status: str | None, as_json: bool
) -> None:
    """Change customer NAME's plan, budget or status."""
    if budget is not None and no_budget:
        raise click.UsageError("give --budget or --no-budget, not both")
    with open_ledger() as ledger:
        customer = ledger.update_customer(
            name, plan=plan, budget_usd=budget, clear_budget=no_budget, status=status
        )
    if as_json:
        print_json(rows_of([customer])[0])
    else:
        click.echo(
            f"customer {customer.name}: plan {customer.plan}, budget {customer.budget_usd}, {customer.status}"
        )


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (stored only as a hash)."""


@keys.command(name="create")
@click.option("--customer", required=True, help="Customer the key bills to.")
@click.option("--rpm", type=click.IntRange(min=1), help="Requests-per-minute limit for this key.")
@click.option("--tpm", type=click.IntRange(min=1), help="Tokens-per-minute limit for this key.")
@json_option
def keys_create(customer: str, rpm: int | None, tpm: int | None, as_json: bool) -> None:
    """Create a key and print it once: it is stored only as a hash and cannot be shown again."""
    with open_ledger() as ledger:
        plaintext, key = ledger.create_key(customer, rpm, tpm)
    if as_json:
        print_json({"key": plaintext, "prefix": key.prefix, "customer": key.customer, "rpm": rpm, "tpm": tpm})
    else:
        click.echo(plaintext)
        click.echo(
            f"key {key.prefix} for {key.customer}: copy it now, it is not stored and cannot be shown again",
            err=True,
        )


@keys.command(name="list")
@click.option("--customer", help="Only this customer's keys.")
@json_option
def keys_list(customer: str | None, as_json: bool) -> None:
    """Show keys by their prefix (the secret part is never stored)."""
    with open_ledger() as ledger:
        rows = [{**row, "active": row["revoked_at"] is None} for row in rows_of(ledger.list_keys(customer))]
    if as_json:
        print_json(rows)
    else:
        columns: list[str | Column] = [
            "prefix",
            "customer",
            "rpm",
            "tpm",
            moment("created_at", "created (UTC)"),
            moment("revoked_at", "revoked (UTC)"),
        ]
        print_table(rows, columns, title="Keys")


@keys.command(name="revoke")
@click.argument("prefix")
def keys_revoke(prefix: str) -> None:
    """Revoke the key starting with PREFIX (as `verticals keys list` shows it)."""
    with open_ledger() as ledger:
        ledger.revoke_key(prefix)
    click.echo(f"revoked key {prefix}")


@click.group()
def plans() -> None:
    """Create and list plans (monthly fee) and what their fee includes (allowances)."""


@plans.command(name="create")
@click.argument("name")
@click.option("--fee", default="0", show_default=True, help="Monthly fee in USD.")
@click.option("--included-units", type=click.FloatRange(min=0), default=0, help="Units included in the fee.")
@click.option("--description", default="", help="What the plan is for.")
@json_option
def plans_create(name: str, fee: str, included_units: float, description: str, as_json: bool) -> None:
    """Create plan NAME; give it prices with `verticals prices set NAME ...`."""
    with open_ledger() as ledger:
        plan = ledger.create_plan(name, fee, included_units, description)
    if as_json:
        print_json(rows_of([plan])[0])
    else:
        click.echo(f"created plan {plan.name} (${plan.monthly_fee_usd}/month)")


@plans.command(name="list")
@json_option
def plans_list(as_json: bool) -> None:
    """Show every plan; starter plans are marked as examples to edit."""
    with open_ledger() as ledger:
        rows = rows_of(ledger.list_plans())
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows, ["name", "monthly_fee_usd", "included_units", "example", "description"], title="Plans"
        )
