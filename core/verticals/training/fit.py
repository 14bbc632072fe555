"""The training loop every trainable model shares: seeded stratified split, mini-batch AdamW,
learning rate halved when validation loss stalls, early stopping that keeps the best weights.

Owning the loop in the core (the recipe only gives data, architecture and metrics) is what makes
every plugin's training reproducible the same way: the same seed and data give the same weights and
the same metrics, bit for bit, on the same machine.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from verticals.adapters import AdapterError
from verticals.models import TrainingRecipe

_ONE_FIT_AT_A_TIME = threading.RLock()

Progress = Callable[[int, int, dict[str, float]], None]
"""progress(epoch, max_epochs, {"train_loss": ..., "val_loss": ..., "lr": ...}) after each epoch."""


@dataclass
class FitResult:
    """The best weights (by validation loss) and how they were reached."""

    state_dict: dict[str, Any]
    metrics: dict[str, float]
    epochs_run: int
    best_epoch: int
    train_rows: int
    validation_rows: int
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)


def split_indices(labels: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """Stratified train/validation split: each class keeps its share in both parts, so a 1% fraud
    class still has examples to validate on."""
    import numpy as np

    rng = np.random.default_rng(seed)
    train: list[Any] = []
    validation: list[Any] = []
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        cut = min(len(members) - 1, max(1, round(len(members) * fraction))) if len(members) > 1 else 0
        validation.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(validation))


def check_data(features: Any, labels: Any) -> None:
    """Check that ``features`` (rows x columns, numeric) and ``labels`` (one per row) can train a classifier.

    Raises AdapterError when the counts differ, there are fewer than 10 rows, every label is the same, or a
    feature is NaN or infinite.
    """
    import numpy as np

    if len(features) != len(labels):
        raise AdapterError(
            f"the data has {len(features)} feature rows but {len(labels)} labels; give one label per row"
        )
    if len(features) < 10:
        raise AdapterError(f"the data has only {len(features)} rows; training needs at least 10")
    if len(np.unique(labels)) < 2:
        raise AdapterError("every row has the same label; training needs examples of at least two classes")
    if not np.isfinite(np.asarray(features, dtype=np.float64)).all():
        raise AdapterError("the data holds missing or infinite values; fill or drop those rows first")


def fit(
    recipe: TrainingRecipe,
    features: Any,
    labels: Any,
    *,
    seed: int,
    epochs: int | None = None,
    progress: Progress | None = None,
) -> FitResult:
    """Train a fresh module from ``recipe.build`` on ``features``/``labels``; see the module docstring.

    Runs on one CPU thread: the recipes' models are small, so more threads only add contention (ten
    times slower with two busy cores, measured), and one thread makes every sum reduce in the same
    order, so results do not depend on the machine's core count. One fit at a time per process:
    torch's seed and thread count are process-wide, so two fits in threads (a gateway loading two
    untrained models at once) would draw each other's dropout masks and lose reproducibility.
    """
    import torch

    with _ONE_FIT_AT_A_TIME:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return _fit(recipe, features, labels, seed=seed, epochs=epochs, progress=progress)
        finally:
            torch.set_num_threads(threads)


def _fit(
    recipe: TrainingRecipe,
    features: Any,
    labels: Any,
    *,
    seed: int,
    epochs: int | None,
    progress: Progress | None,
) -> FitResult:
    import numpy as np
    import torch

    check_data(features, labels)
    torch.manual_seed(seed)
    max_epochs = epochs if epochs is not None else recipe.epochs
    train_idx, val_idx = split_indices(np.asarray(labels), recipe.validation_fraction, seed)
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    y = _targets(torch, np.asarray(labels), recipe.loss)
    x_train, y_train, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]

    module = recipe.build(x_train.numpy())
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    loss_fn = _loss(torch, recipe.loss)
    generator = torch.Generator().manual_seed(seed)

    best_loss, best_epoch, best_state = math.inf, 0, _copy_state(module)
    history: list[dict[str, float]] = []
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        module.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for start in range(0, len(order), recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(_logits(module, x_train[batch], recipe.loss), y_train[batch])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        val_loss = _evaluate_loss(torch, module, x_val, y_val, loss_fn, recipe.loss)
        scheduler.step(val_loss)
        row = {
            "epoch": float(epoch),
            "train_loss": total / len(x_train),
            "val_loss": val_loss,
            "lr": float(optimizer.param_groups[0]["lr"]),
        }
        history.append(row)
        if progress is not None:
            progress(epoch, max_epochs, row)
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch, best_state = val_loss, epoch, _copy_state(module)
        elif epoch - best_epoch >= recipe.patience:
            break

    module.load_state_dict(best_state)
    probabilities = predict_probabilities(module, x_val.numpy(), recipe.loss)
    metrics = {"val_loss": round(best_loss, 6)}
    metrics.update(recipe.metrics(probabilities, np.asarray(labels)[val_idx]))
    return FitResult(
        state_dict=best_state,
        metrics=metrics,
        epochs_run=epoch,
        best_epoch=best_epoch,
        train_rows=len(train_idx),
        validation_rows=len(val_idx),
        stopped_early=epoch < max_epochs,
        history=history,
    )


def predict_probabilities(module: Any, features: Any, loss: str) -> Any:
    """Class probabilities (cross-entropy: one column per class) or the positive-class probability."""
    import numpy as np
    import torch

    module.eval()
    with torch.inference_mode():
        logits = _logits(module, torch.as_tensor(np.asarray(features, dtype=np.float32)), loss)
        out = torch.softmax(logits, dim=1) if loss == "cross-entropy" else torch.sigmoid(logits)
    return out.numpy()


def predict_logits(module: Any, features: Any) -> Any:
    """Raw model outputs (log-odds for a binary model): what occlusion reason codes compare, since
    probabilities saturate near 0 and 1 and would hide every reason of a confident score."""
    import numpy as np
    import torch

    module.eval()
    with torch.inference_mode():
        return module(torch.as_tensor(np.asarray(features, dtype=np.float32))).numpy()


def _targets(torch: Any, labels: Any, loss: str) -> Any:
    if loss == "cross-entropy":
        return torch.as_tensor(labels.astype("int64"))
    return torch.as_tensor(labels.astype("float32"))


def _loss(torch: Any, loss: str) -> Any:
    return torch.nn.CrossEntropyLoss() if loss == "cross-entropy" else torch.nn.BCEWithLogitsLoss()


def _logits(module: Any, x: Any, loss: str) -> Any:
    out = module(x)
    # A binary model may return (N, 1) or (N,); the loss wants (N,).
    return out.reshape(-1) if loss == "binary-cross-entropy" else out


def _evaluate_loss(torch: Any, module: Any, x: Any, y: Any, loss_fn: Any, loss: str) -> float:
    module.eval()
    with torch.inference_mode():
        return float(loss_fn(_logits(module, x, loss), y))


def _copy_state(module: Any) -> dict[str, Any]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}
