"""``finance/fraud``: a small MLP fraud scorer over encoded transactions, with reason codes.

Encoding: log amounts and ratios, the hour as a point on a circle (23:00 is next to 00:00), flags
as 0/1, log velocity counts, the category one-hot; then standardised with the training split's
mean and standard deviation, kept as buffers in the weights file.

Reason codes are occlusion contributions (``verticals.training.explain``) against a typical
legitimate transaction, ``BASELINE``: "this score is 0.31 higher than it would be had the merchant
been domestic".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from verticals.adapters import AdapterError
from verticals.models import ModelSpec, TrainingRecipe
from verticals.training import TrainedPredictor, round_probability
from verticals.training.explain import occlusion, top_reasons
from verticals_finance.schema import LABEL, Category, read_table, validate_records

MODEL = "finance/fraud"
TRAIN_SEED = 1
TRAIN_ROWS = 60_000
CATEGORIES = [str(c) for c in Category]
NUMERIC = ["log_amount", "log_amount_to_avg_30d", "hour_sin", "hour_cos", "card_present", "foreign",
           "log_distance_km", "log_txn_count_1h", "log_txn_count_24h", "new_merchant"]  # fmt: skip
COLUMNS = NUMERIC + [f"category={c}" for c in CATEGORIES]
# reported feature -> its model columns
GROUPS: dict[str, list[int]] = {
    "amount": [0], "amount_to_avg_30d": [1], "hour": [2, 3], "card_present": [4], "foreign": [5],
    "distance_km": [6], "txn_count_1h": [7], "txn_count_24h": [8], "new_merchant": [9],
    "merchant_category": list(range(len(NUMERIC), len(COLUMNS))),
}  # fmt: skip
REASON_CODES = {name: f"F{index:02d}" for index, name in enumerate(GROUPS, start=1)}
BASELINE = {
    "amount": 40.0, "merchant_category": "grocery", "hour": 14, "card_present": True, "foreign": False,
    "distance_km": 5.0, "txn_count_1h": 0, "txn_count_24h": 3, "amount_to_avg_30d": 1.0,
    "new_merchant": False,
}  # fmt: skip
# expected_loss_per_1k_usd on generator seed 20261128 is flat from 0.04 to 0.10 (335 here, 329 at its
# minimum, 0.09): the lower end keeps catching more fraud (recall 0.81 against 0.78). See README.
DECISION_THRESHOLD = 0.05


class FraudSettings(BaseModel):
    """The ``[models."finance/fraud"]`` keys this model reads (declared in its spec's ``settings``)."""

    threshold: float = Field(
        DECISION_THRESHOLD, ge=0, le=1, description="flag a transaction whose score is at or above this"
    )


def encode(records: Sequence[dict[str, Any]]) -> Any:
    import numpy as np

    out = np.zeros((len(records), len(COLUMNS)), dtype=np.float32)
    for i, r in enumerate(records):
        angle = 2 * math.pi * r["hour"] / 24
        out[i, :10] = (
            math.log1p(r["amount"]), math.log(r["amount_to_avg_30d"]), math.sin(angle), math.cos(angle),
            float(r["card_present"]), float(r["foreign"]), math.log1p(r["distance_km"]),
            math.log1p(r["txn_count_1h"]), math.log1p(r["txn_count_24h"]), float(r["new_merchant"]),
        )  # fmt: skip
        out[i, len(NUMERIC) + CATEGORIES.index(str(r["merchant_category"]))] = 1.0
    return out


def load_data(data: str | None) -> tuple[Any, Any]:
    """The generator's rows (seed ``TRAIN_SEED``), or a labelled CSV/Parquet/DuckDB table."""
    import numpy as np

    from verticals_finance.generator import generate

    if data is None:
        rows = generate(TRAIN_ROWS, seed=TRAIN_SEED)
    else:
        rows = read_table(data)
        if rows and LABEL not in rows[0]:
            raise AdapterError(
                f"{data} has no {LABEL!r} column; add one (1 = fraud, 0 = legitimate) to train"
            )
    labels = np.asarray([r.get(LABEL) for r in rows])
    if not np.isin(labels, [0, 1, True, False]).all():
        raise AdapterError(f"{LABEL!r} must be 0/1 (or true/false) in every row")
    return encode(validate_records(rows)), labels.astype("int64")


def build(features: Any) -> Any:
    """Standardise, then 29 -> 32 -> 16 -> 1 with SiLU plus a linear 29 -> 1 path: ~1.5k parameters.

    Both halves keep the riskiest transactions rankable. With ReLU the net had learned units that
    detect legitimate traffic; a transaction with every fraud signal turned all of them off, and
    where every unit is off the logit is a constant, so the riskiest transactions all scored the same
    (0.919904). SiLU has no flat half, and the linear path (logistic regression on the same columns,
    added to the logit) makes the logit move with every column wherever the hidden units are.
    """
    import torch
    from torch import nn

    class Scorer(nn.Module):
        mean: torch.Tensor
        std: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            width = len(COLUMNS)
            mean = torch.zeros(width) if features is None else torch.as_tensor(features).mean(0)
            std = torch.ones(width) if features is None else torch.as_tensor(features).std(0).clamp_min(1e-3)
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.net = nn.Sequential(
                nn.Linear(width, 32), nn.SiLU(), nn.Linear(32, 16), nn.SiLU(), nn.Linear(16, 1)
            )
            self.linear = nn.Linear(width, 1, bias=False)  # the net's last layer holds the bias

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = (x - self.mean) / self.std
            return self.net(z) + self.linear(z)  # type: ignore[no-any-return]

    return Scorer()


def validation_metrics(probabilities: Any, labels: Any) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores = probabilities.reshape(-1)
    return {
        "roc_auc": round(float(roc_auc_score(labels, scores)), 6),
        "pr_auc": round(float(average_precision_score(labels, scores)), 6),
    }


RECIPE = TrainingRecipe(
    load_data=load_data,
    build=build,
    loss="binary-cross-entropy",
    metrics=validation_metrics,
    data_description=(
        f"verticals_finance.generator.generate({TRAIN_ROWS}, seed={TRAIN_SEED}): synthetic, 1% fraud"
    ),
    epochs=30,
    batch_size=512,
    learning_rate=5e-3,
    weight_decay=1e-4,
    patience=4,
)


def prepare(fetched: Path, out_dir: Path) -> None:
    """The store's prepare step for ``builtin://``: train the default weights with a fixed seed."""
    from verticals.training import train_into
    from verticals_finance import fraud_spec

    train_into(fraud_spec(), out_dir, seed=0)


class FraudPredictor(TrainedPredictor):
    """Scores validated transactions; each output carries the score, the decision and reason codes."""

    def __init__(self) -> None:
        super().__init__()
        self.threshold = DECISION_THRESHOLD

    def model_spec(self) -> ModelSpec:
        from verticals_finance import fraud_spec

        return fraud_spec()

    def load(self, model_dir: Path | None) -> None:
        from verticals.config import load_settings

        # Raises ConfigError naming the file, line and value of a bad threshold.
        self.threshold = load_settings().model_settings(MODEL, FraudSettings).threshold
        super().load(model_dir)

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        self.module  # noqa: B018 - raises when not loaded, before any record is validated
        if not batch:
            return []
        records = validate_records(list(batch))
        features = encode(records)
        scores = self.probabilities(features)
        contributions = occlusion(self.log_odds, features, encode([BASELINE])[0], list(GROUPS.values()))
        reasons = top_reasons(contributions, list(GROUPS))
        return [
            {
                "transaction_id": record.get("transaction_id"),
                "score": round_probability(score),
                "flagged": bool(score >= self.threshold),
                "reason_codes": [
                    {
                        "code": REASON_CODES[name],
                        "feature": name,
                        "value": record[name],
                        "contribution": value,
                    }
                    for name, value in reason
                ],
            }
            for record, score, reason in zip(records, scores, reasons, strict=True)
        ]
