"""Where each setting came from, and errors that say so.

The settings are read from three places (``verticals.config``): arguments given in code, ``VERTICALS_*``
environment variables and a TOML file. This module reads the TOML file keeping the line of every key,
records which keys each place gave (``Origins``), and turns pydantic's report on a bad value into one line
per problem, each starting with where the value came from, compiler style::

    verticals.toml:7: [models."finance/fraud"] threshold = 'high': Input should be a valid number, ...;
        allowed: a number from 0 to 1
    env VERTICALS_PORT: port = 'eighty': Input should be a valid integer, ...;
        allowed: an integer from 1 to 65535
"""

from __future__ import annotations

import difflib
import enum
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

ENV_PREFIX = "VERTICALS_"

#: A key as TOML writes it: bare, or quoted with " or ', joined by dots (``models."nlp/chat".nice``).
_KEY = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*"
_TABLE_LINE = re.compile(rf"^\s*\[\s*({_KEY})\s*\]\s*(?:#.*)?$")
_KEY_LINE = re.compile(rf"^\s*({_KEY})\s*=")
_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


class ConfigError(ValueError):
    """A setting with a value that is not allowed, or a settings file that cannot be read; the message
    names where the value came from (``FILE:LINE``, ``env VERTICALS_X``), the key, the value and what is
    allowed."""


Loc = tuple[str, ...]


@dataclass(frozen=True)
class TomlDocument:
    """A TOML settings file: its ``data`` and the 1-based line of each key path (tables and keys alike);
    ``path`` is as the operator named it, so messages quote it the same way."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[Loc, int] = field(default_factory=dict)
    exists: bool = False


def read_toml(path: Path) -> TomlDocument:
    """Read ``path`` (a missing file reads as empty).

    Raises ConfigError for a file that is not UTF-8 or not TOML: ``FILE:LINE:COLUMN: not valid TOML: ...``
    followed by the line and a caret under the column.
    """
    if not path.is_file():
        return TomlDocument(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}); save the file as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(_syntax_message(path, text, str(error))) from None
    return TomlDocument(path, data, _key_lines(text), True)


def _syntax_message(path: Path, text: str, reason: str) -> str:
    position = _POSITION.search(reason)
    if position is None:  # "(at end of document)": point at the last line
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        reason = reason.replace(" (at end of document)", "")
    else:
        line, column = int(position.group(1)), int(position.group(2))
        reason = reason[: position.start()]
    source = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
    return (
        f"{path}:{line}:{column}: not valid TOML: {reason}\n"
        f"    {line} | {source}\n    {' ' * len(str(line))} | {' ' * (column - 1)}^\n"
        'fix that line (text values need quotes: key = "text"; see https://toml.io)'
    )


def _key_lines(text: str) -> dict[Loc, int]:
    """The line of each table header and key, by key path. Keys inside inline tables are not located
    (their errors point at the line of the nearest located parent)."""
    lines: dict[Loc, int] = {}
    table: Loc = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _TABLE_LINE.match(line)
        if header is not None:
            table = _key_path(header.group(1)) or table
            lines.setdefault(table, number)
            continue
        key = _KEY_LINE.match(line)
        if key is not None and (path := _key_path(key.group(1))):
            lines.setdefault(table + path, number)
    return lines


def _key_path(key: str) -> Loc:
    """``models."nlp/chat"`` -> ``("models", "nlp/chat")``, by TOML's own rules; ``()`` if not a key."""
    try:
        node: Any = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        return ()
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        ((name, node),) = node.items()
        path.append(name)
    return tuple(path)


@dataclass(frozen=True)
class Origins:
    """Which place gave each top-level setting: ``given`` (arguments in code), ``env`` (setting -> the
    variable's name as set), else the TOML ``document``, else the default."""

    document: TomlDocument
    env: Mapping[str, str]
    given: frozenset[str]

    @classmethod
    def collect(cls, document: TomlDocument, names: Sequence[str], given: Sequence[str] = ()) -> Origins:
        """The origins of ``names`` (the settings' field names) now; environment names match whatever their
        case, as pydantic-settings matches them."""
        wanted = {f"{ENV_PREFIX}{name}".lower(): name for name in names}
        env = {wanted[key.lower()]: key for key in os.environ if key.lower() in wanted}
        return cls(document, env, frozenset(given))

    def of(self, loc: Sequence[str | int]) -> str:
        """Where the value at ``loc`` (``("port",)``, ``("models", "nlp/chat", "nice")``) came from:
        ``argument``, ``env VERTICALS_X``, ``FILE:LINE`` or ``default``."""
        parts = tuple(str(part) for part in loc)
        if not parts:
            return "default"
        if parts[0] in self.given:
            return "argument"
        if parts[0] in self.env:
            return f"env {self.env[parts[0]]}"
        for end in range(len(parts), 0, -1):
            line = self.document.lines.get(parts[:end])
            if line is not None:
                return f"{self.document.path}:{line}"
        return "default"


