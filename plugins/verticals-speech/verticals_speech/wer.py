"""The ``speech/wer`` suite: word error rate on sentences spoken by espeak-ng at several voices and speeds.

The plugin ships only text (``data/sentences.jsonl``: sentence, voice, speed); the audio is
synthesized when the suite runs, decoded by the ``speech/audio`` adapter like any upload, and
transcribed through the serving backend. Scores come from jiwer after the usual normalisation
(lower case, no punctuation), so "Friday." and "friday" count as the same word.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError
from verticals.evaluation import PredictFn
from verticals_speech.audio import read_audio_file

DATASET = Path(__file__).parent / "data" / "sentences.jsonl"
# espeak-ng runs words together by default; tiny.en, trained on natural speech, mishears that
# (WER 0.11-0.23 measured on this list without a gap, 0.03-0.07 with 40 ms). Unit: 10 ms.
WORD_GAP = 4
# Synthesized clips are short; the cap only guards against a runaway sentence in the data file.
MAX_CLIP_SECONDS = 30.0


def read_sentences(source: str | Path, **_: Any) -> list[dict[str, Any]]:
    """Read the sentence list and speak each line: ``[{"audio", "text", "voice", "speed"}]``."""
    rows = _rows(Path(source))
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise AdapterError(
            "espeak-ng is not installed, and the speech/wer suite synthesizes its audio with it; "
            "install it (`apt-get install espeak-ng`) and run again"
        )
    records = []
    with tempfile.TemporaryDirectory(prefix="verticals-speech-") as tmp:
        for index, row in enumerate(rows):
            wav = Path(tmp) / f"{index:03d}.wav"
            command = [
                espeak,
                "-v",
                row["voice"],
                "-s",
                str(row["speed"]),
                "-g",
                str(WORD_GAP),
                "-w",
                str(wav),
            ]
            done = subprocess.run([*command, row["text"]], capture_output=True, text=True, check=False)
            if done.returncode != 0 or not wav.is_file():
                raise AdapterError(
                    f"espeak-ng could not speak line {index + 1} with voice {row['voice']!r}: "
                    f"{done.stderr.strip() or 'no output'}; pick a voice from `espeak-ng --voices=en`"
                )
            records.append({**row, "audio": read_audio_file(wav, max_seconds=MAX_CLIP_SECONDS)[0]})
    return records


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise AdapterError(f"no sentence list at {path}; give a JSONL file of text, voice and speed")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise AdapterError(f"{path.name} line {number} is not JSON ({error}); fix the line") from None
        text, voice, speed = (
            row.get(key) if isinstance(row, dict) else None for key in ("text", "voice", "speed")
        )
        if not isinstance(text, str) or not text.strip():
            raise AdapterError(f"{path.name} line {number}: 'text' must be a non-empty sentence")
        if not isinstance(voice, str) or not voice or voice.startswith("-"):
            raise AdapterError(
                f"{path.name} line {number}: 'voice' must name an espeak-ng voice, e.g. 'en-us'"
            )
        if not isinstance(speed, int) or not 80 <= speed <= 450:
            raise AdapterError(f"{path.name} line {number}: 'speed' must be words per minute, 80 to 450")
        rows.append({"text": text.strip(), "voice": voice, "speed": speed})
    return rows


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """WER and CER after normalisation, and the share of sentences transcribed without an error."""
    import jiwer

    steps = [
        jiwer.ToLowerCase(),
        jiwer.RemovePunctuation(),  # type: ignore[no-untyped-call]  # jiwer leaves its __init__ untyped
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
    ]
    clean = jiwer.Compose(steps)
    words = jiwer.Compose([*steps, jiwer.ReduceToListOfListOfWords()])
    chars = jiwer.Compose([*steps, jiwer.ReduceToListOfListOfChars()])
    refs, hyps = list(references), list(hypotheses)
    exact = sum(clean(r) == clean(h) for r, h in zip(refs, hyps, strict=True))
    return {
        "wer": float(jiwer.wer(refs, hyps, reference_transform=words, hypothesis_transform=words)),
        "cer": float(jiwer.cer(refs, hyps, reference_transform=chars, hypothesis_transform=chars)),
        "exact_sentences": exact / len(refs),
    }


def score(records: list[Any], predict: PredictFn) -> dict[str, float]:
    outputs = predict([record["audio"] for record in records])
    return error_rates([r["text"] for r in records], [str(o["text"]) for o in outputs])
