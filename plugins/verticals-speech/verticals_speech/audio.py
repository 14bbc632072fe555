"""The ``speech/audio`` adapter: any common audio file to 16 kHz mono float32 samples.

WAV, FLAC, OGG and MP3 decode through libsndfile (``soundfile``); anything else libsndfile refuses
(M4A, WebM, ...) gets a second try through FFmpeg (PyAV, which faster-whisper already needs).
Channels are averaged to mono and the rate is changed with a polyphase filter (scipy), the same
for every format, so one clip gives the same samples whichever container it came in.

The ``speech/audio`` adapter has two doors: ``read_audio`` reads request payloads (bytes, base64
text, a ``data:`` URL; a string is never a path) and ``read_audio_file`` reads a file the operator
names.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verticals.adapters import NOT_DATA_HINT, AdapterError

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16_000
MIN_SOURCE_RATE = 4_000
FORMATS = ("wav", "flac", "mp3", "ogg")
_SEND = "send a WAV, FLAC, MP3 or OGG file"
NOT_AUDIO = (
    f"the audio text is not base64 audio data; {NOT_DATA_HINT}: the file's bytes base64-encoded "
    "(a data:audio/wav;base64,... URL is fine) or uploaded as a file"
)


@dataclass(frozen=True, eq=False)  # eq would compare arrays element-wise, which has no truth value
class Audio:
    """Decoded speech: mono float32 samples in [-1, 1] at 16 kHz, as Whisper takes them."""

    samples: np.ndarray = field(repr=False)
    sample_rate: int = SAMPLE_RATE
    source_rate: int = SAMPLE_RATE
    source_channels: int = 1

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate

    def to_wav(self) -> bytes:
        """16-bit PCM WAV bytes, the form every transcription server accepts."""
        import soundfile

        buffer = io.BytesIO()
        soundfile.write(buffer, self.samples, self.sample_rate, format="WAV", subtype="PCM_16")
        return buffer.getvalue()


def read_audio(source: Any, *, max_seconds: float | None = None) -> list[Audio]:
    """``speech/audio``'s payload door: decode one audio file sent in a request to ``[Audio]``.

    ``source`` is the file's bytes (an upload), base64 text (optionally a ``data:audio/...;base64,``
    URL, as JSON clients send it) or an ``Audio`` (passed through). A string is never opened as a
    path: it arrives from a network client, and reading a local file it names would leak it.
    ``max_seconds`` defaults to ``max_audio_seconds`` in ``[models."speech/transcribe"]``.
    """
    if max_seconds is None:
        from verticals_speech.settings import speech_settings

        max_seconds = speech_settings().max_audio_seconds
    if isinstance(source, Audio):
        _check_length(source.seconds, max_seconds)
        return [source]
    data, label = _payload_bytes(source)
    return _read_bytes(data, label, max_seconds)


def read_audio_file(source: Any, *, max_seconds: float | None = None, **_: Any) -> list[Audio]:
    """``speech/audio``'s operator door: an audio file's path (str or Path) -> ``[Audio]``."""
    if not isinstance(source, str | Path):
        return read_audio(source, max_seconds=max_seconds)
    path = Path(source)
    if not path.is_file():
        raise AdapterError(f"no audio file at {path}; check the path")
    if max_seconds is None:
        from verticals_speech.settings import speech_settings

        max_seconds = speech_settings().max_audio_seconds
    return _read_bytes(path.read_bytes(), f"file {path.name}", max_seconds)


def _read_bytes(data: bytes, label: str, max_seconds: float) -> list[Audio]:
    if not data:
        raise AdapterError(f"the audio {label} is empty (0 bytes); {_SEND} that holds speech")
    samples, rate, channels = _decode(data, label, max_seconds)
    return [_finish(samples, rate, channels, label, max_seconds)]


def _payload_bytes(source: Any) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "upload"
    if isinstance(source, str):
        return _from_base64(source), "payload"
    raise AdapterError(
        f"cannot read audio from a {type(source).__name__}; send the file's bytes or base64-encoded audio"
    )


def _from_base64(text: str) -> bytes:
    payload = text.strip()
    if payload.startswith("data:"):
        header, _, payload = payload.partition(",")
        if not header.endswith(";base64"):
            raise AdapterError("the data: URL is not base64; send data:audio/wav;base64,<...>")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise AdapterError(NOT_AUDIO) from None


def _decode(data: bytes, label: str, max_seconds: float) -> tuple[np.ndarray, int, int]:
    """(samples as frames x channels float32, sample rate, channels)."""
    import soundfile

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as sound:
            # Refuse before decoding: the header knows the length, and a huge file would fill memory.
            if sound.frames > 0 and sound.samplerate > 0:
                _check_length(sound.frames / sound.samplerate, max_seconds)
            samples = sound.read(dtype="float32", always_2d=True)
            return samples, int(sound.samplerate), int(sound.channels)
    except soundfile.LibsndfileError as sndfile_error:
        # "Error opening <_io.BytesIO object at 0x...>: Format not recognised.": keep the reason only
        first_error = str(sndfile_error).rpartition(": ")[2]
    return _decode_ffmpeg(data, label, max_seconds, first_error)


def _decode_ffmpeg(
    data: bytes, label: str, max_seconds: float, first_error: str
) -> tuple[np.ndarray, int, int]:
    import av
    import numpy as np

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AdapterError(f"the {label} holds no audio stream; {_SEND}")
            stream = container.streams.audio[0]
            # Planar float keeps the source's rate and channels: mixing and resampling stay ours.
            resampler = av.AudioResampler(format="fltp")
            chunks: list[np.ndarray] = []
            rate, frames = 0, 0
            for packet_frame in container.decode(stream):
                for frame in resampler.resample(packet_frame):
                    array = frame.to_ndarray()
                    chunks.append(array)
                    rate = frame.sample_rate
                    frames += array.shape[1]
                    _check_length(frames / rate, max_seconds)
    except AdapterError:
        raise
    except (av.FFmpegError, ValueError, EOFError) as error:
        raise AdapterError(
            f"could not decode the audio {label}: the file is damaged or not an audio format "
            f"(libsndfile: {first_error}; ffmpeg: {error}); {_SEND}"
        ) from None
    if not chunks:
        raise AdapterError(f"the audio {label} holds no samples; {_SEND} that holds speech")
    samples = np.concatenate(chunks, axis=1).T.astype(np.float32, copy=False)
    return samples, rate, samples.shape[1]


def _finish(samples: np.ndarray, rate: int, channels: int, label: str, max_seconds: float) -> Audio:
    import numpy as np
    from scipy.signal import resample_poly

    if samples.shape[0] == 0:
        raise AdapterError(f"the audio {label} holds no samples; {_SEND} that holds speech")
    if rate < MIN_SOURCE_RATE:
        raise AdapterError(
            f"the audio {label} is sampled at {rate} Hz, too low for speech; record at 8 kHz or more"
        )
    if not np.isfinite(samples).all():
        raise AdapterError(f"the audio {label} holds NaN or infinite samples; the file is damaged, {_SEND}")
    _check_length(samples.shape[0] / rate, max_seconds)
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if rate != SAMPLE_RATE:
        divisor = math.gcd(SAMPLE_RATE, rate)
        mono = resample_poly(mono, SAMPLE_RATE // divisor, rate // divisor)
    mono = np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False)
    return Audio(samples=mono, sample_rate=SAMPLE_RATE, source_rate=rate, source_channels=channels)


def _check_length(seconds: float, max_seconds: float) -> None:
    if seconds > max_seconds:
        raise AdapterError(
            f"the audio lasts {seconds:.1f} s, more than the {max_seconds:g} s allowed; split it into "
            f'shorter files (the operator sets the limit: max_audio_seconds in [models."speech/transcribe"])'
        )