def display_key(loc: Sequence[str | int]) -> str:
    """``("models", "nlp/chat", "nice")`` -> ``[models."nlp/chat"] nice``; ``("alerts", "retries")`` ->
    ``[alerts] retries``; ``("port",)`` -> ``port``: as the key is written in verticals.toml."""
    parts = [str(part) for part in loc]
    if len(parts) >= 3 and parts[0] == "models":
        return f'[models."{parts[1]}"] ' + ".".join(parts[2:])
    if len(parts) >= 2:
        return f"[{parts[0]}] " + ".".join(parts[1:])
    return ".".join(parts)


def problems(
    error: ValidationError, origins: Origins, schema: type[BaseModel], prefix: Sequence[str] = ()
) -> list[str]:
    """One line per problem in ``error`` (raised validating ``schema``; ``prefix`` is where that schema's
    values sit in the settings, e.g. ``("models", "finance/fraud")``): where it came from, the key, the value,
    pydantic's reason and what is allowed; an unknown key gets the nearest known one as a suggestion."""
    lines = []
    for item in error.errors():
        loc = (*prefix, *(str(part) for part in item["loc"]))
        where = origins.of(loc)
        key = display_key(loc)
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}: {unknown_key(key, str(loc[-1]), known_keys(schema, item['loc']))}")
            continue
        found = field_at(schema, item["loc"])
        allowed = f"; allowed: {describe_allowed(found)}" if found is not None else ""
        lines.append(f"{where}: {key} = {item.get('input')!r}: {item['msg']}{allowed}")
    return lines


def unknown_key(key: str, name: str, known: Sequence[str]) -> str:
    """``KEY is not a setting; did you mean 'X'? the settings here are: ...``."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{key} is not a setting{hint} (the settings here are: {', '.join(sorted(known))})"


def known_keys(schema: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys allowed beside the last part of ``loc`` in ``schema``."""
    parent = _model_at(schema, loc[:-1])
    return list(parent.model_fields) if parent is not None else []


def field_at(schema: type[BaseModel], loc: Sequence[str | int]) -> FieldInfo | None:
    """The field a validation error's ``loc`` points into (``("models", "nlp/chat", "nice")`` -> the
    ``nice`` field of the per-model schema); None when ``loc`` leaves the schema's models."""
    model: type[BaseModel] | None = schema
    index = 0
    while model is not None and index < len(loc):
        found = model.model_fields.get(str(loc[index]))
        if found is None:
            return None
        index += 1
        inner = _model_in(found.annotation)
        if inner is None or index == len(loc):
            return found
        if typing.get_origin(found.annotation) is dict:
            index += 1  # the dict's key: the model name
        model = inner
    return None


def _model_at(schema: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    if not loc:
        return schema
    found = field_at(schema, loc)
    return _model_in(found.annotation) if found is not None else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model ``annotation`` holds, directly or as a dict's values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and len(args) == 2:
        return _model_in(args[1])
    return None


def describe_allowed(found: FieldInfo) -> str:
    """What a field accepts, in words: ``an integer from 1 to 65535``, ``a number greater than 0``, ``text
    starting with http:// or https://``, ``one of 'a', 'b'``; ``, or leave it out`` for an optional one."""
    annotation = found.annotation
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0] if len(members) == 1 else annotation
    words = _kind(annotation) + _bounds(found)
    return f"{words}, or leave it out" if optional else words


def _kind(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(annotation))
    if origin in (tuple, list):
        return "a list of " + _PLURALS.get(typing.get_args(annotation)[0], "values")
    if origin is dict:
        return "a table"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(repr(member.value) for member in annotation)
    return _KINDS.get(annotation, getattr(annotation, "__name__", str(annotation)))


_KINDS: dict[Any, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    Decimal: "a decimal number",
    str: "text",
    Path: "a path",
}
_PLURALS: dict[Any, str] = {
    int: "integers",
    float: "numbers",
    Decimal: "decimal numbers",
    str: "text",
    Path: "paths",
}


def _bounds(found: FieldInfo) -> str:
    limits: dict[str, Any] = {}
    for item in found.metadata:
        for name in ("ge", "gt", "le", "lt", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                limits[name] = value
    low, high = limits.get("ge"), limits.get("le")
    if low is not None and high is not None:
        return f" from {low} to {high}"
    words = []
    for name, phrase in (("ge", "at least"), ("gt", "greater than"), ("le", "at most"), ("lt", "less than")):
        if name in limits:
            words.append(f"{phrase} {limits[name]}")
    if "pattern" in limits:
        words.append(_PATTERNS.get(limits["pattern"], f"matching {limits['pattern']}"))
    return (" " + " and ".join(words)) if words else ""


#: Patterns the settings use, said in words.
_PATTERNS = {
    r"^https?://": "starting with http:// or https://",
    r"^(hf|pypi|file|builtin)://": "starting with hf://, pypi://, file:// or builtin://",
    r"^[0-9a-f]{64}$": "of 64 lowercase hex digits (a sha256)",
    r"^[A-Za-z0-9][A-Za-z0-9._+-]*$": "of letters, digits and . _ + - (starting with a letter or digit)",
}
