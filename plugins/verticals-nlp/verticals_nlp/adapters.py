"""Readers for text tables (CSV, JSONL, Parquet) and chat transcripts (JSONL of OpenAI-style messages).

Each takes a path, raw bytes or an already decoded JSON value, and raises ``AdapterError`` with the
row or line at fault and what to change.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError

ROLES = ("system", "user", "assistant", "tool")
TABLE_FORMATS = ("csv", "jsonl", "parquet")


def read_text_table(
    source: Any, text_column: str = "text", format: str | None = None
) -> list[dict[str, Any]]:
    """Rows of a table, each with a non-empty string in ``text_column``; other columns are kept."""
    if isinstance(source, list):
        rows: list[Any] = [{text_column: item} if isinstance(item, str) else item for item in source]
        where = "payload"
    else:
        data, fmt, where = _load(source, format, TABLE_FORMATS)
        rows = _parse_table(data, fmt, where)
    if not rows:
        raise AdapterError(f"{where} holds no rows; give at least one row with a {text_column!r} column")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise AdapterError(f"{where} row {number} is {type(row).__name__}, expected an object of columns")
        if text_column not in row:
            raise AdapterError(
                f"{where} row {number} has no {text_column!r} column (columns: {sorted(row)}); "
                f"rename the text column to {text_column!r} or pass text_column=<its name>"
            )
        value = row[text_column]
        if not isinstance(value, str) or not value.strip():
            raise AdapterError(f"{where} row {number}: {text_column!r} must be non-empty text, got {value!r}")
    return rows


def read_chat_transcripts(source: Any) -> list[dict[str, Any]]:
    """Conversations, each ``{"messages": [...], ...other keys}``, with roles and contents checked."""
    if isinstance(source, list):
        items, where = source, "payload"
    else:
        data, _, where = _load(source, "jsonl", ("jsonl",))
        items = _parse_jsonl(data, where)
    if not items:
        raise AdapterError(f"{where} holds no conversations; give one JSON object per line")
    return [_conversation(item, f"{where} line {number}") for number, item in enumerate(items, start=1)]


def _conversation(item: Any, where: str) -> dict[str, Any]:
    record = {"messages": item} if isinstance(item, list) else item
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise AdapterError(f'{where}: expected {{"messages": [...]}} or a list of messages, got {item!r:.80}')
    messages = record["messages"]
    if not messages:
        raise AdapterError(f"{where}: the conversation has no messages")
    for index, message in enumerate(messages):
        at = f"{where} message {index}"
        if not isinstance(message, dict):
            raise AdapterError(f'{at}: expected {{"role": ..., "content": ...}}, got {message!r:.80}')
        role = message.get("role")
        if role not in ROLES:
            raise AdapterError(f"{at}: role {role!r} is not one of {', '.join(ROLES)}")
        _check_content(message.get("content"), at)
    if not any(m["role"] == "user" for m in messages):
        raise AdapterError(f"{where}: the conversation has no user message; add one with role 'user'")
    return record


def _check_content(content: Any, at: str) -> None:
    if isinstance(content, str):
        if not content.strip():
            raise AdapterError(f"{at}: content is empty; give the message's text")
        return
    if isinstance(content, list) and content:
        for part in content:
            if not (
                isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            ):
                raise AdapterError(
                    f'{at}: content parts must be {{"type": "text", "text": "..."}}, got {part!r:.80}'
                )
        return
    raise AdapterError(f"{at}: content must be a string or a list of text parts, got {content!r:.80}")


def _load(source: Any, format: str | None, allowed: tuple[str, ...]) -> tuple[bytes, str, str]:
    if isinstance(source, bytes | bytearray):
        fmt, where = format or allowed[0], "upload"
        data = bytes(source)
    elif isinstance(source, str | Path):
        path = Path(source)
        fmt = _check_format(format or path.suffix.lstrip(".").lower(), allowed, str(path))
        where = str(path)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise AdapterError(f"cannot read {path}: {error.strerror}; check the path") from None
    else:
        raise AdapterError(f"expected a file path, bytes or a JSON list, got {type(source).__name__}")
    return data, _check_format(fmt, allowed, where), where


def _check_format(fmt: str, allowed: tuple[str, ...], where: str) -> str:
    if fmt == "json" and "jsonl" in allowed:
        fmt = "jsonl"
    if fmt not in allowed:
        raise AdapterError(f"{where}: format {fmt!r} is not supported; use one of {', '.join(allowed)}")
    return fmt


def _parse_table(data: bytes, fmt: str, where: str) -> list[Any]:
    if fmt == "jsonl":
        return _parse_jsonl(data, where)
    if fmt == "csv":
        try:
            return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error) as error:
            raise AdapterError(
                f"{where} is not UTF-8 CSV: {error}; save it as UTF-8 CSV with a header row"
            ) from None
    import pyarrow as pa  # only for Parquet
    import pyarrow.parquet as pq

    try:
        return list(pq.read_table(pa.BufferReader(data)).to_pylist())
    except (pa.ArrowInvalid, OSError) as error:
        raise AdapterError(f"{where} is not a Parquet file: {error}") from None


def _parse_jsonl(data: bytes, where: str) -> list[Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AdapterError(f"{where} is not UTF-8 text; save it as UTF-8 JSON Lines") from None
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise AdapterError(
                f"{where} line {number} is not JSON ({error.msg}); write one JSON value per line"
            ) from None
    return items
