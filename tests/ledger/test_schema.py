"""Migrations: a fresh ledger is current, an older one is upgraded, a newer one is left untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from verticals.ledger import Ledger, LedgerError
from verticals.ledger.schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fresh_ledger_is_at_the_current_version(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        assert schema_version(ledger.connection) == SCHEMA_VERSION == len(MIGRATIONS)


def test_older_ledger_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, str(path), target=1)
    conn.execute("INSERT INTO plans VALUES ('legacy', 5, 0, '', false, TIMESTAMP '2025-01-01')")
    conn.execute("INSERT INTO customers VALUES ('old-co', 'legacy', NULL, 'active', TIMESTAMP '2025-01-01')")
    assert schema_version(conn) == 1
    conn.close()
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        assert schema_version(ledger.connection) == SCHEMA_VERSION
        assert ledger.get_customer("old-co").plan == "legacy"
        assert {"legacy", "free", "pro", "enterprise"} <= {p.name for p in ledger.list_plans()}
        assert ledger.connection.execute("SELECT count(*) FROM capacity").fetchone() == (0,)


def test_newer_ledger_is_refused_and_untouched(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, fsync_ms=20):
        pass
    path = tmp_path / "ledger.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("UPDATE ledger_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    conn.close()
    before, mtime = _digest(path), path.stat().st_mtime_ns
    for read_only in (False, True):
        with pytest.raises(LedgerError, match="newer than this verticals understands"):
            Ledger.open(tmp_path, read_only=read_only, fsync_ms=20)
    assert _digest(path) == before and path.stat().st_mtime_ns == mtime
    assert not (tmp_path / "ledger.spool").exists() or not any((tmp_path / "ledger.spool").iterdir())


def test_read_only_needs_an_existing_current_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no ledger at"):
        Ledger.open(tmp_path, read_only=True)
    path = tmp_path / "ledger.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, str(path), target=1)
    conn.close()
    with pytest.raises(LedgerError, match="needs upgrading"):
        Ledger.open(tmp_path, read_only=True)


def test_not_a_ledger(tmp_path: Path) -> None:
    (tmp_path / "ledger.duckdb").write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError, match=r"not a readable ledger|cannot open"):
        Ledger.open(tmp_path, fsync_ms=20)


def test_v2_capacity_rows_become_devices(tmp_path: Path) -> None:
    """Upgrading to v3: each capacity row becomes one device serving its one model; the gateway's old
    pseudo-model "torch" becomes a device serving the models whose requests it carried; the old
    ``capacity`` table stays readable as a view."""
    path = tmp_path / "ledger.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, str(path), target=2)
    conn.execute(
        "INSERT INTO capacity VALUES "
        "('vllm-1', 'nlp/chat', 'l4', TIMESTAMP '2026-11-01', TIMESTAMP '2026-11-02'), "
        "('gateway-1', 'torch', 'cpu', TIMESTAMP '2026-11-01', NULL)"
    )
    requests = (("r1", "vision/cls", "cpu"), ("r2", "tabular/lin", "cpu"), ("r3", "nlp/chat", "l4"),
                ("r4", "-", "cpu"))  # fmt: skip
    for rid, model, device in requests:
        conn.execute(
            "INSERT INTO usage_events VALUES (?, TIMESTAMP '2026-11-01 10:00', 'acme', NULL, 'p', ?, '1', "
            "'/x', 200, 1, 0, NULL, 1, 1, 'rows', 1, ?, 0, 0)",
            [rid, model, device],
        )
    conn.close()
    with Ledger.open(tmp_path, fsync_ms=20) as ledger:
        conn = ledger.connection
        assert conn.execute("SELECT device_id, device_class FROM devices ORDER BY device_id").fetchall() == [
            ("gateway-1", "cpu"),
            ("vllm-1", "l4"),
        ]
        assert conn.execute("SELECT device_id, model FROM device_models ORDER BY ALL").fetchall() == [
            ("gateway-1", "tabular/lin"),
            ("gateway-1", "vision/cls"),
            ("vllm-1", "nlp/chat"),
        ]
        assert conn.execute("SELECT instance_id, model FROM capacity ORDER BY ALL").fetchall() == [
            ("gateway-1", "tabular/lin"),
            ("gateway-1", "vision/cls"),
            ("vllm-1", "nlp/chat"),
        ]
