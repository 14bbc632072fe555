"""Session fixtures: the default weights, trained once per clone into the shared test model cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def model_cache() -> Path:
    path = Path(os.environ.get("VERTICALS_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def model_dir(model_cache: Path) -> Path:
    """The store's folder for the default version (the store's prepare step trains it, seed 0)."""
    from verticals_health import diagnosis_spec

    from verticals.store import ModelStore

    return ModelStore(model_cache).pull(diagnosis_spec())


@pytest.fixture(scope="session")
def predictor(model_dir: Path) -> Any:
    from verticals_health import diagnosis_spec

    spec = diagnosis_spec()
    assert spec.predictor is not None
    loaded = spec.predictor()
    loaded.load(model_dir)
    return loaded
