"""``verticals usage retention --keep-days N``: drop old usage events from the PostgreSQL ledger.

Events live in one partition per UTC day (``ledger/postgres/partitions.py``); retention drops whole
partitions, never DELETEs rows, so it takes moments and leaves no bloat. The hourly rollup keeps the
dropped days' sums. Invoices need a month's events until they are finalized, so the last full month and
the current one are never dropped: the command refuses a cutoff later than the first day of last month.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import click


def first_day_of_last_month(today: date) -> date:
    """The first day of the UTC month before ``today``'s."""
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


@click.command(name="retention")
@click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    required=True,
    help="Keep this many UTC days of events, today included; drop the older day partitions.",
)
@click.option("--dry-run", is_flag=True, help="List the days that would be dropped; drop nothing.")
def usage_retention(keep_days: int, dry_run: bool) -> None:
    """Drop usage events older than --keep-days from the PostgreSQL ledger (the hourly rollup keeps their
    sums). Refused when it would drop last month or this month, which invoices still read.
    """
    from verticals.config import ConfigError, load_settings
    from verticals.ledger.errors import LedgerError

    try:
        settings = load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    if settings.database_url is None:
        raise click.ClickException(
            "retention drops the day partitions of the PostgreSQL ledger; the embedded DuckDB ledger "
            "keeps every event (set database_url to use PostgreSQL)"
        )
    today = datetime.now(UTC).date()
    first_kept = today - timedelta(days=keep_days - 1)
    floor = first_day_of_last_month(today)
    if first_kept > floor:
        needed = (today - floor).days + 1
        raise click.ClickException(
            f"--keep-days {keep_days} would drop events from {first_kept - timedelta(days=1)} back, but "
            f"invoices still read last month's events: keep at least {needed} days (back to {floor})"
        )
    import psycopg

    from verticals.ledger.postgres import partitions
    from verticals.ledger.postgres.connection import open_psycopg

    try:
        with open_psycopg(settings.database_url) as conn:
            if dry_run:
                days = [day for day in partitions.list_partitions(conn) if day < first_kept]
            else:
                days = partitions.drop_partitions_before(conn, first_kept)
    except LedgerError as error:
        raise click.ClickException(str(error)) from None
    except psycopg.Error as error:
        raise click.ClickException(f"PostgreSQL refused the retention: {error}") from None
    verb = "would drop" if dry_run else "dropped"
    if not days:
        click.echo(f"no day partitions before {first_kept}: nothing {verb.split()[-1]}")
        return
    click.echo(f"{verb} {len(days)} day partitions, {days[0]} to {days[-1]}; kept from {first_kept}")
