"""Saving and loading trained weights as safetensors (never pickle), shared by every plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verticals.models import ModelSpec, TrainingRecipe

WEIGHTS_FILE = "model.safetensors"


class WeightsError(ValueError):
    """A checkpoint that is missing or does not fit the model's architecture."""


def save_weights(state_dict: dict[str, Any], out_dir: Path) -> Path:
    """Write ``state_dict`` (name to torch tensor) as ``out_dir/WEIGHTS_FILE`` in safetensors format, creating
    ``out_dir``; returns the file's path.
    """
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / WEIGHTS_FILE
    save_file({key: value.contiguous() for key, value in state_dict.items()}, str(path))
    return path


def weights_path(location: Path) -> Path:
    """``location`` is a model directory holding ``model.safetensors`` or a ``.safetensors`` file."""
    path = location / WEIGHTS_FILE if location.is_dir() else location
    if not path.is_file():
        raise WeightsError(
            f"no weights at {path}; run `verticals models pull MODEL` (or `verticals train MODEL`) first, "
            "or point the model's checkpoint setting at an existing .safetensors file"
        )
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path} is not a .safetensors file; only safetensors checkpoints are loaded")
    return path


def load_module(recipe: TrainingRecipe, location: Path) -> Any:
    """Rebuild the recipe's module and load a checkpoint into it, ready for inference."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = weights_path(location)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise WeightsError(
            f"cannot read {path} as safetensors ({error}); the file is corrupt or not weights"
        ) from None
    from verticals.training.fit import _ONE_FIT_AT_A_TIME

    # Building a module draws its initial weights from torch's process-wide generator; doing so
    # while another thread trains would shift that training's dropout masks (see fit.fit).
    with _ONE_FIT_AT_A_TIME:
        module = recipe.build(None)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0:3]
        raise WeightsError(
            f"checkpoint {path} does not fit this model's architecture ({' '.join(first)}); "
            "give a checkpoint trained for this model (for example by `verticals train`)"
        ) from None
    return module.eval()


def locate_weights(spec: ModelSpec, model_dir: Path | None) -> Path:
    """Where a trainable model's predictor loads from, first match wins:

    1. ``model_dir``, when the caller names a folder (a store version under evaluation);
    2. ``[models."NAME"] checkpoint = "file.safetensors"`` in verticals.toml: another classifier
       checkpoint, served without code changes;
    3. the store's promoted version, else the version pulled from the spec's source;
    4. a pull now: for ``builtin://`` sources the spec's ``prepare`` trains the default weights with
       a fixed seed, so a fresh install serves without a separate step.
    """
    if model_dir is not None:
        return model_dir
    from verticals.config import load_settings
    from verticals.store import ModelStore, StoreError

    settings = load_settings()
    checkpoint = settings.model_settings(spec.name).checkpoint
    if checkpoint is not None:
        return checkpoint.expanduser()
    store = ModelStore.from_settings(settings)
    try:
        return store.path(spec.name)
    except StoreError:
        return store.pull(spec)


def version_of(location: Path) -> str | None:
    """The store version a weights location belongs to, or ``checkpoint-<sha256 prefix>`` for a file
    outside the store, so usage events name exactly what answered."""
    import hashlib
    import json

    folder = location if location.is_dir() else location.parent
    manifest = folder.parent / "manifest.json"
    if folder.name == "files" and manifest.is_file():
        try:
            return str(json.loads(manifest.read_text())["version"])
        except (ValueError, KeyError):
            return None
    path = weights_path(location)
    return "checkpoint-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
