"""Whisper behind an OpenAI-compatible ``/audio/transcriptions`` endpoint (vLLM with a Whisper model).

Set ``url`` in ``[models."speech/transcribe"]`` and the predictor sends each clip there instead of
running faster-whisper itself: a GPU box running ``vllm serve openai/whisper-large-v3`` then serves
every customer of the gateway, which still decodes, validates and meters the audio.
The clips of one batch are sent concurrently, so the server's own batching sees them together.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from verticals.config import ConfigError
from verticals_speech.audio import Audio
from verticals_speech.names import CONFIG_TABLE as _TABLE
from verticals_speech.settings import SpeechSettings

MAX_CONCURRENT = 16


class TranscriptionServerError(ConfigError):
    """The configured transcription server could not be reached or refused a request.

    A ``ConfigError``: the fix lies in ``url`` and its neighbours or in the server they name, and
    the CLI shows such errors as a one-line message rather than a traceback.
    """


class RemoteWhisper:
    def __init__(self, settings: SpeechSettings) -> None:
        import httpx

        assert settings.url is not None  # the predictor picks this engine only when a url is set
        self.base_url = settings.url.rstrip("/")
        headers = {}
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise TranscriptionServerError(
                    f"{_TABLE} api_key_env = {settings.api_key_env!r}, but that environment variable "
                    "is not set; export it with the transcription server's key, or remove api_key_env"
                )
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=settings.timeout_s)
        self.model = settings.served_model_name or self._only_model()

    def _only_model(self) -> str:
        """The server's one model, so a plain ``url`` is enough to configure it."""
        body = self._call("GET", "/models")
        names = [str(item.get("id")) for item in body.get("data", []) if isinstance(item, dict)]
        if len(names) != 1:
            raise TranscriptionServerError(
                f"the transcription server at {self.base_url} serves {len(names)} models ({names}); "
                f"set served_model_name in {_TABLE} to the Whisper model's name"
            )
        return names[0]

    def transcribe(self, batch: Sequence[Audio]) -> list[str]:
        if len(batch) == 1:
            return [self._one(batch[0])]
        with ThreadPoolExecutor(min(MAX_CONCURRENT, len(batch))) as pool:
            return list(pool.map(self._one, batch))

    def _one(self, audio: Audio) -> str:
        body = self._call(
            "POST",
            "/audio/transcriptions",
            files={"file": ("audio.wav", audio.to_wav(), "audio/wav")},
            data={"model": self.model, "language": "en", "response_format": "json", "temperature": "0"},
        )
        if not isinstance(body.get("text"), str):
            raise TranscriptionServerError(
                f"the transcription server at {self.base_url} answered without a text field: {body!r:.300}"
            )
        return str(body["text"]).strip()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise TranscriptionServerError(
                f"could not reach the transcription server at {self.base_url}{path} "
                f"({type(error).__name__}: {error}); start it, or fix or remove url in {_TABLE}"
            ) from None
        if response.status_code != 200:
            raise TranscriptionServerError(
                f"the transcription server at {self.base_url}{path} answered {response.status_code}: "
                f"{response.text[:300]}"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TranscriptionServerError(
                f"the transcription server at {self.base_url}{path} did not answer a JSON object: "
                f"{response.text[:300]!r}; is url pointing at an OpenAI-compatible API (ending in /v1)?"
            )
        return body

    def close(self) -> None:
        self.client.close()
