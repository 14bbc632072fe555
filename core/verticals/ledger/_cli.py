"""Helpers the ledger's CLI modules share: opening the ledger, turning errors into click messages."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from verticals.client import RemoteLedger
    from verticals.config import Settings
    from verticals.ledger.ledger import Ledger

DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"])
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
FROM_OPTION = click.option(
    "--from",
    "effective_from",
    type=DATE,
    help="When the row takes effect (UTC, not in the past); default now.",
)


def open_shared_ledger(settings: Settings, clock: Callable[[], datetime] | None = None) -> Ledger:
    """The PostgreSQL ledger at ``settings.database_url``, writable, for a command (``clock``: the ledger's
    "now", default the wall clock).

    Its spool is a private temporary folder (removed when the process ends), never ``settings.home``'s:
    that one belongs to the gateway replica that may serve from the same home, and two writers of one
    spool could lose its events. Raises LedgerError as ``Ledger.open`` does.
    """
    import atexit
    import shutil
    import tempfile

    from verticals.ledger.ledger import Ledger

    private = tempfile.mkdtemp(prefix="verticals-cli-")
    atexit.register(shutil.rmtree, private, True)
    return Ledger.open(
        Path(private), fsync_ms=settings.spool_fsync_ms, clock=clock, database_url=settings.database_url
    )


def open_cli_ledger(settings: Settings) -> Ledger:
    """The ledger a command opens itself: with ``database_url`` the shared one, each change it makes
    recorded in the audit log as the admin API records it (``ledger.cli_audit``); else the DuckDB file in
    ``settings.home``. Raises LedgerError as ``Ledger.open`` does."""
    from verticals.client.admin import cli_actor
    from verticals.ledger.cli_audit import audited
    from verticals.ledger.ledger import Ledger

    if settings.database_url:
        return audited(open_shared_ledger(settings), cli_actor())
    return Ledger.open(settings.home, fsync_ms=settings.spool_fsync_ms)


@contextmanager
def open_ledger() -> Iterator[Ledger | RemoteLedger]:
    """The ledger in the configured data directory; any LedgerError becomes a one-line message.

    While ``verticals serve`` runs it holds DuckDB's only write lock, so the same calls then go
    through its admin API instead of failing on the lock, which records them in the audit log. With
    ``database_url`` (PostgreSQL) there is no such lock and the gateways may run on other machines: the
    command writes to PostgreSQL itself, each change recorded in the audit log as it would be through
    the admin API (``ledger.cli_audit``), and the replicas hear of it within a second.
    """
    from verticals.client import open_remote_ledger
    from verticals.config import ConfigError, load_settings
    from verticals.ledger.errors import LedgerError

    ledger: Ledger | RemoteLedger
    try:
        settings = load_settings()
        remote = None if settings.database_url else open_remote_ledger(settings)
        ledger = remote if remote is not None else open_cli_ledger(settings)
    except (LedgerError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    try:
        yield ledger
    except LedgerError as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()


def utc(value: datetime | None) -> datetime | None:
    """Dates on the command line are UTC."""
    return None if value is None else value.replace(tzinfo=UTC)


def rows_of(items: list[Any]) -> list[dict[str, Any]]:
    """Each dataclass row (Plan, Customer, PriceRow, ...) as a plain dict via ``dataclasses.asdict``, for JSON
    or table output; Decimals and datetimes are kept as they are.
    """
    return [dataclasses.asdict(item) for item in items]


_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class NumbersAsValues(click.Command):
    """A command whose arguments may be negative numbers: ``prices set pro tokens -1`` reaches the command
    (which refuses the price, saying why) instead of click's "No such option '-1'".

    Such a token that is not the value of an option is moved behind ``--``, keeping the order of the
    positional arguments (which must then come last, as PRICE does).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {
            opt
            for param in self.params
            if isinstance(param, click.Option) and not param.is_flag and not param.count
            for opt in param.opts
        }
        head, tail = (args[: args.index("--")], args[args.index("--") + 1 :]) if "--" in args else (args, [])
        kept: list[str] = []
        numbers: list[str] = []
        for index, token in enumerate(head):
            is_value = index > 0 and head[index - 1] in takes_value
            (numbers if _NEGATIVE_NUMBER.match(token) and not is_value else kept).append(token)
        if numbers:
            args = [*kept, "--", *numbers, *tail]
        return super().parse_args(ctx, args)
