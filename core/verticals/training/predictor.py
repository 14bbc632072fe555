"""``TrainedPredictor``: the serving side of a trainable model, shared by the vision, finance and
health plugins.

``load`` serves, in order, a configured ``checkpoint``, the store's promoted version or the
prepared default weights (see ``locate_weights``), rebuilt through the model's ``TrainingRecipe``,
and records which version answered. Subclasses name their spec and write ``predict`` over
``probabilities`` (by the recipe's loss) or ``self.module``; binary models also get ``log_odds``,
what reason codes are computed on, and report a score with ``round_probability``.
"""

from __future__ import annotations

import abc
import math
from pathlib import Path
from typing import Any

from verticals.models import ModelSpec, Predictor
from verticals.training.fit import predict_logits, predict_probabilities
from verticals.training.version import recipe_of
from verticals.training.weights import WeightsError, load_module, locate_weights, version_of


class TrainedPredictor(Predictor):
    """A ``Predictor`` for a model built from its spec's ``TrainingRecipe``: subclasses give ``model_spec``
    and ``predict``; ``load`` finds and loads the weights.
    """

    def __init__(self) -> None:
        self._module: Any = None
        self._loss = "cross-entropy"  # the recipe's, set by load

    @abc.abstractmethod
    def model_spec(self) -> ModelSpec:
        """The spec this predictor serves (its ``training`` recipe rebuilds the module)."""

    def load(self, model_dir: Path | None) -> None:
        """Rebuild the recipe's module and load the weights ``locate_weights`` picks (``model_dir`` first when
        given), and set ``served_version`` to what was loaded (see ``version_of``).

        Raises NotTrainableError when the spec has no training recipe, and WeightsError when no weights are
        found or they do not load into the module.
        """
        spec = self.model_spec()
        recipe = recipe_of(spec)
        location = locate_weights(spec, model_dir)
        self._module = load_module(recipe, location)
        self._loss = recipe.loss
        self.served_version = version_of(location)

    @property
    def module(self) -> Any:
        """The loaded torch module, in eval mode."""
        if self._module is None:
            raise WeightsError(f"{self.model_spec().name} is not loaded; call load(model_dir) first")
        return self._module

    def probabilities(self, features: Any) -> Any:
        """One probability per row for a binary model (float64), one row of class probabilities otherwise.

        A binary probability is the sigmoid of the float32 logit taken in float64: float32 rounds it
        to exactly 1.0 from a logit of about 17 (and has only ~6e-8 of resolution below 1), which
        would tie every confident row and leave the riskiest cases unranked. float64 keeps logits up
        to about 36 apart.
        """
        if self._loss != "binary-cross-entropy":
            return predict_probabilities(self.module, features, self._loss)
        import numpy as np

        logits = self.log_odds(features).astype(np.float64)
        return np.exp(-np.logaddexp(0.0, -logits))  # sigmoid, without overflow for large negatives

    def log_odds(self, features: Any) -> Any:
        """One logit per row, for a binary model: additive, so occlusion explains it well."""
        return predict_logits(self.module, features).reshape(-1)


def round_probability(probability: float, digits: int = 6) -> float:
    """``probability`` (0-1) rounded for reporting, keeping ``digits`` significant digits of its
    distance from the nearer of 0 and 1.

    Between 0.1 and 0.9 that is ``digits`` decimals; nearer an end it keeps more
    (0.9999999904123456 -> 0.99999999041235), so scores of confident rows stay distinct and in order
    where fixed decimals would round all of them to the same 1.0 (or 0.0). Monotone: it never
    reverses the order of two probabilities.
    """
    value = float(probability)
    distance = min(value, 1.0 - value)
    if distance <= 0.0:
        return value
    decimals = digits - 1 - math.floor(math.log10(distance))
    return round(value, max(decimals, digits))
