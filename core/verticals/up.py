"""``verticals up``: the gateway and the dashboard together, plus demo traffic (what ``make up`` runs).

Each part runs as its own ``verticals`` subprocess, the way an operator would start them by hand, so
the gateway keeps sole ownership of the ledger and the dashboard reads through its admin API.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import FrameType

import click

GATEWAY_START_TIMEOUT_S = 900.0  # first start may pull and prepare models and boot vLLM


def attach(cli: click.Group) -> None:
    """Add the ``up`` command to the ``verticals`` CLI group ``cli``."""
    cli.add_command(up)


def _verticals(*args: str) -> list[str]:
    return [sys.executable, "-m", "verticals", *args]


def _wait_ready(url: str, gateway: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            raise click.ClickException(
                f"the gateway exited with status {gateway.returncode} before it was ready; its log is above"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise click.ClickException(f"the gateway did not answer {url} within {timeout:.0f} s; its log is above")


@click.command()
@click.option("--demo/--no-demo", default=True, show_default=True, help="Drive demo traffic once started.")
@click.option(
    "--demo-duration",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Seconds of live demo traffic.",
)
@click.option(
    "--backfill-days",
    type=click.IntRange(0, 3650),
    default=30,
    show_default=True,
    help="Days of synthetic history written into a new ledger first, so the charts have shape.",
)
def up(demo: bool, demo_duration: float, backfill_days: int) -> None:
    """Start the gateway and the dashboard, print both URLs, and run until Ctrl-C."""
    from verticals.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    gateway_url = f"http://{settings.host}:{settings.port}"
    dashboard_url = f"http://127.0.0.1:{settings.dashboard_port}"
    children: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # The ledger has one writer, so synthetic history goes in before the gateway opens it, and only
    # into a new data directory: a restart must not add a second copy of the history.
    if demo and backfill_days and not (settings.home / "ledger.duckdb").exists():
        backfill = _verticals("demo", "--backfill-days", str(backfill_days), "--duration", "0")
        if subprocess.call(backfill) != 0:
            raise click.ClickException("the demo backfill failed; its message is above")
    try:
        gateway = subprocess.Popen(_verticals("serve"))
        children.append(gateway)
        click.echo(f"starting the gateway on {gateway_url} (the first start prepares models) ...", err=True)
        _wait_ready(f"{gateway_url}/v2/health/ready", gateway, GATEWAY_START_TIMEOUT_S)
        children.append(subprocess.Popen(_verticals("dashboard", "--source", "api")))
        if demo:
            live = _verticals("demo", "--duration", str(demo_duration))
            children.append(subprocess.Popen(live, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        click.echo(f"\n  gateway    {gateway_url}   (OpenAI API /v1, Open Inference Protocol /v2)")
        click.echo(f"  dashboard  {dashboard_url}\n  ledger     {settings.home / 'ledger.duckdb'}\n")
        click.echo("Ctrl-C stops both.", err=True)
        while gateway.poll() is None:
            time.sleep(1)
        # uvicorn shuts down gracefully on SIGTERM or SIGINT, then exits by that signal
        if gateway.returncode not in (0, -signal.SIGTERM, -signal.SIGINT):
            status = gateway.returncode
            raise click.ClickException(f"the gateway exited with status {status}; its log is above")
        # stopped on purpose (a signal sent to it alone): take the dashboard and demo down with it
        click.echo("the gateway stopped; stopping the dashboard ...", err=True)
    except KeyboardInterrupt:
        click.echo("stopping ...", err=True)
    finally:
        # reverse order: demo and dashboard first, the gateway last so it can flush the ledger
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
