"""Settings: defaults, then ``verticals.toml`` in the working directory, then ``VERTICALS_*`` variables.

Every setting has a typed schema: ``Settings`` here, ``ModelSettings`` (``verticals.model_settings``) for the
core's keys of each ``[models."NAME"]`` table, and the pydantic model a plugin declares in
``ModelSpec.settings`` for its own keys. ``load_settings`` checks them when it reads the file: a TOML syntax
error raises ``ConfigError`` naming the file, line and column; a bad value, one naming where it came from
(``verticals.toml:7``, ``env VERTICALS_PORT``), the key, the value and what is allowed. ``verticals config
check`` prints the effective settings and where each came from.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from verticals.config_sources import ConfigError, Origins, problems, read_toml
from verticals.model_settings import ModelSettings, plugin_settings

__all__ = [
    "CONFIG_FILE_ENV",
    "AlertSettings",
    "ConfigError",
    "ModelSettings",
    "Settings",
    "config_path",
    "load_settings",
]

CONFIG_FILE_ENV = "VERTICALS_CONFIG"

SchemaT = TypeVar("SchemaT", bound=BaseModel)


def config_path() -> Path:
    """The TOML file the settings come from: ``VERTICALS_CONFIG``, else ``verticals.toml`` in the working
    directory (a missing file reads as empty)."""
    return Path(os.environ.get(CONFIG_FILE_ENV, "verticals.toml"))


class AlertSettings(BaseModel):
    """``[alerts]``: what the gateway watches and where it sends alerts (see ``verticals.alerts``).

    ``webhook_url`` is the operator's Slack-compatible incoming webhook (http or https; None: alerts are
    only recorded in the ledger and shown on the Risk page). ``budget_thresholds`` are fractions of a
    customer's monthly budget (0 < t <= 10). Times in seconds; a failed call is retried ``retries`` times,
    ``backoff_s`` x 1, 2, 4, ... apart, then written to the dead-letter log ``<home>/logs/alerts-dead.jsonl``.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="watch the conditions below while the gateway runs")
    webhook_url: str | None = Field(None, description="Slack-compatible incoming webhook URL")
    interval_s: float = Field(30.0, ge=0.05, le=3600, description="seconds between two checks")
    budget_thresholds: list[float] = Field(
        default_factory=lambda: [0.5, 0.8, 1.0], description="fractions of the monthly budget"
    )
    anomaly_k: float = Field(3.0, gt=1, description="a day costing k x its trailing median is an anomaly")
    anomaly_window_days: int = Field(7, ge=1, le=90, description="the trailing window of cost anomalies")
    anomaly_min_excess_usd: Decimal = Field(
        Decimal("1.00"), ge=0, description="a cost anomaly exceeds its median by at least this (USD)"
    )
    timeout_s: float = Field(5.0, gt=0, le=60, description="seconds one webhook call may take")
    retries: int = Field(3, ge=0, le=10, description="webhook calls after the first when it fails")
    backoff_s: float = Field(1.0, ge=0, le=60, description="wait before the first retry; doubles after")

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("use an http:// or https:// URL (your chat's incoming webhook)")
        return value

    @field_validator("budget_thresholds")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < t <= 10 for t in value):
            raise ValueError("use fractions of the budget above 0 and up to 10, e.g. [0.5, 0.8, 1.0]")
        return sorted(set(value))


