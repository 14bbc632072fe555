"""``verticals up``: the gateway and the dashboard together, plus demo traffic and the fast models'
evaluations (what ``make up`` runs).

Each part runs as its own ``verticals`` subprocess, the way an operator would start them by hand, so
the gateway keeps sole ownership of the ledger and the dashboard reads through its admin API.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from types import FrameType

import click

GATEWAY_START_TIMEOUT_S = 900.0  # first start may pull and prepare models and boot vLLM
# The evaluations share the machine with the gateway answering requests: one thread each for torch and
# BLAS, at a lower CPU priority, so a request never waits behind a suite.
EVAL_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
EVAL_NICENESS = 10


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


def evaluate_in_background(children: list[subprocess.Popen[bytes]]) -> threading.Thread:
    """Start ``verticals eval --fast`` (every model whose suites run in seconds on a CPU; it records the
    runs through the gateway's admin API) at low priority with one thread, add it to ``children`` so
    shutdown stops it, and return the thread that waits for it and logs one line when it is done.
    """
    process = subprocess.Popen(
        _verticals("eval", "--fast", "--json"),
        env={**os.environ, **EVAL_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    children.append(process)
    # it may have exited already, or the platform may refuse: then it runs at normal priority
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, process.pid, EVAL_NICENESS)

    def report() -> None:
        _, err = process.communicate()
        line = evaluation_line(process.returncode, err.decode(errors="replace"))
        if line is not None:
            click.echo(line, err=True)

    thread = threading.Thread(target=report, name="evaluations", daemon=True)
    thread.start()
    return thread


def evaluation_line(status: int, stderr: str) -> str | None:
    """The one line ``up`` logs when ``verticals eval --fast`` ended with exit ``status`` and ``stderr``
    (whose last line is its summary, or the error that stopped it); None when ``up`` stopped it (a
    signal).
    """
    if status < 0:
        return None
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1].removeprefix("Error: ") if lines else f"exit status {status}"
    if status == 0:
        return f"evaluations done: {last}; the Models page shows the scores"
    return f"evaluations done, not all passed: {last}; `verticals eval --fast` reruns them"


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
@click.option(
    "--eval/--no-eval",
    "evaluate",
    default=True,
    show_default=True,
    help="Once the gateway is ready, run the evaluation suites of the models that evaluate in seconds on a "
    "CPU in the background (`verticals eval --fast`), so the dashboard shows quality beside cost.",
)
def up(demo: bool, demo_duration: float, backfill_days: int, evaluate: bool) -> None:
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
        if evaluate:
            # after the gateway is ready, so the suites never slow its start; they record through it
            evaluate_in_background(children)
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
        # reverse order: demo, evaluations and dashboard first, the gateway last so it can flush the ledger
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
