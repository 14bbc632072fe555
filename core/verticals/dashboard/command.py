"""``verticals dashboard``: start the Streamlit dashboard over the ledger.

The dashboard reads through the gateway's admin API while a gateway runs and opens the ledger file
read-only when none does. It binds 127.0.0.1 unless told otherwise; on any other address it asks for
the admin token or the dashboard password before it shows anything.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import click

# Read by dashboard/app.py: which data source to use and where the gateway is.
SOURCE_ENV = "VERTICALS_DASHBOARD_SOURCE"
GATEWAY_URL_ENV = "VERTICALS_DASHBOARD_GATEWAY_URL"


def app_path() -> Path:
    """The Streamlit entry script: ``app.py`` of the repository's top-level ``dashboard/`` folder.

    A wheel carries that folder inside this package as ``app/`` (pyproject.toml's ``sources``), so an
    installed ``verticals dashboard`` runs its own copy. An editable install has no such copy (it would
    go stale as the scripts change) and runs the scripts where they are: ``dashboard/`` beside ``core/``
    in the source tree. In either case the file may be missing (a broken install): the caller checks.
    """
    package = Path(__file__).resolve().parent
    installed = package / "app" / "app.py"
    if installed.is_file():
        return installed
    return package.parents[2] / "dashboard" / "app.py"  # core/verticals/dashboard -> the source tree


def attach(cli: click.Group) -> None:
    """Add ``verticals dashboard`` to ``cli`` (``verticals.default_plugins.commands`` calls it)."""
    cli.add_command(dashboard)


@click.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port to listen on (default: the dashboard_port setting, 8501).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Anything but loopback asks for the admin token or password first.",
)
@click.option(
    "--source",
    type=click.Choice(["auto", "api", "ledger"]),
    default="auto",
    show_default=True,
    help="auto: the gateway's admin API when a gateway answers, else the ledger file read-only.",
)
@click.option(
    "--gateway-url",
    default=None,
    help="Gateway base URL for the admin API (default: http://<host setting>:<port setting>).",
)
@click.option(
    "--set-password",
    is_flag=True,
    help="Set the dashboard password (stored only as a hash in the data directory) and exit.",
)
def dashboard(port: int | None, host: str, source: str, gateway_url: str | None, set_password: bool) -> None:
    """Start the dashboard: usage, revenue, compute cost, margin and risk."""
    from verticals.config import ConfigError, load_settings
    from verticals.dashboard import access

    try:
        settings = load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    home = settings.home.resolve()
    if set_password:
        password = click.prompt("New dashboard password", hide_input=True, confirmation_prompt=True)
        try:
            path = access.set_password(home, password)
        except access.AccessError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"password hash stored in {path}; the password itself is not stored")
        return

    app = app_path()
    if not app.is_file():
        raise click.ClickException(
            f"the dashboard app is not at {app}: reinstall verticals (pip install --force-reinstall "
            "verticals) or, from a source tree, install it editable (make up)"
        )
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "streamlit is not installed: pip install 'verticals[dashboard]' (make up installs it)"
        ) from None
    if not access.is_loopback(host) and not access.can_gate(settings):
        raise click.ClickException(
            f"--host {host} lets other machines reach the dashboard, but there is no secret to ask them "
            "for: run `verticals dashboard --set-password` or set VERTICALS_ADMIN_TOKEN first"
        )
    port = port if port is not None else settings.dashboard_port
    _check_port_free(host, port)
    env = {**os.environ, "VERTICALS_HOME": str(home), SOURCE_ENV: source}
    if gateway_url:
        env[GATEWAY_URL_ENV] = gateway_url
    args = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--theme.base",
        "light",
    ]
    click.echo(f"dashboard on http://{host}:{port}  (data: {source}, data directory {home})")
    sys.stdout.flush()
    # exec, so Ctrl-C and SIGTERM reach Streamlit directly and its exit status is ours.
    os.execve(sys.executable, args, env)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({error.strerror}): pass a free port with --port"
            ) from None
