"""``verticals up``: the gateway and the dashboard together, plus demo traffic and the fast models'
evaluations (what ``make up`` runs).

Each part runs as its own ``verticals`` subprocess, the way an operator would start them by hand, so
the gateway keeps sole ownership of the ledger and the dashboard reads through its admin API.

The terminal stays readable: the gateway's access lines and logs, the dashboard's and the demo's
output go to files in ``<home>/logs/``; what shows is the URLs, a status line every few seconds
(``verticals.up_status``), warnings and errors, and one ``stopped`` line at the end.
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
from typing import IO

import click

from verticals.config_commands import shown
from verticals.serving.logs import QUIET_PROGRESS_ENV
from verticals.up_status import read_totals, status_line

GATEWAY_START_TIMEOUT_S = 900.0  # first start may pull and prepare models and boot vLLM
# The evaluations share the machine with the gateway answering requests: one thread each for torch and
# BLAS, at a lower CPU priority, so a request never waits behind a suite.
EVAL_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
EVAL_NICENESS = 10
# Streamlit's own log lines (INFO by default) go nowhere useful on the operator's terminal.
DASHBOARD_ENV = {"STREAMLIT_LOGGER_LEVEL": "warning"}


def child_env(**extra: str) -> dict[str, str]:
    """The environment of the processes ``up`` starts: this one's, with third-party progress bars off
    (``QUIET_PROGRESS_ENV``, unless the operator set those variables) and ``extra``."""
    return {**QUIET_PROGRESS_ENV, **os.environ, **extra}


def attach(cli: click.Group) -> None:
    """Add the ``up`` command to the ``verticals`` CLI group ``cli``."""
    cli.add_command(up)


def _verticals(*args: str) -> list[str]:
    return [sys.executable, "-m", "verticals", *args]


def _wait_ready(url: str, gateway: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until the gateway answers ``url`` (its readiness): True when every model is ready, False when
    it answers 503 (it takes requests only once its startup is over, so a model's backend did not start;
    the error is on the terminal). Raises ClickException when the gateway exits or stays silent.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            raise click.ClickException(
                f"the gateway exited with status {gateway.returncode} before it was ready; its errors are "
                "above, its log in the logs folder"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except urllib.error.HTTPError as error:
            if error.code == 503:
                return False
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise click.ClickException(f"the gateway did not answer {url} within {timeout:.0f} s; see its log")


def evaluate_in_background(children: list[subprocess.Popen[bytes]]) -> threading.Thread:
    """Start ``verticals eval --fast`` (every model whose suites run in seconds on a CPU; it records the
    runs through the gateway's admin API) at low priority with one thread, add it to ``children`` so
    shutdown stops it, and return the thread that waits for it and logs one line when it is done.
    """
    process = subprocess.Popen(
        _verticals("eval", "--fast", "--json"),
        env=child_env(**EVAL_ENV),
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
@click.option(
    "--status-every",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds between status lines (requests/s, errors, models down); 0: none.",
)
def up(demo: bool, demo_duration: float, backfill_days: int, evaluate: bool, status_every: float) -> None:
    """Start the gateway and the dashboard, print both URLs, and run until Ctrl-C."""
    from verticals.config import ConfigError, load_settings

    try:
        settings = load_settings()
        # Plugins' per-model settings too, before the backfill or any child starts: a bad value stops
        # here with its file and line, not after minutes of preparation inside the gateway.
        from verticals.model_settings import check_model_settings
        from verticals.registry import Registry

        for warning in check_model_settings(settings, Registry.load()):
            click.echo(f"warning: {warning}", err=True)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    gateway_url = f"http://{settings.host}:{settings.port}"
    dashboard_url = f"http://127.0.0.1:{settings.dashboard_port}"
    children: list[subprocess.Popen[bytes]] = []
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # The ledger has one writer, so synthetic history goes in before the gateway opens it, and only
    # into a new data directory: a restart must not add a second copy of the history. A PostgreSQL
    # ledger (database_url) is shared and may hold real data: no history is added to it unasked.
    fresh = not settings.database_url and not (settings.home / "ledger.duckdb").exists()
    if demo and backfill_days and fresh:
        backfill = _verticals("demo", "--backfill-days", str(backfill_days), "--duration", "0")
        if subprocess.call(backfill, env=child_env()) != 0:
            raise click.ClickException("the demo backfill failed; its message is above")
    log_files: list[IO[bytes]] = []

    def log_file(name: str) -> IO[bytes]:
        handle = (logs / name).open("ab")
        log_files.append(handle)
        return handle

    try:
        gateway = subprocess.Popen(_verticals("serve", "--log-dir", str(logs)), env=child_env())
        children.append(gateway)
        click.echo(f"starting the gateway on {gateway_url} (the first start prepares models) ...", err=True)
        if not _wait_ready(f"{gateway_url}/v2/health/ready", gateway, GATEWAY_START_TIMEOUT_S):
            click.echo("warning: not every model is up (the error is above); the others are served", err=True)
        dashboard = _verticals("dashboard", "--source", "api")
        children.append(
            subprocess.Popen(dashboard, env=child_env(**DASHBOARD_ENV), stdout=log_file("dashboard.log"))
        )
        if evaluate:
            # after the gateway is ready, so the suites never slow its start; they record through it
            evaluate_in_background(children)
        if demo:
            live = _verticals("demo", "--duration", str(demo_duration))
            out = log_file("demo.log")
            children.append(subprocess.Popen(live, env=child_env(), stdout=out, stderr=out))
        click.echo(f"\n  gateway    {gateway_url}   (OpenAI API /v1, Open Inference Protocol /v2)")
        ledger_at = shown("database_url", settings.database_url) or settings.home / "ledger.duckdb"
        click.echo(f"  dashboard  {dashboard_url}\n  ledger     {ledger_at}")
        click.echo(f"  logs       {logs}   (access.log: one line per request)\n")
        click.echo("Ctrl-C stops both.", err=True)
        _watch(gateway, gateway_url, dashboard_url, status_every)
        # uvicorn shuts down gracefully on SIGTERM or SIGINT, then exits by that signal
        if gateway.returncode not in (0, -signal.SIGTERM, -signal.SIGINT):
            status = gateway.returncode
            raise click.ClickException(f"the gateway exited with status {status}; see {logs / 'gateway.log'}")
        # ended on purpose (a signal sent to it alone): take the dashboard and demo down with it
        click.echo("the gateway ended on a signal; stopping the dashboard ...", err=True)
    except KeyboardInterrupt:
        click.echo("stopping ...", err=True)
    finally:
        _stop(children)
        for handle in log_files:
            handle.close()
        click.echo(f"stopped (logs in {logs})", err=True)


def _watch(gateway: subprocess.Popen[bytes], gateway_url: str, dashboard_url: str, every: float) -> None:
    """Until the gateway exits, print a status line every ``every`` seconds (0: none)."""
    before = read_totals(gateway_url) if every else None
    due = time.monotonic() + every
    while gateway.poll() is None:
        time.sleep(0.5)
        if every and time.monotonic() >= due and gateway.poll() is None:
            now = read_totals(gateway_url)
            click.echo(status_line(before, now, gateway_url, dashboard_url))
            before = now or before
            due = time.monotonic() + every


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each child still running, in reverse order of start: demo, evaluations and dashboard first,
    the gateway last so it can flush the ledger; one that has not exited after 30 s is killed."""
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
