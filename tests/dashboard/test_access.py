"""The access gate and the `verticals dashboard` command: loopback is open, anything else asks first."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from verticals.cli import attach_core_commands, cli
from verticals.config import load_settings
from verticals.dashboard import access

Run = Callable[..., Any]
attach_core_commands(cli)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.5", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        (None, False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_is_loopback(address: str | None, loopback: bool) -> None:
    assert access.is_loopback(address) is loopback


def test_password_is_stored_only_as_a_hash(tmp_path: Path) -> None:
    path = access.set_password(tmp_path, "correct horse battery")
    stored = path.read_text()
    assert "correct horse battery" not in stored
    assert stored.startswith("scrypt$")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert access.verify_password("correct horse battery", stored)
    assert not access.verify_password("correct horse batterY", stored)
    assert not access.verify_password("anything", "not-a-hash")


def test_short_password_is_refused(tmp_path: Path) -> None:
    with pytest.raises(access.AccessError, match="at least 8"):
        access.set_password(tmp_path, "short")


def test_check_secret_takes_token_or_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERTICALS_ADMIN_TOKEN", raising=False)
    settings = load_settings(home=tmp_path)
    assert not access.can_gate(settings)
    assert not access.check_secret(settings, "")
    (tmp_path / access.ADMIN_TOKEN_FILE).write_text("vadm_secret-token\n")
    access.set_password(tmp_path, "dashboard-pass")
    assert access.can_gate(settings)
    assert access.check_secret(settings, "vadm_secret-token")
    assert access.check_secret(settings, "dashboard-pass")
    assert not access.check_secret(settings, "vadm_secret-toke")


def test_bound_elsewhere_without_a_secret_shows_nothing(
    app_test: Run, seeded_home: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for name in ("ledger.duckdb",):
        (home / name).write_bytes((seeded_home / name).read_bytes())
    at = app_test(home, address="0.0.0.0")
    assert not at.metric
    assert any("--set-password" in e.value for e in at.error)


def test_bound_elsewhere_asks_for_the_password(app_test: Run, seeded_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "ledger.duckdb").write_bytes((seeded_home / "ledger.duckdb").read_bytes())
    access.set_password(home, "dashboard-pass")
    at = app_test(home, address="0.0.0.0")
    assert not at.metric and not at.dataframe  # nothing shows before signing in
    at.text_input[0].input("wrong password")
    at.button[0].click().run()
    assert not at.metric
    assert any("neither the admin token nor" in e.value for e in at.error)
    at.text_input[0].input("dashboard-pass")
    at.button[0].click().run()
    assert not at.exception
    assert {m.label for m in at.metric} >= {"Revenue", "Compute cost", "Gross margin"}
    # the sign-in remembers which secret it was: the Admin page's actions need no second one, and the
    # audit log names it
    assert at.session_state[access.SIGNED_IN_WITH] == access.PASSWORD_SECRET


def test_secret_kind_names_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERTICALS_ADMIN_TOKEN", raising=False)
    settings = load_settings(home=tmp_path)
    (tmp_path / access.ADMIN_TOKEN_FILE).write_text("vadm_secret-token\n")
    access.set_password(tmp_path, "dashboard-pass")
    assert access.secret_kind(settings, "vadm_secret-token") == "admin token"
    assert access.secret_kind(settings, "dashboard-pass") == "dashboard password"
    assert access.secret_kind(settings, "vadm_secret-toke") is None
    assert access.secret_kind(settings, "") is None


def test_cli_refuses_public_bind_without_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    monkeypatch.delenv("VERTICALS_ADMIN_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["dashboard", "--host", "0.0.0.0", "--port", "18502"])
    assert result.exit_code == 1
    assert "--set-password" in result.output
    assert "Traceback" not in result.output


def test_cli_names_a_busy_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 18503))
        busy.listen()
        result = CliRunner().invoke(cli, ["dashboard", "--port", "18503"])
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1:18503" in result.output
    assert "--port" in result.output


def test_cli_sets_a_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    result = CliRunner().invoke(
        cli, ["dashboard", "--set-password"], input="long-enough-pw\nlong-enough-pw\n"
    )
    assert result.exit_code == 0, result.output
    stored = (tmp_path / access.PASSWORD_FILE).read_text()
    assert "long-enough-pw" not in stored
    assert access.verify_password("long-enough-pw", stored)
    short = CliRunner().invoke(cli, ["dashboard", "--set-password"], input="short\nshort\n")
    assert short.exit_code == 1 and "at least 8" in short.output


def test_demo_without_a_gateway_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["demo", "--duration", "5"])
    assert result.exit_code == 1
    assert "no gateway is running" in result.output and "verticals serve" in result.output
    assert not (tmp_path / "ledger.duckdb").exists()  # nothing was written
