"""Settings: defaults, verticals.toml, VERTICALS_* variables, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from verticals.config import ConfigError, load_settings


def test_defaults(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VERTICALS_HOME", raising=False)
    settings = load_settings()
    assert settings.home == Path(".verticals")
    assert settings.model_dir == Path(".verticals/models")
    assert settings.port == 8000


def test_env_overrides_toml(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "verticals.toml").write_text(
        'home = "/srv/verticals"\nport = 9000\n[models."nlp/chat"]\nsource = "hf://Qwen/Qwen2.5-7B-Instruct"\n'
    )
    monkeypatch.setenv("VERTICALS_PORT", "9100")
    monkeypatch.delenv("VERTICALS_HOME", raising=False)
    settings = load_settings()
    assert settings.home == Path("/srv/verticals")
    assert settings.port == 9100
    assert settings.model_override("nlp/chat") == {"source": "hf://Qwen/Qwen2.5-7B-Instruct"}
    assert settings.model_override("nlp/embed") == {}


def test_config_file_from_env(monkeypatch, tmp_path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("dashboard_port = 8600\n")
    monkeypatch.setenv("VERTICALS_CONFIG", str(config))
    assert load_settings().dashboard_port == 8600


def test_bad_value_names_the_key_and_what_is_allowed(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VERTICALS_PORT", "eighty")
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert "port = 'eighty'" in message and "VERTICALS_PORT" in message
    assert "integer" in message


def test_out_of_range_and_unknown_keys(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "verticals.toml").write_text("port = 70000\nprot = 1\n")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "less than or equal to 65535" in str(error.value)
    assert "verticals.toml:2: prot is not a setting; did you mean 'port'?" in str(error.value)
