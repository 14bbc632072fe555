"""``TrainedPredictor``: the serving side of a trainable model, shared by the vision, finance and
health plugins.

``load`` serves, in order, a configured ``checkpoint``, the store's promoted version or the
prepared default weights (see ``locate_weights``), rebuilt through the model's ``TrainingRecipe``,
and records which version answered. Subclasses name their spec and write ``predict`` over
``probabilities`` (by the recipe's loss) or ``self.module``; binary models also get ``log_odds``,
what reason codes are computed on.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

from verticals.models import ModelSpec, Predictor
from verticals.training.fit import predict_logits, predict_probabilities
from verticals.training.version import recipe_of
from verticals.training.weights import WeightsError, load_module, locate_weights, version_of


class TrainedPredictor(Predictor):
    def __init__(self) -> None:
        self._module: Any = None
        self._loss = "cross-entropy"  # the recipe's, set by load

    @abc.abstractmethod
    def model_spec(self) -> ModelSpec:
        """The spec this predictor serves (its ``training`` recipe rebuilds the module)."""

    def load(self, model_dir: Path | None) -> None:
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
        """One probability per row for a binary model, one row of class probabilities otherwise."""
        found = predict_probabilities(self.module, features, self._loss)
        return found.reshape(-1) if self._loss == "binary-cross-entropy" else found

    def log_odds(self, features: Any) -> Any:
        """One logit per row, for a binary model: additive, so occlusion explains it well."""
        return predict_logits(self.module, features).reshape(-1)
