"""The speech/wer suite: its metric on known strings, its data set's checks, and the real run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from verticals_speech.wer import DATASET, error_rates, read_sentences

from verticals.adapters import AdapterError


def test_error_rates_count_words_after_normalising_case_and_punctuation() -> None:
    rates = error_rates(
        ["Please send the invoice.", "The cat sat on the mat."],
        ["please send the invoice", "the bat sat on mat"],
    )
    # 0 errors in 4 words, then 1 substitution and 1 deletion in 6: 2 of 10 words.
    assert rates["wer"] == pytest.approx(0.2)
    assert rates["exact_sentences"] == 0.5
    assert 0 < rates["cer"] < rates["wer"]
    assert error_rates(["hello world"], [""])["wer"] == 1.0


def test_the_shipped_sentences_cover_several_voices_and_speeds() -> None:
    rows = [json.loads(line) for line in DATASET.read_text().splitlines()]
    assert len(rows) >= 20
    assert len({row["voice"] for row in rows}) >= 4
    assert len({row["speed"] for row in rows}) >= 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 1 is not JSON"),
        ('{"text": "", "voice": "en-us", "speed": 150}', "'text' must be a non-empty sentence"),
        ('{"text": "Hi there.", "voice": "--help", "speed": 150}', "'voice' must name an espeak-ng voice"),
        ('{"text": "Hi there.", "voice": "en-us", "speed": 5000}', "'speed' must be words per minute"),
        ('{"text": "Hi there.", "voice": "xx-nonexistent", "speed": 150}', "could not speak line 1"),
    ],
)
def test_a_bad_sentence_list_is_refused(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "sentences.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(AdapterError, match=message):
        read_sentences(path)


def test_missing_espeak_ng_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(AdapterError, match=r"espeak-ng is not installed.*apt-get install espeak-ng"):
        read_sentences(DATASET)


@pytest.mark.slow
def test_the_suite_passes_through_the_evaluation_runner(
    model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `verticals eval speech/transcribe` runs: dataset read, model pulled, predictor batches."""
    from verticals.evaluate.runner import run_evaluations
    from verticals.plugins import get_plugin_manager
    from verticals.registry import Registry
    from verticals.store import ModelStore

    monkeypatch.setenv("VERTICALS_LOAD_PLUGINS", "speech")
    registry = Registry.load(get_plugin_manager())
    [result] = run_evaluations(registry, "speech/transcribe", ModelStore(model_cache), log_dir=tmp_path)
    print(json.dumps(result.to_json(), indent=2))
    assert result.passed, result.to_json()
    assert result.examples == 24 and result.backend == "torch"
    assert result.metrics["wer"] <= 0.10
    assert result.metrics["exact_sentences"] >= 0.5


def test_the_threshold_fails_a_model_that_mishears() -> None:
    """The same suite fails a transcriber that drops the last word of each sentence."""
    from verticals_speech import register_evaluations

    suites: list[Any] = []
    register_evaluations(register=suites.append)
    [suite] = suites
    texts = [json.loads(line)["text"] for line in DATASET.read_text().splitlines()]
    # The "audio" is the sentence itself, so this stand-in transcriber hears every word but the last.
    records = [{"text": text, "audio": text} for text in texts]

    def drops_last_word(items: Any) -> list[Any]:
        return [{"text": " ".join(item.split()[:-1]), "duration": 0.0} for item in items]

    metrics = suite.score(records, drops_last_word)
    assert not suite.thresholds["wer"].passes(metrics["wer"])
    assert metrics["wer"] == pytest.approx(len(texts) / sum(len(text.split()) for text in texts))
