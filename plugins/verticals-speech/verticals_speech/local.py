"""Whisper in process through faster-whisper (CTranslate2), with the clips of one batch decoded together.

Clips up to 30 s (Whisper's window) go through the encoder and the beam search in groups of
``decode_batch_size``, so that on a GPU they share one pass. On CPU the default is one clip at a
time: on two cores, groups of 16 measured 0.8x the throughput of single clips, twice
(tests/bench/bench_speech.py prints both), since the cores are already busy with one clip and a
group waits for its longest member. Longer clips take faster-whisper's own windowed
``transcribe``, one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verticals_speech.audio import Audio
from verticals_speech.settings import SpeechSettings

WINDOW_SECONDS = 30.0
# Off the CPU, a group this size fills a GPU for tiny and keeps the encoder's memory bounded.
ACCELERATOR_BATCH = 16
# faster-whisper's silence rule: a window this likely to hold no speech and this unsure gives no text.
NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0


class LocalWhisper:
    def __init__(self, model_dir: Path, settings: SpeechSettings) -> None:
        import ctranslate2
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        if not (model_dir / "model.bin").is_file():
            raise FileNotFoundError(
                f"no CTranslate2 Whisper model in {model_dir} (model.bin is missing); run "
                "`verticals models pull speech/transcribe` to fetch and verify it"
            )
        self.beam_size = settings.beam_size
        on_cpu = settings.device == "cpu" or (
            settings.device == "auto" and ctranslate2.get_cuda_device_count() == 0
        )
        self.group = settings.decode_batch_size or (1 if on_cpu else ACCELERATOR_BATCH)
        self.model = WhisperModel(
            str(model_dir),
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
        )
        self.tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            self.model.model.is_multilingual,
            task="transcribe",
            language="en",
        )

    def transcribe(self, batch: Sequence[Audio]) -> list[str]:
        texts: list[str | None] = [None] * len(batch)
        short = [i for i, audio in enumerate(batch) if audio.seconds <= WINDOW_SECONDS]
        for start in range(0, len(short), self.group):
            chosen = short[start : start + self.group]
            for index, text in zip(chosen, self._batched([batch[i] for i in chosen]), strict=True):
                texts[index] = text
        for index, audio in enumerate(batch):
            if texts[index] is None:
                texts[index] = self._windowed(audio)
        return [text or "" for text in texts]

    def _windowed(self, audio: Audio) -> str:
        segments, _ = self.model.transcribe(
            audio.samples, language="en", beam_size=self.beam_size, vad_filter=False
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def _batched(self, batch: Sequence[Audio]) -> list[str]:
        import numpy as np
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.transcribe import get_suppressed_tokens

        extractor = self.model.feature_extractor
        features = np.stack([pad_or_trim(extractor(audio.samples)) for audio in batch]).astype(np.float32)
        encoded = self.model.encode(features)
        prompt = self.model.get_prompt(self.tokenizer, previous_tokens=[], without_timestamps=True)
        results: list[Any] = self.model.model.generate(
            encoded,
            [list(prompt) for _ in batch],
            beam_size=self.beam_size,
            max_length=self.model.max_length,
            suppress_blank=True,
            suppress_tokens=list(get_suppressed_tokens(self.tokenizer, [-1]) or []),
            return_scores=True,
            return_no_speech_prob=True,
        )
        texts = []
        for result in results:
            tokens = result.sequences_ids[0]
            avg_log_prob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            if result.no_speech_prob > NO_SPEECH_THRESHOLD and avg_log_prob < LOG_PROB_THRESHOLD:
                texts.append("")
            else:
                texts.append(self.tokenizer.decode(tokens).strip())
        return texts
