"""``verticals demo``: demo customers on different plans, and realistic traffic through the real gateway.

Live traffic goes through the running gateway's public API exactly as customers send it (see
``verticals.demo.traffic``). ``--backfill-days N`` first writes N days of *synthetic* history straight
into the ledger (see ``verticals.demo.backfill``), so the charts have shape on a fresh install.
"""

from __future__ import annotations

import random

import click


def attach(cli: click.Group) -> None:
    """Add the ``demo`` command to the ``verticals`` CLI group ``cli``."""
    cli.add_command(demo)


@click.command()
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds of live traffic through the running gateway; 0 sends none.",
)
@click.option(
    "--rps",
    type=click.FloatRange(0.1, 2000),
    default=5.0,
    show_default=True,
    help="Average requests per second; the daily rhythm moves the rate around it.",
)
@click.option(
    "--backfill-days",
    type=click.IntRange(0, 3650),
    default=0,
    show_default=True,
    help="First write N days of SYNTHETIC history (generated events, not real requests) straight "
    "into the ledger: a small AI company's customers, plans (one per business model), prices and GPU "
    "and CPU devices, and the finalized invoices of its closed months; the dashboard marks it as demo "
    "data. The ledger has one writer, so run this while the gateway is stopped.",
)
@click.option(
    "--day-seconds",
    type=click.FloatRange(10, 86400),
    default=600.0,
    show_default=True,
    help="Live traffic plays one day's rhythm in this many seconds.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Requests in flight at most.",
)
@click.option("--seed", type=int, default=None, help="Random seed, for a repeatable demo.")
def demo(
    duration: float, rps: float, backfill_days: int, day_seconds: float, concurrency: int, seed: int | None
) -> None:
    """Create demo customers and keys, and drive realistic traffic through the running gateway."""
    from verticals.client import running_server
    from verticals.config import ConfigError, load_settings
    from verticals.demo.customers import DEMO_CUSTOMERS
    from verticals.demo.traffic import LiveTraffic

    try:
        settings = load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    rng = random.Random(seed)
    server = running_server(settings)
    if backfill_days:
        if server is not None and not settings.database_url:  # PostgreSQL has no single writer
            raise click.ClickException(
                f"a gateway is running on {settings.home} and owns the ledger, so the backfill cannot write "
                "to it: stop `verticals serve`, run `verticals demo --backfill-days "
                f"{backfill_days} --duration 0`, then start the gateway again"
            )
        from verticals.demo.backfill import backfill

        written = backfill(settings.home, backfill_days, DEMO_CUSTOMERS, rng)
        click.echo(f"backfilled {written:,} synthetic events over {backfill_days} days into {settings.home}")
    if duration <= 0:
        return
    if server is None:
        raise click.ClickException(
            f"no gateway is running for {settings.home}: start it with `verticals serve` (or `make up`) "
            "and run the demo again"
        )
    traffic = LiveTraffic(server, rng, rps=rps, day_seconds=day_seconds, concurrency=concurrency)
    traffic.setup()
    try:
        counts = traffic.run(duration)
    finally:
        traffic.revoke_keys()
    summary = ", ".join(f"{count} x {status}" for status, count in sorted(counts.items()))
    click.echo(f"sent {sum(counts.values()):,} requests: {summary}")
