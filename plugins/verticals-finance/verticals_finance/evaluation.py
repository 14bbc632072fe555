"""``finance/fraud-holdout``: ranking and money metrics on 20,000 fresh generator rows.

- ``roc_auc``, ``pr_auc`` (average precision; at 1% fraud the figure that moves), scikit-learn;
- ``ks``: the Kolmogorov-Smirnov statistic between the fraud and legitimate score distributions
  (scipy ``ks_2samp``), the separation figure credit-risk teams report;
- ``expected_loss_per_1k_usd``: at the served decision threshold, per 1,000 transactions, every
  missed fraud costs its amount (charge-back) and every flagged transaction costs ``REVIEW_COST_USD``
  (an analyst's review), the same cost model whatever the outcome;
- ``loss_reduction``: 1 - that loss / the loss with no model (every fraud missed, nothing reviewed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError
from verticals.evaluation import Evaluation, PredictFn, Threshold
from verticals_finance.model import MODEL
from verticals_finance.schema import LABEL

DATASET = Path(__file__).parent / "data" / "fraud-holdout.json"
REVIEW_COST_USD = 5.0


def read_holdout(source: Any) -> list[dict[str, Any]]:
    """Adapter ``finance/fraud-holdout``: the description file -> labelled generated transactions."""
    from verticals_finance.generator import generate

    try:
        spec = json.loads(Path(source).read_text())
        return generate(int(spec["rows"]), seed=int(spec["seed"]), fraud_rate=float(spec["fraud_rate"]))
    except (OSError, TypeError, ValueError, KeyError) as error:
        raise AdapterError(f"cannot read the fraud hold-out description {source!r}: {error}") from None


def expected_loss(labels: Any, amounts: Any, flagged: Any) -> float:
    missed = amounts[(labels == 1) & ~flagged].sum()
    return float(missed + REVIEW_COST_USD * flagged.sum())


def score(records: list[Any], predict: PredictFn) -> dict[str, float]:
    import numpy as np
    from scipy.stats import ks_2samp
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray([r[LABEL] for r in records])
    amounts = np.asarray([r["amount"] for r in records])
    outputs = predict(records)
    scores = np.asarray([o["score"] for o in outputs])
    flagged = np.asarray([o["flagged"] for o in outputs])
    loss = expected_loss(labels, amounts, flagged)
    no_model = expected_loss(labels, amounts, np.zeros_like(flagged))
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "ks": float(ks_2samp(scores[labels == 1], scores[labels == 0]).statistic),
        "expected_loss_per_1k_usd": loss / len(records) * 1000,
        "loss_reduction": 1 - loss / no_model,
    }


SUITE = Evaluation(
    name="finance/fraud-holdout",
    model=MODEL,
    dataset=str(DATASET),
    adapter="finance/fraud-holdout",
    metrics=("roc_auc", "pr_auc", "ks", "expected_loss_per_1k_usd", "loss_reduction"),
    thresholds={
        # just under what the default weights reach (0.978, 0.754, 0.853, 0.806)
        "roc_auc": Threshold(min=0.97),
        "pr_auc": Threshold(min=0.68),
        "ks": Threshold(min=0.8),
        "loss_reduction": Threshold(min=0.75),
    },
    score=score,
    description="20,000 generator rows (seed 20261128, never trained on): ROC-AUC, PR-AUC, KS, expected loss",
)
