"""``vision/digits``: a small CNN over scikit-learn's real handwritten digits (1,797 8x8 images).

A fixed quarter of the digits (stratified, seed ``HOLDOUT_SEED``) is held out for the evaluation
suite and never trained on; training sees the rest, or a customer's own labelled images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError
from verticals.models import ModelSpec, TrainingRecipe
from verticals.training import TrainedPredictor, split_indices, train_into
from verticals_vision.images import SIDE, image_file_bytes, to_digit

MODEL = "vision/digits"
CLASSES = 10
HOLDOUT_FRACTION = 0.25
HOLDOUT_SEED = 20261128
DEFAULT_SEED = 0
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def digits_split() -> tuple[Any, Any, Any, Any]:
    """(images as N x 64 on 0..16, labels, training indices, held-out indices)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    train, holdout = split_indices(digits.target, HOLDOUT_FRACTION, HOLDOUT_SEED)
    return digits.data.astype("float32"), digits.target, train, holdout


def holdout_records() -> list[dict[str, Any]]:
    images, labels, _, holdout = digits_split()
    return [{"image": images[i].reshape(SIDE, SIDE), "label": int(labels[i])} for i in holdout]


def load_data(data: str | None) -> tuple[Any, Any]:
    """Training data: the non-held-out digits, or a customer's folder/CSV/Parquet of labelled images."""
    if data is None:
        import numpy as np

        images, labels, train, _ = digits_split()
        framed = [to_digit(image.reshape(SIDE, SIDE)).reshape(-1) for image in images[train]]
        return np.stack(framed), labels[train]
    path = Path(data)
    if not path.exists():
        raise AdapterError(f"no file or folder at {data}; check the path given to --data")
    if path.is_dir():
        return _from_folder(path)
    if path.suffix.lower() in (".csv", ".parquet"):
        return _from_table(path)
    raise AdapterError(
        f"cannot train vision/digits on {data!r}: give a folder with one subfolder per digit (0/ ... 9/) "
        "holding PNG/JPEG images, or a .csv/.parquet file with 64 pixel columns and a 'label' column"
    )


def _from_folder(path: Path) -> tuple[Any, Any]:
    import numpy as np

    images, labels = [], []
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        if not (folder.name.isdigit() and 0 <= int(folder.name) < CLASSES):
            raise AdapterError(f"folder {folder} is not a digit 0-9; name each class folder by its digit")
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                try:
                    images.append(to_digit(image_file_bytes(file)).reshape(-1))
                except AdapterError as error:
                    raise AdapterError(f"{file}: {error}") from None
                labels.append(int(folder.name))
    if not images:
        raise AdapterError(f"no images under {path}; put PNG/JPEG files in subfolders 0/ ... 9/")
    return np.stack(images), np.asarray(labels)


def _from_table(path: Path) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except Exception as error:  # pandas raises many types for unreadable files
        raise AdapterError(
            f"cannot read {path}: {error}; check that it is a valid CSV/Parquet file"
        ) from None
    if "label" not in frame.columns:
        raise AdapterError(f"{path} has no 'label' column; add one holding the digit (0-9) of each row")
    pixels = frame.drop(columns=["label"]).select_dtypes("number")
    if pixels.shape[1] != SIDE * SIDE:
        raise AdapterError(
            f"{path} has {pixels.shape[1]} numeric pixel columns; an 8x8 digit needs 64 (values 0..16)"
        )
    labels = frame["label"].to_numpy()
    if not np.isin(labels, range(CLASSES)).all():
        raise AdapterError(f"{path}: 'label' must hold digits 0-9 only")
    images = [to_digit(row.reshape(SIDE, SIDE)).reshape(-1) for row in pixels.to_numpy(dtype="float32")]
    return np.stack(images), labels.astype("int64")


def build(features: Any) -> Any:
    """Two 3x3 convolutions, a 2x2 max-pool and a two-layer head: ~76k parameters."""
    import torch
    from torch import nn

    class Scale(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(-1, 1, SIDE, SIDE) / 16.0

    return nn.Sequential(
        Scale(),
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(32 * (SIDE // 2) ** 2, 128),
        nn.ReLU(),
        nn.Linear(128, CLASSES),
    )


def validation_metrics(probabilities: Any, labels: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = probabilities.argmax(axis=1)
    return {
        "accuracy": round(float(accuracy_score(labels, predicted)), 6),
        "macro_f1": round(float(f1_score(labels, predicted, average="macro")), 6),
    }


RECIPE = TrainingRecipe(
    load_data=load_data,
    build=build,
    loss="cross-entropy",
    metrics=validation_metrics,
    data_description=(
        f"scikit-learn load_digits (UCI optdigits test set, 1,797 8x8 images), minus the "
        f"{HOLDOUT_FRACTION:.0%} held out for evaluation (stratified, seed {HOLDOUT_SEED})"
    ),
    epochs=40,
    batch_size=64,
    learning_rate=2e-3,
    weight_decay=1e-4,
    patience=6,
)


def prepare(fetched: Path, out_dir: Path) -> None:
    """The store's prepare step for ``builtin://``: train the default weights with a fixed seed."""
    from verticals_vision import digits_spec

    train_into(digits_spec(), out_dir, seed=DEFAULT_SEED)


class DigitsPredictor(TrainedPredictor):
    """Classifies 8x8 digits; any accepted image form is normalised first (see ``images``).

    ``[models."vision/digits"] checkpoint = "path.safetensors"`` serves another classifier as is.
    """

    def model_spec(self) -> ModelSpec:
        from verticals_vision import digits_spec

        return digits_spec()

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        import numpy as np

        self.module  # noqa: B018 - raises when not loaded, before any image is decoded
        if not batch:
            return []
        arrays = [to_digit(item) for item in batch]
        features = np.stack(arrays).reshape(len(arrays), SIDE * SIDE)
        probabilities = self.probabilities(features)
        return [
            {"label": int(row.argmax()), "probabilities": [round(float(p), 6) for p in row]}
            for row in probabilities
        ]
