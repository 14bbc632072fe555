"""speech/transcribe through the running gateway, as a customer sees it: the openai SDK's
``audio.transcriptions.create`` with a key, metered in audio seconds. Port 18410 is these tests'."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from verticals_speech.audio import read_audio
from verticals_speech.wer import error_rates

pytestmark = pytest.mark.slow
PORT = 18410
ADMIN = "vadm_speech_plugin_tests"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, model_cache: Path, whisper_dir: Path) -> Iterator[Any]:
    import uvicorn

    from verticals.config import load_settings
    from verticals.ledger import Ledger
    from verticals.plugins import get_plugin_manager
    from verticals.registry import Registry
    from verticals.serving.app import create_app
    from verticals.serving.gateway import ServingOptions

    home = tmp_path_factory.mktemp("speech-gateway-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_LOAD_PLUGINS", "speech")
        patch.setenv("VERTICALS_CONFIG", str(home / "none.toml"))
        registry = Registry.load(get_plugin_manager())
        settings = load_settings(home=home, model_cache=model_cache)
    ledger = Ledger.open(home, fsync_ms=5)
    app = create_app(
        settings,
        registry,
        ledger,
        admin_token=ADMIN,
        options=ServingOptions(models=("speech/transcribe",), log_requests=False),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=PORT, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{PORT}"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert (
        httpx.post(f"{url}/admin/customers", json={"name": "acme", "plan": "pro"}, headers=admin).status_code
        == 201
    )
    key = httpx.post(f"{url}/admin/keys", json={"customer": "acme"}, headers=admin).json()["key"]
    yield url, key, ledger
    server.should_exit = True
    thread.join(timeout=60)
    ledger.close()


def test_the_openai_sdk_transcribes_a_wav_and_it_is_metered_in_audio_seconds(
    gateway: Any, spoken: dict[str, bytes]
) -> None:
    import openai

    url, key, ledger = gateway
    text, wav = next(iter(spoken.items()))
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="speech/transcribe", file=("clip.wav", wav, "audio/wav")
    )
    result = raw.parse()
    assert error_rates([text], [result.text])["wer"] <= 0.25, result.text
    seconds = read_audio(wav)[0].seconds
    assert Decimal(raw.headers["x-verticals-cost-usd"]) == pytest.approx(
        Decimal("0.0001") * Decimal(seconds), rel=Decimal("0.01")
    )
    ledger.flush()
    row = (
        ledger.connection.cursor()
        .execute(
            "SELECT unit, units_in, status, model FROM usage_events WHERE request_id = ?",
            [raw.headers["x-request-id"]],
        )
        .fetchone()
    )
    assert row is not None
    assert (row[0], row[2], row[3]) == ("audio-seconds", 200, "speech/transcribe")
    assert float(row[1]) == pytest.approx(seconds, abs=0.01)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"definitely not audio", "could not decode the audio upload"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "could not decode the audio upload"),
    ],
)
def test_a_bad_upload_is_a_400_naming_the_problem(gateway: Any, payload: bytes, message: str) -> None:
    url, key, _ = gateway
    response = httpx.post(
        f"{url}/v1/audio/transcriptions",
        headers={"Authorization": f"Bearer {key}"},
        data={"model": "speech/transcribe"},
        files={"file": ("clip.wav", payload, "audio/wav")},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
