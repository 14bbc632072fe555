"""Fixtures for the speech plugin's tests: the real Whisper model, espeak-ng speech and a test server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
SERVER_PORT = 18401
SERVER_KEY = "test-upstream-key"


def write_config(path: Path, table: dict[str, Any]) -> Path:
    """A verticals.toml holding only ``[models."speech/transcribe"]``."""
    lines = ['[models."speech/transcribe"]']
    for key, value in table.items():
        lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def speech_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``speech_config(url=..., ...)`` points VERTICALS_CONFIG at a fresh verticals.toml with that table."""

    def configure(**table: Any) -> Path:
        path = write_config(tmp_path / "verticals.toml", table)
        monkeypatch.setenv("VERTICALS_CONFIG", str(path))
        return path

    return configure


@pytest.fixture(autouse=True)
def _no_stray_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # A verticals.toml in the working directory must not steer these tests (a url would send them remote).
    monkeypatch.setenv("VERTICALS_CONFIG", str(tmp_path_factory.getbasetemp() / "absent-verticals.toml"))


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """The suite's shared model cache inside the clone, as in the repository's tests/conftest.py."""
    path = Path(os.environ.get("VERTICALS_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def whisper_dir(model_cache: Path) -> Path:
    """Whisper tiny.en pulled through the model store from the plugin's own spec (sha256 checked)."""
    from verticals_speech import register_models

    from verticals.store import ModelStore

    specs: list[Any] = []
    register_models(register=specs.append)
    return ModelStore(model_cache).pull(specs[0])


@pytest.fixture(scope="session")
def predictor(whisper_dir: Path) -> Any:
    from verticals_speech.predictor import WhisperPredictor

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_CONFIG", str(whisper_dir / "no-such-verticals.toml"))
        loaded = WhisperPredictor()
        loaded.load(whisper_dir)
    return loaded


@pytest.fixture(scope="session")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A few sentences spoken by espeak-ng, as WAV bytes keyed by their text."""
    from verticals_speech.wer import WORD_GAP

    out = tmp_path_factory.mktemp("spoken")
    sentences = {
        "Remember to lock the door when you leave.": "en-us",
        "The river flows slowly through the old town.": "en-us+f3",
        "We need more chairs for the conference room.": "en-gb-x-rp",
    }
    clips = {}
    for index, (text, voice) in enumerate(sentences.items()):
        wav = out / f"{index}.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "150", "-g", str(WORD_GAP), "-w", str(wav), text], check=True
        )
        clips[text] = wav.read_bytes()
    return clips


@pytest.fixture(scope="session")
def whisper_server_key() -> str:
    return SERVER_KEY


@pytest.fixture(scope="session")
def whisper_server(whisper_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An OpenAI-compatible transcription server (faster-whisper behind it) in its own process."""
    import httpx

    log = tmp_path_factory.mktemp("server") / "server.log"
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", SERVER_PORT)) == 0:
            pytest.fail(f"port {SERVER_PORT} is taken; the speech tests need it free for their test server")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "speech_whisper_api.py"), str(whisper_dir), str(SERVER_PORT),
             "--api-key", SERVER_KEY],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{SERVER_PORT}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"the test transcription server exited: {log.read_text()[-2000:]}")
            try:
                if (
                    httpx.get(f"{base}/models", headers={"Authorization": f"Bearer {SERVER_KEY}"}).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the test transcription server did not start in 90 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
