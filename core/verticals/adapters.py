"""The data adapter contract: readers that turn customer data into validated model inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from verticals._naming import check_plain_name


class AdapterError(ValueError):
    """Bad input. The message names the problem and how to fix it; callers show it as is."""


class DataAdapter(BaseModel):
    """A reader registered by ``register_data_adapters``."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    formats: tuple[str, ...] = Field(min_length=1, description="csv, jsonl, parquet, png, wav, ...")
    read: Callable[..., list[Any]] = Field(
        description="read(source, **options) -> model inputs; raises AdapterError on bad input"
    )
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_plain_name(value, "adapter")
