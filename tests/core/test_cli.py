"""The ``verticals`` console script, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import verticals

BIN = Path(sys.executable).parent


def verticals_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "verticals"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_version() -> None:
    result = verticals_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"verticals, version {verticals.__version__}"


def test_plugins_list_json_has_the_documented_keys() -> None:
    result = verticals_cli("plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"echo", "tabular"} <= set(rows)
    for row in rows.values():
        assert set(row) == {
            "name",
            "distribution",
            "version",
            "status",
            "error",
            "models",
            "adapters",
            "evaluations",
        }
    assert rows["echo"] | {"models": None} == {
        "name": "echo",
        "distribution": "verticals",
        "version": verticals.__version__,
        "status": "ok",
        "error": None,
        "models": None,
        "adapters": [],
        "evaluations": [],
    }
    assert rows["echo"]["models"] == ["echo/chat"]


def test_broken_installed_plugin_is_shown_failed_and_the_rest_still_load(site_packages) -> None:
    site_packages.add(
        "verticals-broken", "broken_plugin", "import no_such_dependency_xyz", entry_point="broken"
    )
    result = verticals_cli("plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["distribution"] == "verticals-broken"
    assert "No module named 'no_such_dependency_xyz'" in rows["broken"]["error"]
    assert rows["echo"]["status"] == rows["tabular"]["status"] == "ok"
    table = verticals_cli("plugins", "list", env={"COLUMNS": "200"})
    assert table.returncode == 0 and "failed" in table.stdout and "broken" in table.stdout
    assert verticals_cli("--help").returncode == 0


def test_models_list_json() -> None:
    result = verticals_cli("models", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"name", "plugin", "task", "backend", "source", "unit"} <= set(rows["tabular/linear"])
    assert rows["tabular/linear"]["plugin"] == "tabular"
    assert rows["tabular/linear"]["unit"] == "rows"
    assert rows["echo/chat"]["task"] == "chat"


def test_unknown_command_is_a_message_not_a_traceback() -> None:
    result = verticals_cli("plugins", "lsit")
    assert result.returncode == 2
    assert "No such command 'lsit'" in result.stderr
    assert "Traceback" not in result.stderr
