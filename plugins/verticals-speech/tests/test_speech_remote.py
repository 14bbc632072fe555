"""speech/transcribe pointed at an OpenAI-compatible transcription server by ``url`` in verticals.toml.

The server (speech_whisper_api.py, its own process) plays vLLM serving a Whisper model: the same
two calls vLLM answers, real transcriptions behind them.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from verticals_speech.audio import Audio, read_audio
from verticals_speech.predictor import WhisperPredictor
from verticals_speech.remote import TranscriptionServerError
from verticals_speech.wer import error_rates

pytestmark = pytest.mark.slow
UNUSED_PORT = 18499


def served(base: str) -> int:
    return int(httpx.get(base.removesuffix("/v1") + "/stats").json()["requests"])


def test_a_configured_url_sends_every_clip_to_that_server(
    whisper_server: str,
    whisper_server_key: str,
    speech_config: Any,
    spoken: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", whisper_server_key)
    speech_config(url=whisper_server, api_key_env="UPSTREAM_KEY")
    predictor = WhisperPredictor()
    predictor.load(None)  # no local files needed: the server holds the model
    assert predictor.backend == f"remote {whisper_server}"
    texts = list(spoken)
    before = served(whisper_server)
    outputs = predictor.predict([read_audio(spoken[t])[0] for t in texts])
    assert served(whisper_server) - before == len(texts)
    for text, output in zip(texts, outputs, strict=True):
        assert error_rates([text], [output["text"]])["wer"] <= 0.25, output
        assert output["duration"] == pytest.approx(read_audio(spoken[text])[0].seconds, abs=0.001)


def test_a_wrong_key_or_model_name_is_reported(
    whisper_server: str, whisper_server_key: str, speech_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "wrong")
    speech_config(url=whisper_server, api_key_env="UPSTREAM_KEY")
    with pytest.raises(TranscriptionServerError, match=r"/models answered 401"):
        WhisperPredictor().load(None)
    monkeypatch.delenv("UPSTREAM_KEY")
    with pytest.raises(TranscriptionServerError, match=r"api_key_env = 'UPSTREAM_KEY'.*not set"):
        WhisperPredictor().load(None)
    monkeypatch.setenv("UPSTREAM_KEY", whisper_server_key)
    speech_config(url=whisper_server, api_key_env="UPSTREAM_KEY", served_model_name="whisper-large-v3")
    predictor = WhisperPredictor()
    predictor.load(None)
    with pytest.raises(TranscriptionServerError, match=r"answered 404: .*whisper-large-v3"):
        predictor.predict([Audio(samples=np.zeros(16_000, np.float32))])


def test_an_unreachable_server_says_how_to_fix_it(speech_config: Any) -> None:
    speech_config(url=f"http://127.0.0.1:{UNUSED_PORT}/v1", timeout_s=5)
    with pytest.raises(
        TranscriptionServerError, match=r"could not reach .*:18499/v1/models.*fix or remove url"
    ):
        WhisperPredictor().load(None)


def test_a_bad_url_in_the_config_is_named(speech_config: Any) -> None:
    from verticals_speech.settings import SpeechConfigError

    speech_config(url="gpu-host:8000")
    with pytest.raises(SpeechConfigError, match=r'\[models."speech/transcribe"\].*url = .gpu-host:8000.'):
        WhisperPredictor().load(None)
