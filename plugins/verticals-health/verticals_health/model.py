"""``health/diagnosis``: an MLP over scikit-learn's real breast-cancer data (569 cases), malignant = 1.

A fixed quarter of the cases (stratified, seed ``HOLDOUT_SEED``) is held out for the evaluation
suite. Reason codes are occlusion contributions (``verticals.training.explain``) against the
training split's median case, kept in the weights file as the ``baseline`` buffer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError
from verticals.models import ModelSpec, TrainingRecipe
from verticals.training import TrainedPredictor, round_probability, split_indices
from verticals.training.explain import occlusion, top_reasons
from verticals_health.cases import read_cases
from verticals_health.features import NAMES, read_table, record_features
from verticals_health.phi import install_log_guard, patient_names, scrub, scrub_text

MODEL = "health/diagnosis"
HOLDOUT_FRACTION = 0.25
HOLDOUT_SEED = 20261128
LABEL_COLUMNS = ("diagnosis", "malignant", "label", "target")
DECISION_THRESHOLD = 0.5


def cancer_split() -> tuple[Any, Any, Any, Any]:
    """(features, labels with malignant = 1, training indices, held-out indices)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    malignant = (data.target == 0).astype("int64")  # scikit-learn codes malignant as 0
    train, holdout = split_indices(malignant, HOLDOUT_FRACTION, HOLDOUT_SEED)
    return data.data.astype("float32"), malignant, train, holdout


def load_data(data: str | None) -> tuple[Any, Any]:
    """The non-held-out cases, or a customer's CSV/Parquet with the 30 features and a diagnosis column."""
    import numpy as np

    if data is None:
        features, labels, train, _ = cancer_split()
        return features[train], labels[train]
    rows = read_table(data)
    column = next((c for c in LABEL_COLUMNS if rows and c in rows[0]), None)
    if column is None:
        raise AdapterError(
            f"{Path(data).name} has no diagnosis column; add 'diagnosis' (malignant/benign, or 1 = malignant)"
        )
    labels = [_label(row[column], i) for i, row in enumerate(rows)]
    features = [record_features(row, f"row {i}") for i, row in enumerate(rows)]
    return np.asarray(features, dtype="float32"), np.asarray(labels, dtype="int64")


def _label(value: Any, index: int) -> int:
    text = str(value).strip().lower()
    if text in ("1", "1.0", "m", "malignant", "true"):
        return 1
    if text in ("0", "0.0", "b", "benign", "false"):
        return 0
    raise AdapterError(f"row {index}: diagnosis {value!r} must be malignant/benign (or M/B, 1/0)")


def build(features: Any) -> Any:
    """Log-transform, standardise, then 30 -> 16 -> 1: ~500 parameters (569 cases allow little more)."""
    import torch
    from torch import nn

    class Diagnosis(nn.Module):
        mean: torch.Tensor
        std: torch.Tensor
        baseline: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            width = len(NAMES)
            logged = None if features is None else torch.log1p(torch.as_tensor(features))
            self.register_buffer("mean", torch.zeros(width) if logged is None else logged.mean(0))
            self.register_buffer(
                "std", torch.ones(width) if logged is None else logged.std(0).clamp_min(1e-4)
            )
            median = torch.zeros(width) if features is None else torch.as_tensor(features).median(0).values
            self.register_buffer("baseline", median)
            self.net = nn.Sequential(nn.Linear(width, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net((torch.log1p(x.clamp_min(0)) - self.mean) / self.std)  # type: ignore[no-any-return]

    return Diagnosis()


def validation_metrics(probabilities: Any, labels: Any) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    scores = probabilities.reshape(-1)
    return {
        "roc_auc": round(float(roc_auc_score(labels, scores)), 6),
        "brier": round(float(brier_score_loss(labels, scores)), 6),
    }


RECIPE = TrainingRecipe(
    load_data=load_data,
    build=build,
    loss="binary-cross-entropy",
    metrics=validation_metrics,
    data_description=(
        "scikit-learn load_breast_cancer (UCI Wisconsin Diagnostic Breast Cancer, 569 cases), minus the "
        f"{HOLDOUT_FRACTION:.0%} held out for evaluation (stratified, seed {HOLDOUT_SEED})"
    ),
    epochs=150,
    batch_size=32,
    learning_rate=3e-3,
    weight_decay=1e-3,
    patience=15,
    # a customer's file name can carry a record number or an e-mail address: the card keeps neither
    describe_data=scrub_text,
)


def prepare(fetched: Path, out_dir: Path) -> None:
    """The store's prepare step for ``builtin://``: train the default weights with a fixed seed."""
    from verticals.training import train_into
    from verticals_health import diagnosis_spec

    train_into(diagnosis_spec(), out_dir, seed=0)


class DiagnosisPredictor(TrainedPredictor):
    """Each input is 30 feature values (what ``health/cases`` returns) or anything that adapter reads."""

    def model_spec(self) -> ModelSpec:
        from verticals_health import diagnosis_spec

        return diagnosis_spec()

    def load(self, model_dir: Path | None) -> None:
        install_log_guard()  # serving health data: scrub identifiers from every log record from now on
        super().load(model_dir)

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        import numpy as np

        module = self.module  # raises when not loaded
        if not batch:
            return []
        rows = [row for item in batch for row in _rows(item)]
        if len(rows) != len(batch):
            raise AdapterError("each input must be one case; send a bundle per patient, or split the request")
        features = np.asarray(rows, dtype=np.float32)
        scores = self.probabilities(features)
        baseline = module.baseline.numpy()
        reasons = top_reasons(
            occlusion(self.log_odds, features, baseline, [[i] for i in range(len(NAMES))]), NAMES
        )
        return [
            {
                "score": round_probability(score),
                "diagnosis": "malignant" if score >= DECISION_THRESHOLD else "benign",
                "reason_codes": [
                    {"code": f"H{NAMES.index(name) + 1:02d}", "feature": name,
                     "value": float(row[NAMES.index(name)]), "contribution": value}
                    for name, value in reason
                ],
            }
            for row, score, reason in zip(rows, scores, reasons, strict=True)
        ]  # fmt: skip


def _rows(item: Any) -> list[list[float]]:
    if (
        isinstance(item, list | tuple)
        and len(item) == len(NAMES)
        and all(isinstance(v, int | float) for v in item)
    ):
        return [[float(v) for v in item]]
    if hasattr(item, "shape") and tuple(item.shape) == (len(NAMES),):
        return [[float(v) for v in item]]
    return read_cases(item)


def safe_summary(payload: Any) -> Any:
    """What may be logged or stored about a request: the payload with identifiers removed."""
    names = patient_names(payload) if isinstance(payload, dict) else set()
    return scrub(payload, names)
