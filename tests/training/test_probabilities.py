"""A binary model's probabilities and reported scores keep confident rows apart and in order.

float32 reaches 1.0 at a logit of about 17 and rounding to 6 decimals at about 14, so every row
more confident than that would tie at 1.0 and could not be ranked.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from verticals.models import Backend, ModelSpec, Task, TrainingRecipe, Unit
from verticals.training import TrainedPredictor, save_weights

LOGITS = [-30.0, -20.0, -15.0, -1.0, 0.0, 1.0, 15.0, 20.0, 25.0, 30.0]


class Identity(TrainedPredictor):
    """Serves a 1 -> 1 linear module with weight 1 and bias 0: its input is its logit."""

    def model_spec(self) -> ModelSpec:
        return SPEC

    def predict(self, batch: Any) -> list[Any]:
        return list(self.probabilities(np.asarray(batch, dtype="float32").reshape(-1, 1)))


def _recipe() -> TrainingRecipe:
    import torch

    return TrainingRecipe(
        load_data=lambda data: (np.zeros((10, 1), "float32"), np.zeros(10, "int64")),
        build=lambda x: torch.nn.Linear(1, 1),
        loss="binary-cross-entropy",
        metrics=lambda p, y: {},
        data_description="none: the test writes the weights",
    )


SPEC = ModelSpec(name="test/identity", task=Task.TABULAR_SCORING, backend=Backend.TORCH,
                 source="builtin://test", unit=Unit.ROWS, price_per_unit_usd=0,
                 predictor=Identity, training=_recipe())  # fmt: skip


@pytest.fixture
def identity(tmp_path: Path) -> Identity:
    import torch

    save_weights({"weight": torch.ones(1, 1), "bias": torch.zeros(1)}, tmp_path)
    predictor = Identity()
    predictor.load(tmp_path)
    return predictor


def test_confident_rows_keep_distinct_ordered_probabilities(identity: Identity) -> None:
    probabilities = identity.predict(LOGITS)
    assert all(0.0 < p < 1.0 for p in probabilities), probabilities
    assert all(low < high for low, high in pairwise(probabilities))


def test_reported_scores_keep_six_significant_digits_at_both_ends(identity: Identity) -> None:
    from verticals.training import round_probability

    scores = [round_probability(p) for p in identity.predict(LOGITS)]
    assert all(0.0 < s < 1.0 for s in scores), scores
    assert all(low < high for low, high in pairwise(scores)), scores
    assert scores[4] == 0.5
    assert round_probability(0.123456789) == 0.123457  # the middle reads as before: 6 decimals
    assert round_probability(0.9999999904123456) == 0.99999999041235  # 6 significant digits of 1 - p
    assert round_probability(3.2109876e-9) == 3.21099e-9
    assert round_probability(0.0) == 0.0 and round_probability(1.0) == 1.0
