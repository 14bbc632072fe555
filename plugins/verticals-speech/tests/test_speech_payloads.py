"""The audio adapter's payload door reads the request only: a string is base64 audio, never a path."""

from __future__ import annotations

import base64
import wave
from pathlib import Path

import pytest
import verticals_speech
from verticals_speech.audio import NOT_AUDIO, read_audio, read_audio_file

from verticals.adapters import AdapterError
from verticals.testing import payload_reader_test

test_payload_readers_read_only_the_payload = payload_reader_test(verticals_speech)


def test_a_recording_named_by_its_path_is_refused_as_if_it_did_not_exist(tmp_path: Path) -> None:
    with wave.open(str(tmp_path / "clip.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\x10\x00\xf0\xff" * 4_000)
    for payload in (
        str(tmp_path / "clip.wav"),
        str(tmp_path / "gone.wav"),
        f"file://{tmp_path / 'clip.wav'}",
    ):
        with pytest.raises(AdapterError) as refused:
            read_audio(payload, max_seconds=60)
        assert str(refused.value) == NOT_AUDIO, payload
    data = (tmp_path / "clip.wav").read_bytes()
    [sent] = read_audio(base64.b64encode(data).decode(), max_seconds=60)
    [named] = read_audio_file(tmp_path / "clip.wav", max_seconds=60)
    assert sent.seconds == named.seconds == pytest.approx(0.5)


def test_the_sentence_adapter_reads_operator_files_only(make_registry) -> None:  # type: ignore[no-untyped-def]
    registry = make_registry(verticals_speech, defaults=False)
    assert registry.adapter("speech/espeak-sentences").read_payload is None
    assert registry.adapter("speech/audio").read_payload is read_audio
