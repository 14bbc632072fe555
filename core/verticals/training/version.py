"""Train a model into a new store version: weights as safetensors plus a model card."""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from verticals.models import ModelSpec, TrainingRecipe
from verticals.training.fit import FitResult, Progress, fit
from verticals.training.weights import save_weights

CARD_FILE = "card.json"


class NotTrainableError(ValueError):
    """A model that declares no training recipe."""


class VersionStore(Protocol):
    """The part of ``verticals.store.ModelStore`` training needs."""

    def add_version(self, name: str, files_dir: Path, card: dict[str, Any]) -> str:
        """Store the files in ``files_dir`` as a new, unpromoted version of ``name`` with the model card
        ``card``; return the version id."""
        ...


@dataclass(frozen=True)
class TrainedVersion:
    """A version ``train`` stored for ``model``; ``card`` is its model card (the recipe and data it was
    trained on, its ``metrics``).
    """

    model: str
    version: str
    card: dict[str, Any]

    @property
    def metrics(self) -> dict[str, float]:
        """A copy of the card's ``metrics``: metric name to value (float). KeyError when the card has none."""
        return dict(self.card["metrics"])


def recipe_of(spec: ModelSpec) -> Any:
    """The spec's ``TrainingRecipe``; raises NotTrainableError when the model has none, so ``verticals train``
    cannot fit it.
    """
    if spec.training is None:
        raise NotTrainableError(
            f"model {spec.name!r} has no training recipe, so `verticals train` cannot fit it; "
            "trainable models are the torch models whose plugin gives ModelSpec(training=...)"
        )
    return spec.training


def train_into(
    spec: ModelSpec,
    out_dir: Path,
    *,
    data: str | None = None,
    epochs: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fit ``spec`` and write ``model.safetensors`` and ``card.json`` into ``out_dir``; return the card.

    Also the ``prepare`` step of trainable ``builtin://`` models: ``models pull`` trains the default
    weights with a fixed seed, so the first served version is reproducible too.
    """
    import json

    recipe = recipe_of(spec)
    features, labels = recipe.load_data(data)
    result = fit(recipe, features, labels, seed=seed, epochs=epochs, progress=progress)
    save_weights(result.state_dict, out_dir)
    card = model_card(spec, result, data=data, seed=seed, epochs=epochs or recipe.epochs)
    (out_dir / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True))
    return card


def train_version(
    spec: ModelSpec,
    store: VersionStore,
    *,
    data: str | None = None,
    epochs: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainedVersion:
    """Fit ``spec`` and add the result to ``store`` as a new (not yet promoted) version."""
    with tempfile.TemporaryDirectory(prefix="verticals-train-") as tmp:
        card = train_into(spec, Path(tmp), data=data, epochs=epochs, seed=seed, progress=progress)
        version = store.add_version(spec.name, Path(tmp), card)
    return TrainedVersion(spec.name, version, card)


def model_card(
    spec: ModelSpec, result: FitResult, *, data: str | None, seed: int, epochs: int
) -> dict[str, Any]:
    """What a reviewer needs to trust a version: data and its digest, seed, metrics, date, software."""
    import torch

    recipe = recipe_of(spec)
    return {
        "model": spec.name,
        "task": str(spec.task),
        "description": spec.description,
        "data": {
            "source": _describe(recipe, data),
            "sha256": data_digest(Path(data)) if data is not None else None,
            "train_rows": result.train_rows,
            "validation_rows": result.validation_rows,
        },
        "training": {
            "seed": seed,
            "max_epochs": epochs,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "loss": recipe.loss,
            "optimizer": "AdamW",
            "learning_rate": recipe.learning_rate,
            "weight_decay": recipe.weight_decay,
            "lr_schedule": "halve on validation-loss plateau (2 epochs)",
            "batch_size": recipe.batch_size,
            "patience": recipe.patience,
            "validation_fraction": recipe.validation_fraction,
        },
        "metrics": {key: float(value) for key, value in result.metrics.items()},
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "software": {"torch": torch.__version__, "python": platform.python_version()},
    }


def _describe(recipe: TrainingRecipe, data: str | None) -> str:
    if data is None:
        return recipe.data_description
    return recipe.describe_data(data) if recipe.describe_data is not None else data


def data_digest(path: Path) -> str | None:
    """sha256 of a data file, or of a folder's files in name order; None for a table reference."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