class Settings(BaseSettings):
    """verticals' settings: init arguments first, then ``VERTICALS_*`` environment variables, then the TOML
    file (``verticals.toml``, or the path in ``VERTICALS_CONFIG``).

    Paths are as given (``home`` defaults to ``.verticals`` under the working directory); ports 1-65535;
    ``spool_fsync_ms`` in milliseconds (0-60,000); ``models`` holds the ``[models."NAME"]`` override tables.
    ``database_url`` (``postgresql://``) and ``redis_url`` (``redis://``) scale out to many replicas
    (README, "Scaling out"); unset, the ledger is ``<home>/ledger.duckdb`` and limits live in the process.
    An unknown key is a validation error (``extra="forbid"``).
    """

    model_config = SettingsConfigDict(env_prefix="VERTICALS_", extra="forbid")

    home: Path = Field(Path(".verticals"), description="data directory: ledger, model cache, logs")
    model_cache: Path | None = Field(None, description="where pulled models live; default <home>/models")
    host: str = Field("127.0.0.1", description="address the gateway binds")
    port: int = Field(8000, ge=1, le=65535, description="port the gateway listens on")
    dashboard_port: int = Field(8501, ge=1, le=65535, description="port the dashboard listens on")
    admin_token: str | None = Field(None, description="admin API token; generated into home when unset")
    spool_fsync_ms: int = Field(
        50, ge=0, le=60_000, description="how long a written ledger event may wait for fsync (crash window)"
    )
    database_url: str | None = Field(
        None,
        pattern=r"^postgres(ql)?://",
        description="postgresql://... : share one PostgreSQL ledger between replicas; unset: embedded DuckDB",
    )
    redis_url: str | None = Field(
        None,
        pattern=r"^rediss?://",
        description="redis://... : rate limits and budgets shared by replicas in Redis; unset: in process",
    )
    redis_fail_open: bool = Field(
        False,
        description="Redis unreachable: serve without limits (true) instead of 503 for limited requests",
    )
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="[alerts]: webhook, thresholds")
    models: dict[str, ModelSettings] = Field(
        default_factory=dict, description="per-model settings, e.g. [models.'nlp/chat'] source = 'hf://...'"
    )

    # Where each value came from, for messages and `verticals config check`; set by load_settings.
    _origins: Origins | None = PrivateAttr(None)

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
        # Read here rather than by pydantic-settings' TOML source, so a syntax error is a ConfigError
        # naming the file, line and column instead of a tomllib traceback.
        toml = InitSettingsSource(settings_cls, read_toml(config_path()).data)
        return (init_settings, env_settings, toml)

    @property
    def origins(self) -> Origins:
        """Where each value came from (``argument``, ``env VERTICALS_X``, ``FILE:LINE``, ``default``)."""
        if self._origins is None:  # built directly rather than by load_settings: no arguments known
            self._origins = Origins.collect(read_toml(config_path()), list(type(self).model_fields))
        return self._origins

    @property
    def model_dir(self) -> Path:
        """Where pulled models live: ``model_cache`` when set, else ``<home>/models``."""
        return self.model_cache if self.model_cache is not None else self.home / "models"

    def model_override(self, model: str) -> dict[str, Any]:
        """The keys set in the ``[models."<model>"]`` table (source, url, device_class, port, a plugin's
        own keys, ...), validated, as a dict; empty when there is none. ``model_settings`` is the typed view.
        """
        table = self.models.get(model)
        return table.model_dump(exclude_unset=True) if table is not None else {}

    @overload
    def model_settings(self, model: str) -> ModelSettings: ...

    @overload
    def model_settings(self, model: str, schema: type[SchemaT]) -> SchemaT: ...

    def model_settings(self, model: str, schema: type[BaseModel] | None = None) -> BaseModel:
        """The ``[models."<model>"]`` table typed: the core's keys (``ModelSettings``, defaults where unset),
        or, given ``schema`` (the pydantic model a plugin declares in ``ModelSpec.settings``), the keys that
        schema declares, validated by it.

        Raises ConfigError naming the file and line (or variable), key, value and what is allowed.
        """
        table = self.models.get(model) or ModelSettings()
        if schema is None:
            return table
        return plugin_settings(table, schema, self.origins, model)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings: ``overrides`` (keyword arguments, first), then ``VERTICALS_*`` variables, then the
    TOML file (``config_path()``), then the defaults.

    Raises ConfigError: for a file that is not TOML, ``FILE:LINE:COLUMN: not valid TOML: ...``; for bad
    values, one line per problem, ``WHERE: KEY = VALUE: REASON; allowed: ...`` where WHERE is ``FILE:LINE``,
    ``env VERTICALS_X`` or ``argument``.
    """
    document = read_toml(config_path())
    origins = Origins.collect(document, list(Settings.model_fields), given=list(overrides))
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        raise ConfigError("\n".join(problems(error, origins, Settings))) from None
    settings._origins = origins
    return settings
