"""The speech/audio adapter on real encoded audio: formats, mixing, resampling and refusals."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from verticals_speech.audio import NOT_AUDIO, SAMPLE_RATE, Audio, read_audio, read_audio_file
from verticals_speech.settings import SpeechConfigError

from verticals.adapters import AdapterError


def encode(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def tone(frequency: float, seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * frequency * t)
    return np.stack([wave] * channels, axis=1).astype(np.float32)


def peak_frequency(audio: Audio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples))
    return float(np.fft.rfftfreq(len(audio.samples), 1 / audio.sample_rate)[spectrum.argmax()])


@pytest.mark.parametrize(
    ("fmt", "subtype", "tolerance_s"),
    [
        ("WAV", "PCM_16", 0.001),
        ("FLAC", None, 0.001),
        ("OGG", "VORBIS", 0.01),
        ("MP3", "MPEG_LAYER_III", 0.08),
    ],
)
def test_stereo_44k_files_become_16k_mono_with_pitch_kept(
    fmt: str, subtype: str | None, tolerance_s: float
) -> None:
    data = encode(tone(440, 1.5, 44_100, channels=2), 44_100, fmt, subtype)
    [audio] = read_audio(data, max_seconds=60)
    assert audio.sample_rate == SAMPLE_RATE and audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert (audio.source_rate, audio.source_channels) == (44_100, 2)
    assert audio.seconds == pytest.approx(1.5, abs=tolerance_s)
    assert peak_frequency(audio) == pytest.approx(440, abs=2)


def test_channels_are_averaged() -> None:
    left = tone(300, 1.0, 16_000)[:, 0]
    stereo = np.stack([left, -left], axis=1)
    [audio] = read_audio(encode(stereo, 16_000, "WAV", "FLOAT"), max_seconds=60)
    assert np.abs(audio.samples).max() < 1e-6  # opposite channels cancel: they were mixed, not one picked


def test_a_format_libsndfile_lacks_goes_through_ffmpeg() -> None:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream: Any = container.add_stream("aac", rate=22_050)
        stream.layout = "mono"
        samples = tone(440, 1.0, 22_050)[:, 0]
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate = 22_050
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    [audio] = read_audio(buffer.getvalue(), max_seconds=60)
    assert audio.source_rate == 22_050
    assert audio.seconds == pytest.approx(1.0, abs=0.1)
    assert peak_frequency(audio) == pytest.approx(440, abs=2)


def test_paths_base64_and_data_urls(tmp_path: Path) -> None:
    data = encode(tone(200, 0.5, 8_000), 8_000, "WAV", "PCM_16")
    path = tmp_path / "clip.wav"
    path.write_bytes(data)
    via_path = read_audio_file(path, max_seconds=60)[0].samples  # the operator's door
    via_b64 = read_audio(base64.b64encode(data).decode(), max_seconds=60)[0].samples
    via_url = read_audio("data:audio/wav;base64," + base64.b64encode(data).decode(), max_seconds=60)[
        0
    ].samples
    assert len(via_path) == 8_000  # 0.5 s at 16 kHz
    np.testing.assert_array_equal(via_path, via_b64)
    np.testing.assert_array_equal(via_path, via_url)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"", "empty (0 bytes)"),
        (b"RIFF\x00\x00\x00\x00WAVEgarbage" * 3, "could not decode"),
        (b"this is a text file, not a recording", "could not decode"),
        (encode(np.zeros((0, 1), np.float32), 16_000, "WAV", "PCM_16"), "no samples"),
        (encode(tone(100, 0.5, 2_000), 2_000, "WAV", "PCM_16"), "2000 Hz, too low"),
        (encode(np.full((100, 1), np.nan, np.float32), 16_000, "WAV", "FLOAT"), "NaN or infinite"),
        ("/etc/passwd", NOT_AUDIO),
        ("not base64!", NOT_AUDIO),
        (Path("/etc/passwd"), "cannot read audio from a PosixPath"),
        (42, "cannot read audio from a int"),
    ],
)
def test_bad_audio_is_refused_with_the_problem_named(source: Any, message: str) -> None:
    with pytest.raises(AdapterError, match=re.escape(message)):
        read_audio(source, max_seconds=60)


def test_the_operator_door_reads_files_and_names_a_missing_one() -> None:
    with pytest.raises(AdapterError, match=re.escape("no audio file at /no/such/clip.wav")):
        read_audio_file("/no/such/clip.wav", max_seconds=60)


def test_over_long_audio_is_refused_before_decoding() -> None:
    data = encode(tone(440, 3.0, 16_000), 16_000, "FLAC")
    with pytest.raises(AdapterError, match=r"lasts 3\.0 s, more than the 2 s allowed; split it"):
        read_audio(data, max_seconds=2)


def test_the_length_limit_comes_from_the_config(speech_config: Any) -> None:
    data = encode(tone(440, 3.0, 16_000), 16_000, "WAV", "PCM_16")
    assert read_audio(data)[0].seconds == pytest.approx(3.0)  # default limit: 600 s
    speech_config(max_audio_seconds=2.5)
    with pytest.raises(AdapterError, match=r"more than the 2\.5 s allowed.*max_audio_seconds"):
        read_audio(data)
    speech_config(max_audio_seconds=-1)
    with pytest.raises(SpeechConfigError, match=r"max_audio_seconds = -1: .*greater than 0"):
        read_audio(data)


def test_audio_round_trips_through_wav() -> None:
    [audio] = read_audio(encode(tone(440, 0.25, 16_000), 16_000, "WAV", "FLOAT"), max_seconds=60)
    [again] = read_audio(audio.to_wav(), max_seconds=60)
    np.testing.assert_allclose(again.samples, audio.samples, atol=1 / 32_768)
