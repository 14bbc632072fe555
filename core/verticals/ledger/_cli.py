"""Helpers the ledger's CLI modules share: opening the ledger, turning errors into click messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from verticals.client import RemoteLedger
    from verticals.ledger.ledger import Ledger

DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"])
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@contextmanager
def open_ledger() -> Iterator[Ledger | RemoteLedger]:
    """The ledger in the configured data directory; any LedgerError becomes a one-line message.

    While ``verticals serve`` runs it holds DuckDB's only write lock, so the same calls then go
    through its admin API instead of failing on the lock.
    """
    from verticals.client import open_remote_ledger
    from verticals.config import ConfigError, load_settings
    from verticals.ledger.errors import LedgerError
    from verticals.ledger.ledger import Ledger

    ledger: Ledger | RemoteLedger
    try:
        settings = load_settings()
        remote = open_remote_ledger(settings)
        if remote is not None:
            ledger = remote
        else:
            ledger = Ledger.open(settings.home, fsync_ms=settings.spool_fsync_ms)
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
