"""Text tables and chat transcripts: what they read and the errors they give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from verticals_nlp.adapters import read_chat_transcripts, read_text_table

from verticals.adapters import AdapterError


def test_csv_jsonl_and_parquet_read_the_same_rows(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"body": "I was charged twice", "queue": "billing"}, {"body": "App crashes", "queue": "tech"}]
    (tmp_path / "t.csv").write_text("body,queue\nI was charged twice,billing\nApp crashes,tech\n")
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    for name in ("t.csv", "t.jsonl", "t.parquet"):
        assert read_text_table(tmp_path / name, text_column="body") == rows
    assert (
        read_text_table((tmp_path / "t.parquet").read_bytes(), text_column="body", format="parquet") == rows
    )
    assert read_text_table(["hello", "world"]) == [{"text": "hello"}, {"text": "world"}]


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("body\nhello\n", {}, r"row 1 has no 'text' column \(columns: \['body'\]\); rename"),
        ('text\nhello\n""\n', {}, "row 2: 'text' must be non-empty text"),
        ("text\n", {}, "holds no rows"),
    ],
)
def test_table_errors_name_the_row_and_fix(tmp_path: Path, content: str, kwargs: dict, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(AdapterError, match=message):
        read_text_table(path, **kwargs)


def test_table_format_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="format 'xlsx' is not supported; use one of csv, jsonl, parquet"):
        read_text_table(tmp_path / "t.xlsx")
    with pytest.raises(AdapterError, match=r"cannot read .*check the path"):
        read_text_table(tmp_path / "missing.csv")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(AdapterError, match="line 2 is not JSON"):
        read_text_table(tmp_path / "bad.jsonl")
    with pytest.raises(AdapterError, match="not a Parquet file"):
        read_text_table(b"not parquet", format="parquet")


def test_transcripts_accept_objects_lists_and_text_parts(tmp_path: Path) -> None:
    lines = [
        {
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "id": 1,
        },
        [
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
            {"role": "assistant", "content": "Hi!"},
        ],
    ]
    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    records = read_chat_transcripts(path)
    assert records[0]["id"] == 1 and records[0]["messages"][1]["content"] == "Hi"
    assert records[1] == {"messages": lines[1]}


@pytest.mark.parametrize(
    ("conversation", "message"),
    [
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            r"line 1 message 0: role 'robot' is not one of system",
        ),
        ({"messages": [{"role": "user", "content": "  "}]}, "content is empty"),
        ({"messages": [{"role": "user", "content": 7}]}, "content must be a string or a list of text parts"),
        ({"messages": [{"role": "user", "content": [{"type": "image"}]}]}, "content parts must be"),
        ({"messages": [{"role": "system", "content": "x"}]}, "has no user message"),
        ({"messages": []}, "has no messages"),
        ({"prompt": "hi"}, r'expected \{"messages": \[...\]\}'),
    ],
)
def test_transcript_errors(conversation: object, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        read_chat_transcripts([conversation])


def test_shipped_data_sets_read_cleanly() -> None:
    from verticals_nlp import DATA

    assert len(read_chat_transcripts(DATA / "qa.jsonl")) == 40
    assert len(read_text_table(DATA / "sentence_pairs.csv")) == 60
    tickets = read_text_table(DATA / "tickets.csv")
    assert len(tickets) == 100
    assert {t["label"] for t in tickets} == {
        "billing",
        "account access",
        "shipping",
        "technical problem",
        "cancellation",
    }
