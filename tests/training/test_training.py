"""`verticals train` and `verticals models promote`, through the CLI, on the real plugins' models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from verticals.cli import attach_core_commands, cli
from verticals.models import Backend, ModelSpec, Task, TrainingRecipe, Unit
from verticals.store import ModelStore
from verticals.training import WEIGHTS_FILE, TrainedPredictor, WeightsError, fit, split_indices, train_into

attach_core_commands(cli)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory and model store, so versions from other tests never mix in."""
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VERTICALS_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("VERTICALS_LOAD_PLUGINS", "vision,finance,health")
    return tmp_path


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_training_twice_with_one_seed_gives_identical_metrics(home: Path) -> None:
    first = run("train", "vision/digits", "--seed", "1", "--epochs", "3", "--json")
    second = run("train", "vision/digits", "--seed", "1", "--epochs", "3", "--json")
    other = run("train", "vision/digits", "--seed", "2", "--epochs", "3", "--json")
    assert first.exit_code == second.exit_code == other.exit_code == 0, first.output
    a, b, c = (json.loads(r.stdout) for r in (first, second, other))
    assert a["metrics"] == b["metrics"] and a["version"] != b["version"]
    assert a["metrics"] != c["metrics"]
    card = a["card"]
    assert card["training"]["seed"] == 1 and card["training"]["epochs_run"] == 3
    assert card["data"]["train_rows"] + card["data"]["validation_rows"] == 1347  # 1,797 minus the hold-out
    assert "load_digits" in card["data"]["source"] and card["trained_at"].startswith("20")
    store = ModelStore(home / "models")
    files = store.path("vision/digits", a["version"])
    assert (files / "model.safetensors").is_file() and json.loads((files / "card.json").read_text()) == card
    assert store.manifest("vision/digits", a["version"])["kind"] == "trained"
    assert store.promoted_version("vision/digits") is None  # training never promotes


def test_a_version_that_fails_its_evaluation_cannot_be_promoted(home: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    frame = pd.DataFrame(digits.data[:600], columns=[f"p{i}" for i in range(64)])
    frame["label"] = np.random.default_rng(0).permutation(digits.target[:600])  # labels that mean nothing
    frame.to_csv(home / "mislabelled.csv", index=False)
    trained = run(
        "train", "vision/digits", "--data", str(home / "mislabelled.csv"), "--epochs", "2", "--json"
    )
    assert trained.exit_code == 0, trained.output
    version = json.loads(trained.stdout)["version"]

    refused = run("models", "promote", "vision/digits", version)
    assert refused.exit_code == 1
    assert f"version {version} of vision/digits is not promoted" in refused.stderr
    assert "accuracy = 0." in refused.stderr and "needs min 0.97" in refused.stderr
    assert ModelStore(home / "models").promoted_version("vision/digits") is None


def test_a_version_that_passes_is_promoted_and_served(home: Path, model_cache: Path) -> None:
    from verticals_health import diagnosis_spec

    default = ModelStore(model_cache).pull(diagnosis_spec())  # trained once per clone, seed 0
    store = ModelStore(home / "models")
    version = store.add_version("health/diagnosis", default, json.loads((default / "card.json").read_text()))
    promoted = run("models", "promote", "health/diagnosis", version, "--json")
    assert promoted.exit_code == 0, promoted.output
    result = json.loads(promoted.stdout)
    assert result["promoted"] and result["suites"][0]["passed"]
    assert store.promoted_version("health/diagnosis") == version
    predictor = diagnosis_spec().predictor()  # type: ignore[misc]
    predictor.load(None)  # the gateway's call for builtin:// models: serves the promoted version
    assert predictor.served_version == version
    assert predictor.predict([[17.99, 10.38, 122.8, 1001.0] + [0.1] * 26])[0]["score"] >= 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope/model"], "unknown model 'nope/model'"),
        (["train", "echo/chat"], "has no training recipe"),
        (["train", "vision/digits", "--data", "/no/such/file.csv"], "no file or folder at /no/such/file.csv"),
        (["train", "vision/digits", "--epochs", "0"], "Invalid value for '--epochs'"),
        (["models", "promote", "vision/digits", "no-such-version"], "has no version 'no-such-version'"),
    ],
)
def test_bad_requests_get_a_message_not_a_traceback(home: Path, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_customer_table_without_labels_is_refused(home: Path) -> None:
    pd.DataFrame({"amount": [1.0]}).to_csv(home / "t.csv", index=False)
    result = run("train", "finance/fraud", "--data", str(home / "t.csv"))
    assert result.exit_code == 1 and "no 'is_fraud' column" in result.output


def test_split_is_stratified_and_seeded() -> None:
    labels = np.array([0] * 990 + [1] * 10)
    train, validation = split_indices(labels, 0.2, seed=3)
    assert len(set(train) & set(validation)) == 0 and len(train) + len(validation) == 1000
    assert labels[validation].sum() == 2 and labels[train].sum() == 8
    again = split_indices(labels, 0.2, seed=3)
    assert (again[1] == validation).all()
    assert not (split_indices(labels, 0.2, seed=4)[1] == validation).all()


def test_early_stopping_keeps_the_best_epoch() -> None:
    import torch

    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 5)).astype("float32")
    labels = rng.integers(0, 2, 200)  # noise: validation loss cannot keep improving
    recipe = TrainingRecipe(
        load_data=lambda data: (features, labels),
        build=lambda x: torch.nn.Sequential(torch.nn.Linear(5, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)),
        loss="binary-cross-entropy",
        metrics=lambda p, y: {},
        data_description="noise",
        epochs=200,
        learning_rate=0.05,
        patience=3,
    )
    result = fit(recipe, features, labels, seed=0)
    assert result.stopped_early and result.epochs_run == result.best_epoch + 3
    best = min(row["val_loss"] for row in result.history)
    assert result.metrics["val_loss"] == pytest.approx(best, abs=1e-5)
    assert any(row["lr"] < 0.05 for row in result.history)  # the schedule lowered the rate on a plateau


