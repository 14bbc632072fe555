"""``verticals serve``: run the gateway until SIGTERM or SIGINT, then drain, flush and stop."""

from __future__ import annotations

import logging
from pathlib import Path

import click

# Kept importable from here: ``verticals.serving.logs`` holds them.
from verticals.serving.logs import JsonFormatter, configure_logging, quiet_progress_bars

__all__ = ["JsonFormatter", "attach", "configure_logging"]


def attach(cli: click.Group) -> None:
    """Add the ``serve`` command to the ``verticals`` CLI group ``cli``."""

    @cli.command()
    @click.option("--host", default=None, help="Address to bind (default: the `host` setting, 127.0.0.1).")
    @click.option(
        "--port",
        type=click.IntRange(1, 65535),
        default=None,
        help="Port (default: the `port` setting, 8000).",
    )
    @click.option(
        "--max-body-mb",
        type=click.FloatRange(0.001, 4096),
        default=25.0,
        show_default=True,
        help="Largest request body accepted; bigger ones get 413.",
    )
    @click.option(
        "--model", "models", multiple=True, help="Serve only this model (repeatable); default: all."
    )
    @click.option("--no-pull", is_flag=True, help="Do not pull missing models; serve the others.")
    @click.option(
        "--access-log/--no-access-log", default=True, show_default=True, help="Log one JSON line per request."
    )
    @click.option(
        "--log-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Write the logs to files here (access.log: one JSON line per request; gateway.log: the rest) "
        "and show only warnings and errors on the terminal; default: every JSON line on stderr.",
    )
    def serve(
        host: str | None,
        port: int | None,
        max_body_mb: float,
        no_pull: bool,
        access_log: bool,
        log_dir: Path | None,
        models: tuple[str, ...],
    ) -> None:
        """Serve every registered model over the OpenAI API and the v2 protocol, metering each request."""
        quiet_progress_bars()  # before any plugin imports tqdm or huggingface_hub
        from verticals.config import ConfigError, load_settings
        from verticals.ledger import Ledger, LedgerError

        try:
            settings = load_settings()
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        host = host or settings.host
        port = port or settings.port
        configure_logging(log_dir=log_dir)
        import uvicorn

        from verticals.client import remove_server_file, running_server, write_server_file
        from verticals.registry import Registry
        from verticals.serving.app import create_app, thaw_startup_heap
        from verticals.serving.auth import load_admin_token
        from verticals.serving.gateway import ServingOptions

        if running_server(settings) is not None:
            raise click.ClickException(
                f"a gateway already serves {settings.home} (see {settings.home}/server.json);"
                " stop it first or use another VERTICALS_HOME"
            )
        try:
            ledger = Ledger.open(settings.home, database_url=settings.database_url)
        except LedgerError as error:
            raise click.ClickException(str(error)) from None
        registry = Registry.load()
        try:  # a plugin's per-model settings can only be checked once the plugins are loaded
            from verticals.model_settings import check_model_settings

            for warning in check_model_settings(settings, registry):
                logging.getLogger("verticals.serving").warning("%s", warning)
        except ConfigError as error:
            ledger.close()
            raise click.ClickException(str(error)) from None
        for name in models:
            if name not in registry.models:
                ledger.close()
                from verticals.suggest import unknown

                raise click.ClickException(
                    unknown("model", name, registry.models, "see `verticals models list`")
                )
        for failure in registry.failures:
            logging.getLogger("verticals.serving").warning(
                "plugin %s failed to load: %s", failure.name, failure.error
            )
        token = load_admin_token(settings.home, settings.admin_token)
        options = ServingOptions(
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            pull_missing=not no_pull,
            log_requests=access_log,
            models=tuple(models) or None,
        )
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        write_server_file(settings.home, url)

        # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so clean up inside the lifespan.
        def shut_down(home: Path) -> None:
            remove_server_file(home)
            thaw_startup_heap()  # this process ends with its gateway

        app = create_app(
            settings,
            registry,
            ledger,
            admin_token=token,
            options=options,
            close_ledger=True,
            on_shutdown=lambda: shut_down(settings.home),
        )
        banner = (
            f"verticals gateway on {url} (admin token in {settings.home}/admin_token "
            "unless VERTICALS_ADMIN_TOKEN is set)"
        )
        if log_dir is None:
            click.echo(banner, err=True)
        else:  # `verticals up` prints the URLs itself; the terminal keeps to warnings
            logging.getLogger("verticals.serving").info(banner)
        try:
            uvicorn.run(
                app,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=30,
                loop="auto",
                http="auto",
            )
        finally:
            remove_server_file(settings.home)
