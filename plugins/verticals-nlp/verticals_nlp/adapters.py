"""Readers for text tables (CSV, JSONL, Parquet) and chat transcripts (JSONL of OpenAI-style messages).

Each adapter has two doors. The payload doors (``read_text_table_payload``,
``read_chat_transcripts_payload``) read what a request carries: a decoded JSON list, an upload's
bytes, or JSON Lines text; a string is never a path. The operator doors (``read_text_table``,
``read_chat_transcripts``) also read a file the operator names. All raise ``AdapterError`` with the
row or line at fault and what to change.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from verticals.adapters import NOT_DATA_HINT, AdapterError

ROLES = ("system", "user", "assistant", "tool")
TABLE_FORMATS = ("csv", "jsonl", "parquet")
NOT_JSON_LINES = (
    f"the payload text is not JSON Lines; {NOT_DATA_HINT}: a JSON list, one JSON value per line, or the "
    "bytes of an uploaded file"
)


def read_text_table(
    source: Any, text_column: str = "text", format: str | None = None
) -> list[dict[str, Any]]:
    """Operator door: rows of a table file (a path), or of any payload ``read_text_table_payload`` takes."""
    if isinstance(source, str | Path):
        data, fmt, where = _load_file(Path(source), format, TABLE_FORMATS)
        return _check_rows(_parse_table(data, fmt, where), text_column, where)
    return read_text_table_payload(source, text_column, format)


def read_text_table_payload(
    payload: Any, text_column: str = "text", format: str | None = None
) -> list[dict[str, Any]]:
    """Payload door: rows of a JSON list (strings are rows' texts), an upload's bytes or JSON Lines text.

    Each row has a non-empty string in ``text_column``; other columns are kept.
    """
    if isinstance(payload, list):
        rows: list[Any] = [{text_column: item} if isinstance(item, str) else item for item in payload]
        return _check_rows(rows, text_column, "payload")
    data, fmt, where = _load_payload(payload, format, TABLE_FORMATS)
    return _check_rows(_parse_table(data, fmt, where), text_column, where)


def _check_rows(rows: list[Any], text_column: str, where: str) -> list[dict[str, Any]]:
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
    """Operator door: conversations from a JSONL file (a path), or from any payload."""
    if isinstance(source, str | Path):
        data, _, where = _load_file(Path(source), "jsonl", ("jsonl",))
        return _conversations(_parse_jsonl(data, where), where)
    return read_chat_transcripts_payload(source)


def read_chat_transcripts_payload(payload: Any) -> list[dict[str, Any]]:
    """Payload door: conversations, each ``{"messages": [...], ...other keys}``, roles and contents checked.

    ``payload`` is a JSON list of conversations, or JSONL bytes or text.
    """
    if isinstance(payload, list):
        return _conversations(payload, "payload")
    data, _, where = _load_payload(payload, "jsonl", ("jsonl",))
    return _conversations(_parse_jsonl(data, where), where)


def _conversations(items: list[Any], where: str) -> list[dict[str, Any]]:
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


def _load_payload(payload: Any, format: str | None, allowed: tuple[str, ...]) -> tuple[bytes, str, str]:
    """(bytes, format, where) of an upload's bytes, or of JSON Lines text; never a path."""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload), _check_format(format or allowed[0], allowed, "upload"), "upload"
    if isinstance(payload, str):
        if "jsonl" not in allowed or not _is_json_lines(payload):
            raise AdapterError(NOT_JSON_LINES)
        return payload.encode(), "jsonl", "payload"
    raise AdapterError(f"expected a JSON list, bytes or JSON Lines text, got {type(payload).__name__}")


def _is_json_lines(text: str) -> bool:
    try:
        for line in text.splitlines():
            if line.strip():
                json.loads(line)
    except ValueError:
        return False
    return bool(text.strip())


def _load_file(path: Path, format: str | None, allowed: tuple[str, ...]) -> tuple[bytes, str, str]:
    """(bytes, format, where) of the operator's file at ``path``."""
    fmt = _check_format(format or path.suffix.lstrip(".").lower(), allowed, str(path))
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AdapterError(f"cannot read {path}: {error.strerror}; check the path") from None
    return data, fmt, str(path)


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
