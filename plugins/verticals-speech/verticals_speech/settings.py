"""The speech plugin's settings: the ``[models."speech/transcribe"]`` table of verticals.toml.

Every key is optional::

    [models."speech/transcribe"]
    url = "http://gpu-host:8000/v1"      # an OpenAI-compatible server (vLLM with a Whisper model)
    served_model_name = "whisper"        # its model name; asked from GET {url}/models when left out
    api_key_env = "VLLM_API_KEY"         # environment variable holding that server's key, if it needs one
    timeout_s = 300                      # per request to that server
    device = "cpu"                       # faster-whisper: cpu, cuda or auto
    compute_type = "int8"                # faster-whisper: int8, float32, float16, int8_float16, ...
    cpu_threads = 0                      # 0: CTranslate2 picks
    beam_size = 5
    decode_batch_size = 1                # clips per encoder pass; default 1 on cpu, 16 elsewhere
    max_audio_seconds = 600              # longer uploads are refused by the speech/audio adapter

These keys are the model's ``ModelSpec.settings`` schema, so ``verticals serve`` and ``verticals config
check`` refuse a bad value up front. Other keys of the table (``source``, ``sha256``, ``version``) belong
to the core (``verticals.model_settings.ModelSettings``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from verticals.config import ConfigError, load_settings
from verticals_speech.names import MODEL_NAME

DEFAULT_MAX_AUDIO_SECONDS = 600.0


class SpeechSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str | None = Field(None, pattern=r"^https?://")
    served_model_name: str | None = None
    api_key_env: str | None = None
    timeout_s: float = Field(300.0, gt=0)
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(0, ge=0)
    beam_size: int = Field(5, ge=1, le=20)
    decode_batch_size: int | None = Field(None, ge=1, le=256)
    max_audio_seconds: float = Field(DEFAULT_MAX_AUDIO_SECONDS, gt=0)


class SpeechConfigError(ConfigError):
    """A bad value in ``[models."speech/transcribe"]``; the message names the key and the fix."""


def speech_settings() -> SpeechSettings:
    """Read the table now, so an edited verticals.toml takes effect on the next load or request.

    Raises SpeechConfigError naming the file and line, the key, the value and what is allowed.
    """
    try:
        return load_settings().model_settings(MODEL_NAME, SpeechSettings)
    except ConfigError as error:
        raise SpeechConfigError(
            f"{error}\nfix or remove the key (the keys are documented in the speech plugin's README)"
        ) from None
