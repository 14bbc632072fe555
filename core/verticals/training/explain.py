"""Reason codes by occlusion: how much each input feature pushes a score up.

For a row ``x`` and a reference row ``b`` (a typical negative case the plugin documents), the
contribution of feature group ``g`` is ``f(x) - f(x with g's columns set to b's)``: the change in
the score had that feature looked ordinary. A positive value pushes the score up. Groups let one
reported feature span several model columns (a one-hot category, an hour as sine and cosine).

Occlusion is exact for the model it explains (no gradients, no sampling), costs one extra forward
pass per group (run as one batch), and reads in the score's own units, which is what an analyst
needs to answer "why was this transaction flagged?". Contributions are in log-odds: +0.7 roughly
doubles the odds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def occlusion(score: Callable[[Any], Any], rows: Any, baseline: Any, groups: Sequence[Sequence[int]]) -> Any:
    """``(n_rows, n_groups)`` contributions; ``score`` maps an (N, D) float array to N scores."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.float32)
    n, width = rows.shape
    variants = np.repeat(rows[:, None, :], len(groups) + 1, axis=1)  # [:, 0] is the row itself
    for index, columns in enumerate(groups, start=1):
        variants[:, index, list(columns)] = np.asarray(baseline, dtype=np.float32)[list(columns)]
    scores = np.asarray(score(variants.reshape(-1, width))).reshape(n, len(groups) + 1)
    return scores[:, :1] - scores[:, 1:]


def top_reasons(
    contributions: Any, names: Sequence[str], *, limit: int = 3, minimum: float = 0.01
) -> list[list[tuple[str, float]]]:
    """Per row, the features that push the score up the most: ``[(name, contribution), ...]``."""
    import numpy as np

    reasons = []
    for row in np.asarray(contributions):
        order = np.argsort(-row, kind="stable")[:limit]
        reasons.append([(names[i], round(float(row[i]), 4)) for i in order if row[i] >= minimum])
    return reasons
