"""``verticals prices``: the price book from the shell, with the checks that keep mistakes out of it.

A row stays in the append-only book for good, so ``prices set`` refuses a model no installed plugin
registers, or a unit it is not metered in (``price_targets``), unless ``--force``; ``prices list`` shows
token prices per 1M tokens, as the trade quotes them (the book stores USD per unit).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import click

from verticals.billing.model import ChargeModel
from verticals.ledger._cli import FROM_OPTION, NumbersAsValues, json_option, open_ledger, rows_of, utc
from verticals.ledger.books import PriceRow
from verticals.ledger.errors import LedgerError
from verticals.ledger.price_models import parse_tier
from verticals.ledger.price_targets import check_price_target
from verticals.money import decimal_text, plain_number, unit_price
from verticals.output import Column, print_json, print_table


@click.group()
def prices() -> None:
    """Set and list prices per plan (append-only, effective-dated)."""


@prices.command(name="set", cls=NumbersAsValues)
@click.argument("plan")
@click.argument("unit")
@click.argument("price", required=False)
@click.option("--model", help="Price this model (e.g. nlp/chat).")
@click.option("--plugin", help="Default for this plugin's models.")
@click.option("--task", help="Default for this task (with or without --plugin).")
@FROM_OPTION
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
@click.option(
    "--per-million",
    is_flag=True,
    help="PRICE and the --tier prices are USD per 1M units (as token prices are quoted); stored per unit.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write the row although no installed plugin registers the model (or plugin/task) in this unit: "
    "for a plugin installed later.",
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
    per_million: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Set PLAN's PRICE in USD per UNIT (tokens, images, audio-seconds, rows, calls), or per package, or
    tiered (e.g. --charge-model graduated --tier 1000000:0.000002 --tier inf:0.000001).

    The model (or plugin/task) must be registered by an installed plugin and metered in UNIT, since a
    row stays in the append-only book for good; --force writes it anyway, for a plugin installed later.
    With --per-million PRICE is per 1M units: `prices set pro tokens 2 --per-million --model nlp/chat`
    stores $0.000002 per token."""
    try:
        parsed = [parse_tier(text) for text in tiers]
    except LedgerError as error:
        raise click.BadParameter(str(error), param_hint="--tier") from None
    if per_million:
        if charge_model == ChargeModel.PACKAGE:
            raise click.UsageError("--per-million prices units; a package price is per package: leave it out")
        price = None if price is None else _per_unit(price)
        parsed = [dataclasses.replace(t, unit_price=t.unit_price.scaleb(-6)) for t in parsed]
    if price is None:
        if not parsed:
            raise click.UsageError("give the PRICE (USD per unit, or per package), or the --tier list")
        price = str(parsed[0].unit_price)
    if not force:
        from verticals.registry import Registry

        specs = [registered.item for registered in Registry.load().models.values()]
        try:
            check_price_target(specs, unit, model, plugin, task)
        except LedgerError as error:
            raise click.ClickException(str(error)) from None
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
        since = row.effective_from.isoformat()
        click.echo(f"{row.plan}: {_target(row)} costs {_charge_text(row)} from {since}")


def _per_unit(per_million: str) -> str:
    """A price per 1M units as the price per unit (exact: the decimal point moves); text that is not a
    number is kept for the ledger to refuse, naming it."""
    try:
        return decimal_text(Decimal(per_million.strip()).scaleb(-6))
    except InvalidOperation:
        return per_million


def _tiers_text(tiers: Any, unit: str, per: str) -> str:
    """Tiers as "to 1000000 at $2 / 1M tokens, rest at $1 / 1M tokens (+ $5 once)"."""
    return ", ".join(
        ("rest" if t.up_to is None else f"to {plain_number(t.up_to)}")
        + f" at {unit_price(t.unit_price, unit, per)}"
        + (f" (+ ${plain_number(t.flat_fee)} once)" if t.flat_fee else "")
        for t in tiers
    )


def _charge_text(row: PriceRow, per: str = "per") -> str:
    """How a price row charges, in words: "$2 per 1M tokens", "$0.5 per package of 1000 images",
    "graduated: to 1000000 at $2 per 1M tokens, rest at $1 per 1M tokens"."""
    if row.charge_model == ChargeModel.PACKAGE:
        size = plain_number(row.package_size or 0)
        return f"${plain_number(row.price_per_unit_usd)} {per} package of {size} {row.unit}"
    if row.tiers:
        return f"{row.charge_model}: {_tiers_text(row.tiers, row.unit, per)}"
    return unit_price(row.price_per_unit_usd, row.unit, per)


def _target(row: PriceRow) -> str:
    """What a row prices: the model, or "nlp/*" for a plugin default, "nlp/* embedding" with a task."""
    if row.model:
        return row.model
    return f"{row.plugin or '*'}/*" + (f" {row.task}" if row.task else "")


_PRICE_COLUMNS = [
    Column("plan"),
    Column("target"),
    Column("charge", "price"),
    Column("effective_from", "from (UTC)", lambda when: when.strftime("%Y-%m-%d %H:%M")),
    Column("model", wide_only=True),
    Column("plugin", wide_only=True),
    Column("task", wide_only=True),
    Column("unit", wide_only=True),
    Column("price_per_unit_usd", "USD per unit", numeric=True, wide_only=True),
    Column("charge_model", wide_only=True),
    Column("note", wide_only=True),
]


@prices.command(name="list")
@click.option("--plan", help="Only this plan's prices.")
@click.option("--wide", is_flag=True, help="Show every column (exact price per unit, note, ...).")
@json_option
def prices_list(plan: str | None, wide: bool, as_json: bool) -> None:
    """Show the price book, every row ever set (models without a row charge their list price). Token
    prices are shown per 1M tokens; --json gives the stored USD per unit."""
    with open_ledger() as ledger:
        found = ledger.list_prices(plan)
    if as_json:
        print_json(rows_of(found))
        return
    rows = [
        {**row, "target": _target(item), "charge": _charge_text(item, "/")}
        for item, row in zip(found, rows_of(found), strict=True)
    ]
    print_table(rows, _PRICE_COLUMNS, title="Prices", wide=wide)
