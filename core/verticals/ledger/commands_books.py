"""``verticals prices|costs|usage``: the price and cost books, and the usage report."""

from __future__ import annotations

import csv
import sys
from datetime import datetime

import click

from verticals.ledger._cli import DATE, json_option, open_ledger, rows_of, utc
from verticals.output import print_json, print_table

_FROM = click.option(
    "--from",
    "effective_from",
    type=DATE,
    help="When the row takes effect (UTC, not in the past); default now.",
)


@click.group()
def prices() -> None:
    """Set and list prices per plan (append-only, effective-dated)."""


@prices.command(name="set")
@click.argument("plan")
@click.argument("unit")
@click.argument("price")
@click.option("--model", help="Price this model (e.g. nlp/chat).")
@click.option("--plugin", help="Default for this plugin's models.")
@click.option("--task", help="Default for this task (with or without --plugin).")
@_FROM
@click.option("--note", default="", help="Why the price changed.")
@json_option
def prices_set(
    plan: str,
    unit: str,
    price: str,
    model: str | None,
    plugin: str | None,
    task: str | None,
    effective_from: datetime | None,
    note: str,
    as_json: bool,
) -> None:
    """Set PLAN's PRICE in USD per UNIT (tokens, images, audio-seconds, rows, calls)."""
    with open_ledger() as ledger:
        row = ledger.set_price(
            plan,
            unit,
            price,
            model=model,
            plugin=plugin,
            task=task,
            effective_from=utc(effective_from),
            note=note,
        )
    if as_json:
        print_json(rows_of([row])[0])
    else:
        target = row.model or "/".join(part for part in (row.plugin, row.task) if part)
        click.echo(
            f"{row.plan}: {target} costs ${row.price_per_unit_usd} per {row.unit} "
            f"from {row.effective_from.isoformat()}"
        )


@prices.command(name="list")
@click.option("--plan", help="Only this plan's prices.")
@json_option
def prices_list(plan: str | None, as_json: bool) -> None:
    """Show the price book, every row ever set (models without a row charge their list price)."""
    with open_ledger() as ledger:
        rows = rows_of(ledger.list_prices(plan))
    if as_json:
        print_json(rows)
    else:
        columns = ["plan", "model", "plugin", "task", "unit", "price_per_unit_usd", "effective_from", "note"]
        print_table(rows, columns, title="Prices")


@click.group()
def costs() -> None:
    """Set and list device rates in USD per device-hour (append-only, effective-dated)."""


@costs.command(name="set")
@click.argument("device_class")
@click.argument("usd_per_hour")
@_FROM
@click.option("--note", default="", help="Where the rate comes from.")
@json_option
def costs_set(
    device_class: str, usd_per_hour: str, effective_from: datetime | None, note: str, as_json: bool
) -> None:
    """Set DEVICE_CLASS (cpu, l4, a100, h100, h200, ...) to USD_PER_HOUR."""
    with open_ledger() as ledger:
        row = ledger.set_cost(device_class, usd_per_hour, effective_from=utc(effective_from), note=note)
    if as_json:
        print_json(rows_of([row])[0])
    else:
        click.echo(f"{row.device_class}: ${row.usd_per_hour}/hour from {row.effective_from.isoformat()}")


@costs.command(name="list")
@json_option
def costs_list(as_json: bool) -> None:
    """Show the cost book; starter rates are marked as examples to replace."""
    with open_ledger() as ledger:
        rows = rows_of(ledger.list_costs())
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows, ["device_class", "usd_per_hour", "effective_from", "example", "note"], title="Costs"
        )


@click.group()
def usage() -> None:
    """Reports over the metered requests."""


# cost_usd is compute spend, idle included, so margin_usd is the gross margin; what the requests carried
# alone (request_cost_usd) gives the contribution margin.
_REPORT_COLUMNS = [
    "requests",
    "errors",
    "units",
    "revenue_usd",
    "request_cost_usd",
    "idle_cost_usd",
    "cost_usd",
    "margin_usd",
    "margin_pct",
    "contribution_margin_usd",
]


@usage.command(name="report")
@click.option(
    "--by",
    type=click.Choice(["customer", "model", "plugin", "day", "hour", "device_class"]),
    multiple=True,
    help="Group by these (repeat for more); default customer.",
)
@click.option("--since", type=DATE, help="From this UTC date or time (inclusive).")
@click.option("--until", type=DATE, help="Up to this UTC date or time (exclusive).")
@click.option("--customer", help="Only this customer.")
@click.option("--model", help="Only this model.")
@click.option("--plugin", help="Only this plugin.")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV for spreadsheets.")
def usage_report(
    by: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    customer: str | None,
    model: str | None,
    plugin: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Requests, revenue, compute spend and gross margin, grouped as asked.

    Compute spend (cost_usd) is everything provisioned in the period, idle included: what requests
    carried (request_cost_usd) plus the group's busy share of its devices' idle time (idle_cost_usd);
    capacity no request used is a row "(idle)". gross margin = revenue - cost_usd; contribution
    margin = revenue - request_cost_usd.
    """
    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    groups = list(by) or ["customer"]
    with open_ledger() as ledger:
        ledger.flush()
        rows = ledger.analytics(
            "usage_summary",
            by=groups,
            since=utc(since),
            until=utc(until),
            customer=customer,
            plugin=plugin,
            model=model,
        )
    keys = [("bucket" if name in ("day", "hour") else name) for name in groups]
    if as_json:
        print_json(rows)
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=[*keys, *_REPORT_COLUMNS], lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({name: "" if row[name] is None else row[name] for name in writer.fieldnames})
    else:
        print_table(
            rows,
            [*keys, *_REPORT_COLUMNS],
            title="Usage (margin_usd: gross margin, revenue minus compute spend with idle)",
        )
