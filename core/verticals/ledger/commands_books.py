"""``verticals costs|usage``: the cost book and the usage report (``prices`` is in ``commands_prices``)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from verticals.ledger._cli import DATE, FROM_OPTION, NumbersAsValues, json_option, open_ledger, rows_of, utc
from verticals.ledger.report_filters import check_report_filters
from verticals.output import Column, cell, moment, money, print_json, print_table, ratio


@click.group()
def costs() -> None:
    """Set and list device rates in USD per device-hour (append-only, effective-dated)."""


@costs.command(name="set", cls=NumbersAsValues)
@click.argument("device_class")
@click.argument("usd_per_hour")
@FROM_OPTION
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
            rows,
            ["device_class", "usd_per_hour", moment("effective_from", "from (UTC)"), "example", "note"],
            title="Costs",
        )


@click.group()
def usage() -> None:
    """Reports over the metered requests."""


# cost_usd is compute spend, idle included, so margin_usd is the gross margin; what the requests carried
# alone (request_cost_usd) gives the contribution margin.
_REPORT_COLUMNS = [
    Column("requests", numeric=True),
    Column("errors", numeric=True, wide_only=True),
    Column("units", shows=lambda units: f"{float(units or 0):,.0f}", numeric=True, wide_only=True),
    money("revenue_usd", "revenue"),
    money("fee_revenue_usd", "fees", wide_only=True),
    money("usage_revenue_usd", "usage revenue", wide_only=True),
    money("credits_usd", "credits", wide_only=True),
    money("list_revenue_usd", "list revenue", wide_only=True),
    money("request_cost_usd", "request cost", wide_only=True),
    money("idle_cost_usd", "idle cost", wide_only=True),
    money("cost_usd", "cost"),
    money("margin_usd", "margin"),
    ratio("margin_ratio", "margin %"),
    money("contribution_margin_usd", "contribution margin", wide_only=True),
]
# how a day or hour bucket (a UTC datetime) is shown
_BUCKETS: dict[str, Callable[[Any], str]] = {
    "day": lambda when: f"{when:%Y-%m-%d}",
    "hour": lambda when: f"{when:%Y-%m-%d %H:%M}",
}


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
@click.option(
    "--basis",
    type=click.Choice(["billed", "list"]),
    default="billed",
    show_default=True,
    help="Revenue as invoiced (fees, usage after allowances and tiers, less credits) or usage at list price.",
)
@click.option("--wide", is_flag=True, help="Show every column (fees, credits, idle cost, ...).")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV for spreadsheets.")
def usage_report(
    by: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    customer: str | None,
    model: str | None,
    plugin: str | None,
    basis: str,
    wide: bool,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Requests, revenue, compute spend and gross margin, grouped as asked.

    Revenue is billed revenue: fee_revenue_usd (plan fees recognised daily, up to now) +
    usage_revenue_usd (usage after allowances and tiers) - credits_usd, from each month's finalized
    invoices, else its drafts; plan fees are a row "(plan fee)" when grouping by model, plugin or unit.
    list_revenue_usd is the usage at list price (what `--basis list` reports as revenue).

    Compute spend (cost_usd) is everything provisioned in the period, idle included: what requests
    carried (request_cost_usd) plus the group's busy share of its devices' idle time (idle_cost_usd);
    capacity no request used is a row "(idle)". gross margin = revenue - cost_usd (margin_ratio: its
    fraction of revenue, shown as "margin %"); contribution margin = revenue - request_cost_usd.

    The table fits the terminal with money abbreviated ($98.8k); --wide shows every column, --json and
    --csv the exact amounts. A --customer, --model or --plugin nobody knows is an error, not "no usage".
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
            basis=basis,
        )
        if customer or model or plugin:
            from verticals.registry import Registry

            specs = [registered.item for registered in Registry.load().models.values()]
            check_report_filters(ledger, specs, rows, customer=customer, model=model, plugin=plugin)
    keys = [Column("bucket", name, _BUCKETS[name]) if name in _BUCKETS else Column(name) for name in groups]
    columns = [*keys, *_REPORT_COLUMNS]
    if as_json:
        print_json(rows)
    elif as_csv:
        names = [column.key for column in columns]
        writer = csv.DictWriter(sys.stdout, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({name: cell(row[name]) for name in names})
    else:
        title = "Usage (margin: revenue minus compute cost, idle included)"
        print_table(rows, columns, title=title, wide=wide)
