"""Bad settings are refused when the file is read, naming the file, line, key, value and what is allowed.

Each test is one of the examples of issue 19 ("Settings refused up front"), run through the Python API;
``test_config_cli.py`` runs the same examples through the real ``verticals`` command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from verticals.config import ConfigError, load_settings


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory whose verticals.toml is the one read; no VERTICALS_* variable steers it."""
    for name in ("VERTICALS_CONFIG", "VERTICALS_PORT", "VERTICALS_HOME", "VERTICALS_DASHBOARD_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refused(text: str) -> str:
    Path("verticals.toml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings()
    return str(error.value)


def test_a_toml_syntax_error_names_the_file_line_and_column(config_dir: Path) -> None:
    message = refused('port = 8000\n[models."finance/fraud"]\nthreshold = high\n')
    assert message.startswith("verticals.toml:3:13: "), message
    assert "not valid TOML" in message
    assert "threshold = high" in message  # the line itself, with a caret under the column


def test_a_syntax_error_in_the_file_named_by_verticals_config_names_that_file(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = config_dir / "prod.toml"
    other.write_text("port = = 1\n")
    monkeypatch.setenv("VERTICALS_CONFIG", str(other))
    with pytest.raises(ConfigError, match=rf"^{other}:1:8: not valid TOML"):
        load_settings()


def test_an_error_about_a_toml_value_names_the_file_not_the_environment(config_dir: Path) -> None:
    message = refused("host = '0.0.0.0'\nport = 70000\n")
    assert message.startswith("verticals.toml:2: port = 70000: "), message
    assert "VERTICALS_PORT" not in message
    assert "allowed: an integer from 1 to 65535" in message


def test_an_error_about_an_environment_value_names_the_variable(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("verticals.toml").write_text("port = 9000\n")
    monkeypatch.setenv("VERTICALS_PORT", "eighty")
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith("env VERTICALS_PORT: port = 'eighty': "), message
    assert "verticals.toml" not in message
    assert "allowed: an integer from 1 to 65535" in message


def test_an_unknown_key_suggests_the_setting_meant(config_dir: Path) -> None:
    message = refused("port = 8000\nprot = 1\n")
    assert message.startswith("verticals.toml:2: prot is not a setting; did you mean 'port'?"), message


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        ('max_model_len = "big"', "allowed: an integer from 16 to 1048576"),
        ("nice = 50", "allowed: an integer from 0 to 19"),
        ("max_batch_size = 0", "allowed: an integer from 1 to 4096"),
        ('url = "gpu-host:8000/v1"', "allowed: text starting with http:// or https://"),
        ('vllm_args = "--enforce-eager"', "allowed: a list of text"),
    ],
)
def test_core_per_model_settings_are_checked_when_read(config_dir: Path, line: str, allowed: str) -> None:
    key, value = (part.strip() for part in line.split("=", 1))
    message = refused(
        f'port = 8000\n\n[models."nlp/chat"]\nsource = "hf://Qwen/Qwen2.5-0.5B-Instruct"\n{line}\n'
    )
    assert message.startswith(f'verticals.toml:5: [models."nlp/chat"] {key} = '), message
    assert repr(eval(value)) in message  # the value as read, quoted
    assert allowed in message


def test_a_plugin_setting_is_checked_against_the_schema_the_plugin_declares(config_dir: Path) -> None:
    from verticals_finance import fraud_spec
    from verticals_finance.model import FraudSettings

    assert fraud_spec().settings is FraudSettings
    Path("verticals.toml").write_text('[models."finance/fraud"]\nthreshold = "high"\n')
    settings = load_settings()  # the core cannot judge a plugin's key ...
    with pytest.raises(ConfigError) as error:  # ... the plugin's schema can, naming the file and line
        settings.model_settings("finance/fraud", FraudSettings)
    message = str(error.value)
    assert message.startswith("verticals.toml:2: [models.\"finance/fraud\"] threshold = 'high': "), message
    assert "allowed: a number from 0 to 1" in message


def test_the_fraud_predictor_refuses_a_bad_threshold_naming_key_and_file(config_dir: Path) -> None:
    from verticals_finance.model import FraudPredictor

    Path("verticals.toml").write_text('[models."finance/fraud"]\nthreshold = "high"\n')
    with pytest.raises(
        ConfigError, match=r"^verticals.toml:2: \[models.\"finance/fraud\"\] threshold = 'high'"
    ):
        FraudPredictor().load(None)


def test_every_registered_table_is_checked_against_core_and_plugin_schemas(config_dir: Path) -> None:
    from verticals.model_settings import check_model_settings
    from verticals.registry import Registry

    Path("verticals.toml").write_text(
        '[models."finance/fraud"]\nthreshold = "high"\ntreshold = 0.4\n\n[models."finance/frod"]\nnice = 5\n'
    )
    with pytest.raises(ConfigError) as error:
        check_model_settings(load_settings(), Registry.load())
    message = str(error.value)
    assert "verticals.toml:2: [models.\"finance/fraud\"] threshold = 'high'" in message
    assert (
        "verticals.toml:3: [models.\"finance/fraud\"] treshold is not a setting; did you mean 'threshold'?"
        in (message)
    )


def test_a_table_for_an_unregistered_model_is_a_warning_with_a_suggestion(config_dir: Path) -> None:
    from verticals.model_settings import check_model_settings
    from verticals.registry import Registry

    Path("verticals.toml").write_text('[models."finance/frod"]\nnice = 5\n')
    warnings = check_model_settings(load_settings(), Registry.load())
    assert warnings == [
        'verticals.toml:1: [models."finance/frod"] names no registered model; '
        "did you mean 'finance/fraud'? (its settings apply once a plugin registers it)"
    ]


def test_typed_per_model_settings_and_the_old_dict_view_agree(config_dir: Path) -> None:
    Path("verticals.toml").write_text(
        '[models."nlp/chat"]\nurl = "http://gpu:8000/v1"\nmax_model_len = 4096\n'
        'vllm_args = ["--enforce-eager"]\n'
    )
    settings = load_settings()
    chat = settings.model_settings("nlp/chat")
    assert (chat.url, chat.max_model_len, chat.vllm_args, chat.nice) == (
        "http://gpu:8000/v1",
        4096,
        ("--enforce-eager",),
        10,
    )
    assert settings.model_override("nlp/chat") == {
        "url": "http://gpu:8000/v1",
        "max_model_len": 4096,
        "vllm_args": ("--enforce-eager",),
    }
    assert settings.model_settings("nlp/embed").max_model_len == 2048


def test_the_default_nice_is_the_engine_default() -> None:
    from verticals.model_settings import DEFAULT_NICE
    from verticals.serving.backends.vllm.server import ENGINE_NICE

    assert DEFAULT_NICE == ENGINE_NICE
