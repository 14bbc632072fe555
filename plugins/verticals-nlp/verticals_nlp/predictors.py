"""Sentence embeddings (all-MiniLM-L6-v2) and zero-shot classification over caller-given labels."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError
from verticals.models import Predictor

BATCH_SIZE = 64
# Labels alone ("billing") embed poorly next to whole sentences; a short frame puts them in the
# same register as the tickets they are compared with.
LABEL_TEMPLATE = "This support ticket is about {}."


class _SentenceModel:
    """One SentenceTransformer per model folder per process: embed and classify share the weights."""

    _lock = threading.Lock()
    _loaded: dict[str, Any] = {}

    @classmethod
    def get(cls, model_dir: Path | None) -> Any:
        if model_dir is None:
            raise RuntimeError("this model needs its files: pull it with `verticals models pull` first")
        key = str(Path(model_dir).resolve())
        with cls._lock:
            if key not in cls._loaded:
                from sentence_transformers import SentenceTransformer  # heavy: only when loading

                cls._loaded[key] = SentenceTransformer(key, device="cpu", local_files_only=True)
            return cls._loaded[key]


def _text(item: Any, what: str) -> str:
    if not isinstance(item, str) or not item.strip():
        raise AdapterError(f"each {what} must be non-empty text, got {item!r:.80}")
    return item


class EmbedPredictor(Predictor):
    """Input: a text. Output: its unit-length 384-number embedding."""

    def __init__(self) -> None:
        self.model: Any = None

    def load(self, model_dir: Path | None) -> None:
        self.model = _SentenceModel.get(model_dir)

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        texts = [_text(item, "input") for item in batch]
        # show_progress_bar: off, not "on when the log level is INFO", which a server's logging is
        vectors = self.model.encode(
            texts, batch_size=BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False
        )
        return [vector.tolist() for vector in vectors]

    def units(self, item: Any) -> float:
        """Tokens the model reads, as its own tokenizer counts them (special tokens included)."""
        if self.model is None or not isinstance(item, str):
            return float(len(str(item).split()))
        return float(len(self.model.tokenizer(item, truncation=True)["input_ids"]))


class ClassifyPredictor(Predictor):
    """Input: ``{"text": str, "labels": [str, ...]}``. Output: ``{"label": best, "scores": {label: cos}}``.

    The text and every label (framed by ``LABEL_TEMPLATE``) are embedded; the most similar label wins.
    """

    def __init__(self) -> None:
        self.model: Any = None

    def load(self, model_dir: Path | None) -> None:
        self.model = _SentenceModel.get(model_dir)

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        items = [self._check(item) for item in batch]
        labels = sorted({label for _, item_labels in items for label in item_labels})
        texts = [text for text, _ in items]
        encoded = self.model.encode(
            texts + [LABEL_TEMPLATE.format(label) for label in labels],
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        text_vectors, label_vectors = (
            encoded[: len(texts)],
            dict(zip(labels, encoded[len(texts) :], strict=True)),
        )
        results = []
        for vector, (_, item_labels) in zip(text_vectors, items, strict=True):
            scores = {label: float(vector @ label_vectors[label]) for label in item_labels}
            results.append({"label": max(scores.items(), key=lambda pair: pair[1])[0], "scores": scores})
        return results

    @staticmethod
    def _check(item: Any) -> tuple[str, list[str]]:
        if not isinstance(item, dict):
            raise AdapterError(
                f'each input must be {{"text": "...", "labels": ["...", ...]}}, got {item!r:.80}'
            )
        labels = item.get("labels")
        if not isinstance(labels, list) or len(labels) < 2:
            raise AdapterError(f"'labels' must list at least two candidate labels, got {labels!r:.80}")
        if len(set(labels)) != len(labels):
            raise AdapterError(f"'labels' has duplicates: {labels!r:.80}; list each label once")
        return _text(item.get("text"), "'text'"), [_text(label, "label") for label in labels]
