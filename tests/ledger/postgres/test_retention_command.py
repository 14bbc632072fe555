"""``verticals usage retention``: drops whole day partitions of the PostgreSQL ledger, never last month's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner, Result

from verticals.cli import cli as root
from verticals.ledger.commands import attach
from verticals.ledger.commands_retention import first_day_of_last_month
from verticals.ledger.postgres.ingest import PostgresSink

from .ingest_helpers import event, migrated, write_segment


def verticals(*args: str) -> Result:
    group = click.Group(commands=dict(root.commands))
    attach(group)
    return CliRunner().invoke(group, list(args))


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VERTICALS_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    return database_url


def test_retention_drops_the_days_before_last_month_and_keeps_the_rest(env: str, tmp_path: Path) -> None:
    migrated(env)
    today = datetime.now(UTC).date()
    floor = first_day_of_last_month(today)
    old = datetime(floor.year, floor.month, floor.day, tzinfo=UTC) - timedelta(days=2)  # two days before
    recent = datetime(floor.year, floor.month, floor.day, 12, tzinfo=UTC)
    events = [event(i, ts=old + timedelta(hours=i)) for i in range(30)]  # two old days
    events += [event(100 + i, ts=recent + timedelta(minutes=i)) for i in range(5)]
    sink = PostgresSink(env)
    try:
        sink.ingest(write_segment(tmp_path / "000000000001.jsonl", events))
    finally:
        sink.close()
    keep = (today - floor).days + 1

    dry = verticals("usage", "retention", "--keep-days", str(keep), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would drop 2 day partitions" in dry.output
    result = verticals("usage", "retention", "--keep-days", str(keep))
    assert result.exit_code == 0, result.output
    assert f"dropped 2 day partitions, {old.date()} to {old.date() + timedelta(days=1)}" in result.output
    with psycopg.connect(env) as conn:
        assert conn.execute("SELECT count(*) FROM usage_events").fetchone() == (5,)
        assert conn.execute("SELECT sum(requests) FROM usage_hourly").fetchone() == (35,)


def test_retention_refuses_to_drop_last_months_events(env: str) -> None:
    migrated(env)
    result = verticals("usage", "retention", "--keep-days", "7")
    assert result.exit_code == 1
    assert "invoices still read last month's events: keep at least" in result.output
    assert "Traceback" not in result.output


def test_retention_on_the_embedded_ledger_says_it_keeps_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    monkeypatch.delenv("VERTICALS_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = verticals("usage", "retention", "--keep-days", "90")
    assert result.exit_code == 1
    assert "the embedded DuckDB ledger keeps every event" in result.output
