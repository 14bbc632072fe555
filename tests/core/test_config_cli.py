"""Bad settings through the real ``verticals`` command: one message naming file, line, key and value, no
traceback; and ``verticals config check`` showing every effective setting and where it came from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``verticals ARGS`` in ``cwd`` (whose verticals.toml is the one read), as an operator runs it."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("VERTICALS_")}
    base["VERTICALS_HOME"] = str(cwd / "home")
    return subprocess.run(
        [str(BIN / "verticals"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=timeout,
    )


def test_a_toml_syntax_error_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "verticals.toml").write_text('port = 8000\n[models."finance/fraud"]\nthreshold = high\n')
    result = run(tmp_path, "models", "list")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "TOMLDecodeError" not in result.stderr
    assert "verticals.toml:3:13: not valid TOML" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('max_model_len = "big"', "verticals.toml:2: [models.\"nlp/chat\"] max_model_len = 'big'"),
        ("nice = 50", 'verticals.toml:2: [models."nlp/chat"] nice = 50'),
    ],
)
def test_models_list_refuses_a_bad_per_model_value(tmp_path: Path, line: str, expected: str) -> None:
    (tmp_path / "verticals.toml").write_text(f'[models."nlp/chat"]\n{line}\n')
    result = run(tmp_path, "models", "list")
    assert result.returncode != 0, result.stdout
    assert expected in result.stderr, result.stderr
    assert "allowed: an integer from" in result.stderr


def test_the_gateway_refuses_to_start_with_a_bad_plugin_setting(tmp_path: Path) -> None:
    from verticals.evaluate.backends import free_port

    (tmp_path / "verticals.toml").write_text(
        f'port = {free_port()}\n\n[models."finance/fraud"]\nthreshold = "high"\n'
    )
    # Before the fix the gateway started (and ran until this timeout); now it stops before opening anything.
    result = run(
        tmp_path, "serve", "--model", "finance/fraud", env={"VERTICALS_LOAD_PLUGINS": "finance"}, timeout=90
    )
    assert result.returncode != 0
    assert "verticals.toml:4: [models.\"finance/fraud\"] threshold = 'high'" in result.stderr, result.stderr
    assert "allowed: a number from 0 to 1" in result.stderr
    assert not (tmp_path / "home" / "server.json").exists()


def test_up_refuses_a_bad_plugin_setting_before_anything_starts(tmp_path: Path) -> None:
    """`verticals up` (what `make up` runs) checks the plugins' settings before the demo backfill."""
    (tmp_path / "verticals.toml").write_text('[models."finance/fraud"]\nthreshold = "high"\n')
    result = run(tmp_path, "up", env={"VERTICALS_LOAD_PLUGINS": "finance"}, timeout=90)
    assert result.returncode != 0
    assert "verticals.toml:2: [models.\"finance/fraud\"] threshold = 'high'" in result.stderr, result.stderr
    assert not (tmp_path / "home" / "ledger.duckdb").exists()  # no backfill, no gateway


def test_an_error_about_a_toml_value_does_not_name_the_environment(tmp_path: Path) -> None:
    (tmp_path / "verticals.toml").write_text("port = 70000\n")
    result = run(tmp_path, "config", "check")
    assert result.returncode != 0
    assert "verticals.toml:1: port = 70000" in result.stderr, result.stderr
    assert "VERTICALS_PORT" not in result.stderr


def test_config_check_prints_each_setting_and_where_it_came_from(tmp_path: Path) -> None:
    (tmp_path / "verticals.toml").write_text('port = 9000\n\n[models."finance/fraud"]\nthreshold = 0.4\n')
    result = run(tmp_path, "config", "check", "--json", env={"VERTICALS_DASHBOARD_PORT": "8600"})
    assert result.returncode == 0, result.stderr
    rows = {row["setting"]: row for row in json.loads(result.stdout)}
    assert rows["port"] == {"setting": "port", "value": "9000", "source": "verticals.toml:1"}
    assert rows["dashboard_port"] == {
        "setting": "dashboard_port",
        "value": "8600",
        "source": "env VERTICALS_DASHBOARD_PORT",
    }
    assert rows["home"]["source"] == "env VERTICALS_HOME"
    assert rows["spool_fsync_ms"] == {"setting": "spool_fsync_ms", "value": "50", "source": "default"}
    assert rows['models."finance/fraud".threshold'] == {
        "setting": 'models."finance/fraud".threshold',
        "value": "0.4",
        "source": "verticals.toml:4",
    }
    # the model's other settings, core and plugin, show their defaults
    assert rows['models."finance/fraud".max_batch_size']["source"] == "default"


def test_config_check_as_a_table_says_the_settings_are_valid(tmp_path: Path) -> None:
    (tmp_path / "verticals.toml").write_text("port = 9000\n")
    result = run(tmp_path, "config", "check")
    assert result.returncode == 0, result.stderr
    assert "verticals.toml:1" in result.stdout and "default" in result.stdout
    assert "settings are valid" in result.stderr
