"""The text adapters' payload doors read the request only: a string is JSON Lines, never a path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import verticals_nlp
from verticals_nlp.adapters import (
    NOT_JSON_LINES,
    read_chat_transcripts,
    read_chat_transcripts_payload,
    read_text_table,
    read_text_table_payload,
)

from verticals.adapters import AdapterError
from verticals.testing import payload_reader_test

test_payload_readers_read_only_the_payload = payload_reader_test(verticals_nlp)


def test_a_file_named_by_its_path_is_refused_as_if_it_did_not_exist(tmp_path: Path) -> None:
    chat = {"messages": [{"role": "user", "content": "SECRET question"}]}
    (tmp_path / "chats.jsonl").write_text(json.dumps(chat) + "\n")
    (tmp_path / "t.csv").write_text("text\nSECRET row\n")
    for reader in (read_text_table_payload, read_chat_transcripts_payload):
        for payload in (str(tmp_path / "chats.jsonl"), str(tmp_path / "t.csv"), str(tmp_path / "gone.csv")):
            with pytest.raises(AdapterError) as refused:
                reader(payload)
            assert str(refused.value) == NOT_JSON_LINES, (reader, payload)
    # the same data sent in the request, or named by the operator, is read
    assert read_chat_transcripts_payload(json.dumps(chat)) == read_chat_transcripts(tmp_path / "chats.jsonl")
    assert read_text_table_payload((tmp_path / "t.csv").read_bytes()) == read_text_table(tmp_path / "t.csv")
