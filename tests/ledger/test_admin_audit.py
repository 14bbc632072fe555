"""The admin audit log: migration v6 adds it to a v5 ledger, rows are appended with secrets masked, and
``admin_audit`` reads them newest first, filtered by time, actor and subject."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb

from verticals.ledger import Ledger
from verticals.ledger.analytics import admin_audit
from verticals.ledger.audit import AuditEntry
from verticals.ledger.schema import migrate, schema_version

from .conftest import Clock

ENGINES = ("duckdb", "postgres")  # every test taking `ledger` runs on both (conftest)


def test_a_v5_ledger_gains_the_audit_log_and_keeps_its_alerts(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, str(path), target=5)
    conn.execute(
        "INSERT INTO alerts (key, kind, severity, subject, text, fields, raised_at, status) "
        "VALUES ('k', 'budget', 'warning', 'acme', 't', '{}', TIMESTAMP '2026-11-01', 'sent')"
    )
    conn.close()
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        assert schema_version(ledger.connection) == 6
        assert ledger.connection.execute("SELECT count(*) FROM alerts").fetchone() == (1,)
        assert admin_audit(ledger) == []


def test_actions_are_appended_with_secrets_masked_and_read_newest_first(ledger: Ledger, clock: Clock) -> None:
    start = clock.now
    first = ledger.record_admin_action(
        AuditEntry(
            actor="alice via dashboard\n(forged line)",
            action="create_key",
            method="POST",
            path="/admin/keys",
            status=201,
            subject="acme",
            detail={"customer": "acme", "prefix": "vk_abc", "key": "vk_abc_secret", "nested": {"token": "t"}},
        )
    )
    clock.advance(minutes=5)
    second = ledger.record_admin_action(
        AuditEntry(
            actor="admin token",
            action="grant_credit",
            method="POST",
            path="/admin/credits",
            status=400,
            subject="nosuch",
            detail={"customer": "nosuch", "amount_usd": "5"},
            error="no customer 'nosuch'",
        )
    )
    assert second > first
    rows = admin_audit(ledger)
    assert [row["id"] for row in rows] == [second, first]
    newest, oldest = rows
    assert newest["error"] == "no customer 'nosuch'" and newest["status"] == 400
    assert oldest["actor"] == "alice via dashboard(forged line)"  # no control characters
    assert oldest["detail"] == {
        "customer": "acme",
        "prefix": "vk_abc",
        "key": "***",
        "nested": {"token": "***"},
    }
    assert oldest["acted_at"] == start and oldest["acted_at"].tzinfo is not None
    stored = ledger.connection.execute("SELECT string_agg(detail, ' ') FROM admin_audit").fetchone()[0]
    assert "vk_abc_secret" not in stored
    assert [r["id"] for r in admin_audit(ledger, since=start + timedelta(minutes=1))] == [second]
    assert [r["id"] for r in admin_audit(ledger, until=start + timedelta(minutes=1))] == [first]
    assert [r["id"] for r in admin_audit(ledger, actor="admin token")] == [second]
    assert [r["id"] for r in admin_audit(ledger, subject="acme")] == [first]
    assert [r["id"] for r in admin_audit(ledger, limit=1)] == [second]
