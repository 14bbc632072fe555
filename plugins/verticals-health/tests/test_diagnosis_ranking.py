"""health/diagnosis keeps confident malignant cases apart: distinct cases get distinct, ordered scores."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
from verticals_health.evaluation import DATASET, read_holdout
from verticals_health.features import NAMES

# Larger and more concave nuclei are the data set's strongest signs of malignancy.
SIGNS = ("radius", "perimeter", "area", "concavity", "points")
GROWING = [i for i, name in enumerate(NAMES) if "error" not in name and name.split()[-1] in SIGNS]


def test_larger_more_concave_nuclei_score_strictly_higher(predictor: Any) -> None:
    cases = read_holdout(DATASET)
    typical = np.median([c["features"] for c in cases if c["label"] == 1], axis=0)
    rows = []
    for factor in (1.0, 1.1, 1.2, 1.3, 1.4):
        row = typical.copy()
        row[GROWING] *= factor
        rows.append(row.tolist())
    scores = [o["score"] for o in predictor.predict(rows)]
    assert all(low < high for low, high in pairwise(scores)), scores
    assert scores[-1] < 1.0


def test_every_held_out_malignant_case_gets_its_own_score(predictor: Any) -> None:
    cases = [c for c in read_holdout(DATASET) if c["label"] == 1]
    scores = [o["score"] for o in predictor.predict([c["features"] for c in cases])]
    assert len(set(scores)) == len(cases) == 53
    assert max(scores) < 1.0
