"""Settings: defaults, then ``verticals.toml`` in the working directory, then ``VERTICALS_*`` variables.

A bad value raises ``ConfigError`` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "VERTICALS_CONFIG"


class ConfigError(ValueError):
    """A setting with a value that is not allowed."""


class Settings(BaseSettings):
    """verticals' settings: init arguments first, then ``VERTICALS_*`` environment variables, then the TOML
    file (``verticals.toml``, or the path in ``VERTICALS_CONFIG``).

    Paths are as given (``home`` defaults to ``.verticals`` under the working directory); ports 1-65535;
    ``spool_fsync_ms`` in milliseconds (0-60,000); ``models`` holds the ``[models."NAME"]`` override tables.
    An unknown key is a validation error (``extra="forbid"``).
    """

    model_config = SettingsConfigDict(env_prefix="VERTICALS_", extra="forbid", toml_file="verticals.toml")

    home: Path = Field(Path(".verticals"), description="data directory: ledger, model cache, logs")
    model_cache: Path | None = Field(None, description="where pulled models live; default <home>/models")
    host: str = Field("127.0.0.1", description="address the gateway binds")
    port: int = Field(8000, ge=1, le=65535, description="port the gateway listens on")
    dashboard_port: int = Field(8501, ge=1, le=65535, description="port the dashboard listens on")
    admin_token: str | None = Field(None, description="admin API token; generated into home when unset")
    spool_fsync_ms: int = Field(
        50, ge=0, le=60_000, description="how long a written ledger event may wait for fsync (crash window)"
    )
    models: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-model overrides, e.g. [models.'nlp/chat'] source = 'hf://...'"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """pydantic-settings hook: read init arguments, then the environment, then the TOML file named by
        ``VERTICALS_CONFIG`` (default ``verticals.toml``); .env files and secret directories are not read.
        """
        toml_file = Path(os.environ.get(CONFIG_FILE_ENV, "verticals.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    @property
    def model_dir(self) -> Path:
        """Where pulled models live: ``model_cache`` when set, else ``<home>/models``."""
        return self.model_cache if self.model_cache is not None else self.home / "models"

    def model_override(self, model: str) -> dict[str, Any]:
        """The ``[models."<model>"]`` table of the settings (source, url, device_class, port, ...), or an
        empty dict when there is none.
        """
        return self.models.get(model, {})


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad key."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"])
            env = f"VERTICALS_{key.upper()}"
            problems.append(f"setting {key!r} (env {env}) = {item.get('input')!r}: {item['msg']}")
        raise ConfigError("; ".join(problems)) from None
