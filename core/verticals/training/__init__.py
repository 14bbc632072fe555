"""Training torch models on new data: ``verticals train`` and ``verticals models promote``.

Plugins declare a ``verticals.models.TrainingRecipe``; this package runs the shared loop
(:mod:`verticals.training.fit`), saves safetensors weights (:mod:`verticals.training.weights`) and
adds each run to the model store as a new version with a model card (:mod:`verticals.training.version`).
Plugins serve trained weights with a :class:`~verticals.training.predictor.TrainedPredictor`.
"""

from verticals.training.fit import FitResult, fit, predict_logits, predict_probabilities, split_indices
from verticals.training.predictor import TrainedPredictor, round_probability
from verticals.training.version import (
    CARD_FILE,
    NotTrainableError,
    TrainedVersion,
    train_into,
    train_version,
)
from verticals.training.weights import (
    WEIGHTS_FILE,
    WeightsError,
    load_module,
    locate_weights,
    save_weights,
    version_of,
)

__all__ = [
    "CARD_FILE",
    "WEIGHTS_FILE",
    "FitResult",
    "NotTrainableError",
    "TrainedPredictor",
    "TrainedVersion",
    "WeightsError",
    "fit",
    "load_module",
    "locate_weights",
    "predict_logits",
    "predict_probabilities",
    "round_probability",
    "save_weights",
    "split_indices",
    "train_into",
    "train_version",
    "version_of",
]
