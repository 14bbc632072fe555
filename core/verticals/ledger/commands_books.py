"""``verticals prices|costs|usage``: the price and cost books, and the usage report."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

import click

from verticals.billing.model import ChargeModel
from verticals.ledger._cli import DATE, json_option, open_ledger, rows_of, utc
from verticals.ledger.errors import LedgerError
from verticals.ledger.price_models import parse_tier
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
@click.argument("price", required=False)
@click.option("--model", help="Price this model (e.g. nlp/chat).")
@click.option("--plugin", help="Default for this plugin's models.")
@click.option("--task", help="Default for this task (with or without --plugin).")
@_FROM
@click.option("--note", default="", help="Why the price changed.")
@click.option(
    "--charge-model",
    type=click.Choice([model.value for model in ChargeModel]),
    default=ChargeModel.PER_UNIT.value,
    show_default=True,
    help="per_unit: PRICE per unit; package: PRICE per started package of --package-size units; graduated: "
    "each --tier prices its units; volume: every unit at the tier the total reaches.",
)
@click.option("--package-size", help="Units in a package (package charge model).")
@click.option(
    "--tier",
    "tiers",
    multiple=True,
    metavar="UP_TO:PRICE[:FLAT]",
    help="A tier, in order (graduated/volume): units up to UP_TO (cumulative; 'inf' for the last) at PRICE "
    "USD each, plus FLAT USD once reached. PRICE may then be left out: it is the first tier's.",
)
@json_option
def prices_set(
    plan: str,
    unit: str,
    price: str | None,
    model: str | None,
    plugin: str | None,
    task: str | None,
    effective_from: datetime | None,
    note: str,
    charge_model: str,
    package_size: str | None,
    tiers: tuple[str, ...],
    as_json: bool,
) -> None:
    """Set PLAN's PRICE in USD per UNIT (tokens, images, audio-seconds, rows, calls), or per package, or
    tiered (e.g. --charge-model graduated --tier 1000000:0.000002 --tier inf:0.000001)."""
    try:
        parsed = [parse_tier(text) for text in tiers]
    except LedgerError as error:
        raise click.BadParameter(str(error), param_hint="--tier") from None
    if price is None:
        if not parsed:
            raise click.UsageError("give the PRICE (USD per unit, or per package), or the --tier list")
        price = str(parsed[0].unit_price)
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
            charge_model=charge_model,
            package_size=package_size,
            tiers=parsed or None,
        )
    if as_json:
        print_json(rows_of([row])[0])
    else:
        target = row.model or "/".join(part for part in (row.plugin, row.task) if part)
        click.echo(f"{row.plan}: {target} costs {_charge_text(row)} from {row.effective_from.isoformat()}")


def _number(value: Any) -> str:
    """A decimal without trailing zeros: 0.000002000000 -> 0.000002, 1000.000000 -> 1000."""
    text = f"{Decimal(str(value)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _charge_cell(row: dict[str, Any]) -> str:
    """A price row's charge model for the table, with its package size or its tiers as --tier writes them."""
    if row["charge_model"] == ChargeModel.PACKAGE:
        return f"package of {_number(row['package_size'])}"
    if row["tiers"]:
        tiers = " ".join(
            f"{'inf' if t['up_to'] is None else _number(t['up_to'])}:{_number(t['unit_price'])}"
            + (f":{_number(t['flat_fee'])}" if t["flat_fee"] else "")
            for t in row["tiers"]
        )
        return f"{row['charge_model']} {tiers}"
    return str(row["charge_model"])


def _charge_text(row: Any) -> str:
    """How a price row charges, in words: "$0.002 per tokens", "$0.50 per package of 1000 images", ..."""
    if row.charge_model == ChargeModel.PACKAGE:
        return f"${row.price_per_unit_usd} per package of {row.package_size} {row.unit}"
    if row.charge_model in (ChargeModel.GRADUATED, ChargeModel.VOLUME):
        tiers = ", ".join(
            f"{'up to ' + str(t.up_to) if t.up_to is not None else 'above'} at ${t.unit_price}"
            + (f" + ${t.flat_fee}" if t.flat_fee else "")
            for t in row.tiers
        )
        return f"{row.charge_model} per {row.unit} ({tiers})"
    return f"${row.price_per_unit_usd} per {row.unit}"


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
        for (
            row
        ) in rows:  # how the row charges, compactly: "package of 1000", "graduated 1000000:0.000002 inf:.."
            row["charge"] = _charge_cell(row)
        columns = [
            "plan",
            "model",
            "plugin",
            "task",
            "unit",
            "price_per_unit_usd",
            "charge",
            "effective_from",
        ]
        print_table(rows, [*columns, "note"], title="Prices")


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
    "fee_revenue_usd",
    "usage_revenue_usd",
    "credits_usd",
    "list_revenue_usd",
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
@click.option(
    "--basis",
    type=click.Choice(["billed", "list"]),
    default="billed",
    show_default=True,
    help="Revenue as invoiced (fees, usage after allowances and tiers, less credits) or usage at list price.",
)
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
            basis=basis,
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
