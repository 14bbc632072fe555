"""Commands with ``database_url`` set: the CLI writes PostgreSQL itself (no gateway to go through) and
records each change in the admin audit log as the admin API would; ``config check`` never shows the
database's or Redis's password; the dashboard reads PostgreSQL read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from verticals.cli import cli as root
from verticals.client import write_server_file
from verticals.ledger import Ledger
from verticals.ledger.analytics import admin_audit
from verticals.ledger.commands import attach


@pytest.fixture
def shared_home(verticals_home: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VERTICALS_DATABASE_URL", database_url)
    return verticals_home


def run(*args: str) -> Result:
    group = click.Group(commands=dict(root.commands))
    attach(group)
    return CliRunner().invoke(group, list(args), catch_exceptions=False)


def test_cli_changes_go_to_postgres_and_into_the_audit_log(shared_home: Path, database_url: str) -> None:
    # a gateway's server.json in this home changes nothing: PostgreSQL has no single writer to go through
    write_server_file(shared_home, "http://127.0.0.1:9")
    assert run("customers", "create", "acme", "--plan", "pro", "--budget", "5").exit_code == 0
    created = run("keys", "create", "--customer", "acme", "--json")
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)["key"]
    assert run("keys", "revoke", key[:11]).exit_code == 0
    refused = run("customers", "create", "acme", "--plan", "pro")
    assert refused.exit_code != 0 and "already exists" in refused.output and "Traceback" not in refused.output
    assert not (shared_home / "ledger.duckdb").exists() and not (shared_home / "ledger.spool").exists()

    with Ledger.open(shared_home, read_only=True, database_url=database_url) as ledger:
        found = ledger.find_key(key)
        assert found is not None and not found.active
        rows = list(reversed(admin_audit(ledger)))
    assert [(r["action"], r["status"], r["subject"]) for r in rows] == [
        ("create_customer", 200, "acme"),
        ("create_key", 200, "acme"),
        ("revoke_key", 200, key[:11]),
        ("create_customer", 400, "acme"),
    ]
    assert all(r["actor"].endswith("(cli)") and r["method"] == "CLI" for r in rows), rows
    assert rows[0]["path"].endswith(" customers create") and rows[2]["path"].endswith(" keys revoke")
    assert rows[0]["detail"] == {"name": "acme", "plan": "pro", "budget_usd": "5"}
    assert rows[1]["detail"]["prefix"] == key[:11] and key not in json.dumps(rows, default=str)
    assert "already exists" in rows[3]["error"]


def test_config_check_hides_the_database_and_redis_passwords(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTICALS_")}
    env |= {
        "VERTICALS_HOME": str(tmp_path / "home"),
        "VERTICALS_DATABASE_URL": "postgresql://app:s3cret-pw@db.internal:5432/verticals",
        "VERTICALS_REDIS_URL": "redis://:hunter2-pw@cache.internal:6379/0",
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "verticals"), "config", "check", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["setting"]: row["value"] for row in json.loads(result.stdout)}
    assert rows["database_url"] == "postgresql://***@db.internal:5432/verticals"
    assert rows["redis_url"] == "redis://***@cache.internal:6379/0"
    assert "s3cret-pw" not in result.stdout + result.stderr and "hunter2-pw" not in result.stdout


def test_the_dashboard_reads_postgres_read_only(shared_home: Path, database_url: str) -> None:
    from verticals.dashboard.datasource import open_source
    from verticals.dashboard.ui import resolve

    with Ledger.open(shared_home, database_url=database_url, fsync_ms=20) as ledger:
        ledger.create_customer("acme", "pro")
    kind, gateway_url, token = resolve("auto", str(shared_home), None, None)
    assert (kind, gateway_url, token) == ("ledger", "", None)  # no gateway: no admin actions
    source = open_source(kind, str(shared_home), gateway_url, token)
    try:
        assert source.describe() == f"PostgreSQL ledger at {database_url} (read-only)"
        assert [row["name"] for row in source.control("customers")] == ["acme"]
        assert source.analytics("admin_audit") == [] and source.admin_actions("alice") is None
    finally:
        source.close()  # type: ignore[attr-defined]  # PostgresSource's, not the protocol's
