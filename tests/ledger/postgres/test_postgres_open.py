"""The PostgreSQL ledger opens, migrates once, keeps control data, and refuses a newer schema."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from verticals.ledger.errors import LedgerError
from verticals.ledger.ledger import Ledger
from verticals.ledger.postgres.schema import SCHEMA_VERSION

from .ingest_helpers import event


def test_control_data_written_by_one_process_is_read_by_another(database_url: str, tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "a", database_url=database_url, fsync_ms=50) as ledger:
        ledger.create_customer("acme", "pro", budget_usd=Decimal("10.5"))
        key, _ = ledger.create_key("acme", rpm=5)
    with Ledger.open(tmp_path / "b", database_url=database_url, read_only=True) as reader:
        assert [(c.name, c.plan, c.budget_usd) for c in reader.list_customers()] == [
            ("acme", "pro", Decimal("10.5"))
        ]
        found = reader.find_key(key)
        assert found is not None and found.customer == "acme" and found.rpm == 5
        assert {p.name for p in reader.list_plans()} == {"free", "pro", "enterprise"}


def test_a_second_open_does_not_migrate_again(database_url: str, tmp_path: Path) -> None:
    Ledger.open(tmp_path, database_url=database_url, fsync_ms=50).close()
    Ledger.open(tmp_path, database_url=database_url, fsync_ms=50).close()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM plans").fetchone() == (3,)
        version = conn.execute("SELECT value FROM ledger_meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)


def test_a_newer_schema_is_refused_and_left_alone(database_url: str, tmp_path: Path) -> None:
    Ledger.open(tmp_path, database_url=database_url, fsync_ms=50).close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE ledger_meta SET value = %s WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)]
        )
    with pytest.raises(LedgerError, match="newer than this verticals understands"):
        Ledger.open(tmp_path, database_url=database_url, fsync_ms=50)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT value FROM ledger_meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION + 1),
        )


def test_an_unreachable_server_is_one_line_naming_it_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(LedgerError) as error:
        Ledger.open(tmp_path, database_url="postgresql://u:secret@127.0.0.1:1/x", fsync_ms=50)
    assert "secret" not in str(error.value) and "postgresql://u:***@127.0.0.1:1/x" in str(error.value)


def test_events_recorded_through_the_ledger_reach_postgresql(database_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with Ledger.open(tmp_path, database_url=database_url, fsync_ms=5) as ledger:
        ledger.create_customer("acme", "pro")
        for i in range(3):
            ledger.record(event(i, ts=now, customer="acme", revenue_usd=Decimal("0.5")))
        ledger.flush()
        assert ledger.month_spend("acme") == Decimal("1.5")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*), sum(revenue_usd) FROM usage_events").fetchone() == (
            3,
            Decimal("1.5"),
        )
