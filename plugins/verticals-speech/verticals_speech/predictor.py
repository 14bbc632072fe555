"""The ``speech/transcribe`` predictor: decoded audio in, ``{"text", "duration"}`` out, metered in seconds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from verticals.models import Predictor
from verticals_speech.audio import Audio, read_audio
from verticals_speech.names import MODEL_NAME


class Engine(Protocol):
    def transcribe(self, batch: Sequence[Audio]) -> list[str]: ...


class WhisperPredictor(Predictor):
    """faster-whisper in process, or the OpenAI-compatible server named by ``url`` in the config."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.backend = "unloaded"

    def load(self, model_dir: Path | None) -> None:
        from verticals_speech.settings import speech_settings

        settings = speech_settings()
        if settings.url:
            from verticals_speech.remote import RemoteWhisper

            self.engine = RemoteWhisper(settings)
            self.backend = f"remote {settings.url}"
            return
        if model_dir is None:
            raise FileNotFoundError(
                f"{MODEL_NAME} needs its model files; run `verticals models pull {MODEL_NAME}`"
            )
        from verticals_speech.local import LocalWhisper

        self.engine = LocalWhisper(model_dir, settings)
        self.backend = f"faster-whisper {settings.device} {settings.compute_type}"

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        if self.engine is None:
            raise RuntimeError(f"{MODEL_NAME}: call load(model_dir) before predict")
        audios = [as_audio(item) for item in batch]
        texts = self.engine.transcribe(audios)
        return [
            {"text": text, "duration": round(audio.seconds, 3)}
            for text, audio in zip(texts, audios, strict=True)
        ]

    def units(self, item: Any) -> float:
        """Audio seconds, the unit speech is priced in."""
        return as_audio(item).seconds


def as_audio(item: Any) -> Audio:
    """The adapter's output as is; raw bytes or a Path (callers that skip the adapter) decoded now."""
    return item if isinstance(item, Audio) else read_audio(item)[0]
