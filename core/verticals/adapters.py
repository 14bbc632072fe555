"""The data adapter contract: two doors, one for customers' request payloads, one for the operator's sources.

The two doors exist because their callers are trusted differently:

- ``read_payload(payload) -> list`` is the **customer door**. The gateway calls it on every request
  item, so ``payload`` is whatever anyone holding a key sent: a decoded JSON value (object, list,
  string, number, boolean, null) or ``bytes`` (an uploaded file, a binary v2 BYTES element). It reads
  the payload and nothing else: a string is data (JSON text, base64, a ``data:`` URL), never a path, a
  table name or a URL to fetch, so it never touches the filesystem or the network. Its refusals depend
  only on the payload, and quote nothing but the payload.
- ``read_source(source, **options) -> list`` is the **operator door**: ``verticals eval``, training
  and other commands run by whoever runs the server. ``source`` names where the data lives: a file or
  folder path, ``'duckdb:PATH:TABLE'``, a data set the plugin ships.

An adapter gives one door or both. One without ``read_payload`` (an evaluation hold-out reader, say)
cannot be a model's ``input_adapter``: the registry refuses such a model when it loads.
``verticals.testing.assert_payload_reader_reads_no_files`` checks a payload reader against paths,
DuckDB tables and URLs; every plugin should run it (see ``payload_reader_test``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from verticals._naming import check_plain_name

PayloadReader = Callable[[Any], list[Any]]
SourceReader = Callable[..., list[Any]]

NOT_DATA_HINT = "send the data itself, not a path or a URL"
"""The end of every refusal of a payload string that is not data; plugins reuse it so that customers
read the same fix whichever model they call."""


class AdapterError(ValueError):
    """Bad input. The message names the problem and how to fix it; callers show it as is."""


class DataAdapter(BaseModel):
    """A reader registered by ``register_data_adapters``: a payload reader, a source reader, or both."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    name: str
    formats: tuple[str, ...] = Field(min_length=1, description="csv, jsonl, parquet, png, wav, ...")
    read_payload: PayloadReader | None = Field(
        None,
        description="read_payload(payload) -> model inputs, for request payloads (JSON values, bytes); "
        "never opens a file or a URL; raises AdapterError on bad input",
    )
    read_source: SourceReader | None = Field(
        None,
        description="read_source(source, **options) -> model inputs, for the operator's files, folders "
        "and tables (CLI, training, evaluation); raises AdapterError on bad input",
    )
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _no_single_read(cls, data: Any) -> Any:
        if isinstance(data, dict) and "read" in data:
            raise ValueError(
                "DataAdapter has no `read`: give `read_payload` for request payloads (JSON values and "
                "bytes from customers; it must never open a path or a URL) and/or `read_source` for the "
                "operator's files and tables (CLI, training, evaluation)"
            )
        return data

    @model_validator(mode="after")
    def _one_door(self) -> DataAdapter:
        if self.read_payload is None and self.read_source is None:
            raise ValueError(
                f"adapter {self.name!r} reads nothing: give read_payload (request payloads) and/or "
                "read_source (the operator's files and tables)"
            )
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_plain_name(value, "adapter")

    def source(self, source: Any, **options: Any) -> list[Any]:
        """Read an operator source; ``AdapterError`` when this adapter has no source door."""
        if self.read_source is None:
            raise AdapterError(
                f"adapter {self.name!r} reads only request payloads; it cannot read {source!s} "
                "(it has no read_source)"
            )
        return self.read_source(source, **options)
