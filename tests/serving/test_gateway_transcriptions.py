"""/v1/audio/transcriptions with the speech plugin: real speech from espeak-ng, a multipart upload."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest


@pytest.fixture(scope="module")
def speech_gateway(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, launch_gateway: Callable[..., Any]
) -> Iterator[Any]:
    from verticals.registry import Registry

    registry = Registry.load()
    if "speech/transcribe" not in registry.models:
        pytest.skip("the verticals-speech plugin is not installed")
    server, running = launch_gateway(
        tmp_path_factory.mktemp("speech-home"),
        18205,
        models=("speech/transcribe",),
        registry=registry,
        settings_overrides={"model_cache": model_cache},
    )
    yield running
    server.stop()
    running.ledger.close()


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)
def test_openai_sdk_transcribes_an_upload_metered_in_audio_seconds(
    speech_gateway: Any, tmp_path: Path
) -> None:
    wav = tmp_path / "hello.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "the weather is nice today"], check=True)
    sdk = openai.OpenAI(
        base_url=speech_gateway.url + "/v1",
        api_key=speech_gateway.customer("listener"),
        max_retries=0,
        timeout=300,
    )
    with wav.open("rb") as audio:
        raw = sdk.audio.transcriptions.with_raw_response.create(model="speech/transcribe", file=audio)
    text = raw.parse().text.lower()
    assert "weather" in text and "nice" in text
    [event] = speech_gateway.events(request_id=raw.headers["x-request-id"])
    assert event["unit"] == "audio-seconds" and 1.0 < event["units_in"] < 5.0
    with pytest.raises(openai.BadRequestError):
        sdk.audio.transcriptions.create(model="speech/transcribe", file=("junk.wav", b"not audio at all"))
