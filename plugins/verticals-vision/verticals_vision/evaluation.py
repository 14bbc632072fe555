"""``vision/digits-holdout``: accuracy, macro-F1, confusion matrix and calibration on held-out digits.

Expected calibration error (ECE) bins predictions by confidence (15 equal-width bins) and averages
|accuracy - confidence| weighted by bin size (Guo et al., 2017): how far the model's stated
probabilities are from how often it is right. The confusion matrix is reported as one metric per
cell, ``confusion.<true>.<predicted>`` (counts), so it lands in the ledger like any other figure.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError
from verticals.evaluation import Evaluation, PredictFn, Threshold
from verticals_vision.digits import CLASSES, MODEL, holdout_records

DATASET = Path(__file__).parent / "data" / "digits-holdout.json"
ECE_BINS = 15
SUMMARY_METRICS = ("accuracy", "macro_f1", "ece", "min_class_recall")
CONFUSION_METRICS = tuple(f"confusion.{t}.{p}" for t in range(CLASSES) for p in range(CLASSES))


def read_holdout(source: Any) -> list[dict[str, Any]]:
    """Adapter ``vision/digits-holdout``: the split description file -> labelled 8x8 images."""
    try:
        spec = json.loads(Path(source).read_text())
    except (OSError, TypeError, ValueError) as error:
        raise AdapterError(f"cannot read the digits hold-out description {source!r}: {error}") from None
    if spec.get("dataset") != "sklearn.datasets.load_digits" or spec.get("split") != "holdout":
        raise AdapterError(f"{source} does not describe the load_digits hold-out split")
    return holdout_records()


def expected_calibration_error(confidence: Any, correct: Any, bins: int = ECE_BINS) -> float:
    import numpy as np

    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        members = (confidence > low) & (confidence <= high)
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def score(records: list[Any], predict: PredictFn) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

    labels = np.asarray([r["label"] for r in records])
    outputs = predict([r["image"] for r in records])
    predicted = np.asarray([o["label"] for o in outputs])
    confidence = np.asarray([max(o["probabilities"]) for o in outputs])
    metrics = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro")),
        "ece": expected_calibration_error(confidence, predicted == labels),
        "min_class_recall": float(recall_score(labels, predicted, average=None).min()),
    }
    matrix = confusion_matrix(labels, predicted, labels=list(range(CLASSES)))
    for true in range(CLASSES):
        for guess in range(CLASSES):
            metrics[f"confusion.{true}.{guess}"] = float(matrix[true, guess])
    return metrics


SUITE = Evaluation(
    name="vision/digits-holdout",
    model=MODEL,
    dataset=str(DATASET),
    adapter="vision/digits-holdout",
    metrics=SUMMARY_METRICS + CONFUSION_METRICS,
    thresholds={
        "accuracy": Threshold(min=0.97),
        "macro_f1": Threshold(min=0.97),
        "ece": Threshold(max=0.04),
        "min_class_recall": Threshold(min=0.9),
    },
    score=score,
    description="450 held-out scikit-learn digits (never trained on): accuracy, macro-F1, ECE, confusion",
)