def test_only_torch_models_take_a_training_recipe() -> None:
    recipe = TrainingRecipe(load_data=lambda d: (None, None), build=lambda x: None, loss="cross-entropy",
                            metrics=lambda p, y: {}, data_description="x")  # fmt: skip
    with pytest.raises(ValueError, match="only torch models can be trained"):
        ModelSpec(name="x/y", task=Task.CHAT, backend=Backend.VLLM, source="hf://a/b", unit=Unit.TOKENS,
                  price_per_unit_usd=0, training=recipe)  # fmt: skip


def test_stored_version_folder_can_be_copied_as_a_checkpoint(home: Path, model_cache: Path) -> None:
    from verticals_health import diagnosis_spec

    default = ModelStore(model_cache).pull(diagnosis_spec())
    copy = home / "copy"
    shutil.copytree(default, copy)
    predictor = diagnosis_spec().predictor()  # type: ignore[misc]
    predictor.load(copy)
    assert predictor.predict([[17.99, 10.38, 122.8, 1001.0] + [0.1] * 26])


class NoisyBinary(TrainedPredictor):
    """A plugin's predictor in four lines: the base class loads, checks and scores."""

    def model_spec(self) -> ModelSpec:
        return NOISY_SPEC

    def predict(self, batch: Any) -> list[Any]:
        return [float(p) for p in self.probabilities(np.asarray(batch, dtype="float32"))]


def _noisy_recipe() -> TrainingRecipe:
    import torch

    rng = np.random.default_rng(1)
    features = rng.normal(size=(120, 3)).astype("float32")
    labels = (features[:, 0] > 0).astype("int64")
    return TrainingRecipe(
        load_data=lambda data: (features, labels),
        build=lambda x: torch.nn.Sequential(torch.nn.Linear(3, 1)),
        loss="binary-cross-entropy",
        metrics=lambda p, y: {},
        data_description="120 rows of noise, labelled by the sign of the first column",
        epochs=5,
    )


NOISY_SPEC = ModelSpec(name="test/noisy", task=Task.TABULAR_SCORING, backend=Backend.TORCH,
                       source="builtin://test", unit=Unit.ROWS, price_per_unit_usd=0,
                       predictor=NoisyBinary, training=_noisy_recipe())  # fmt: skip


def test_trained_predictor_loads_scores_and_names_its_version(tmp_path: Path) -> None:
    predictor = NoisyBinary()
    with pytest.raises(WeightsError, match="test/noisy is not loaded"):
        predictor.predict([[0.0, 0.0, 0.0]])
    train_into(NOISY_SPEC, tmp_path / "version", seed=0)
    checkpoint = tmp_path / "version" / WEIGHTS_FILE
    predictor.load(checkpoint)
    scores = predictor.predict([[3.0, 0.0, 0.0], [-3.0, 0.0, 0.0]])
    assert all(0.0 <= s <= 1.0 for s in scores) and scores[0] != scores[1]
    assert predictor.log_odds(np.zeros((2, 3), dtype="float32")).shape == (2,)
    assert predictor.served_version and predictor.served_version.startswith("checkpoint-")
