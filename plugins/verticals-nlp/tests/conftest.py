"""Fixtures for the NLP plugin's tests: the real models, pulled once per clone into .cache/models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from verticals.registry import Registry
from verticals.store import ModelStore

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def nlp_store() -> ModelStore:
    """The same cache as the core suite's ``model_cache`` fixture, so each model is pulled once."""
    path = Path(os.environ.get("VERTICALS_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
    path.mkdir(parents=True, exist_ok=True)
    return ModelStore(path)


@pytest.fixture(scope="session")
def nlp_registry() -> Registry:
    return Registry.load()


@pytest.fixture(scope="session")
def minilm_dir(nlp_store: ModelStore, nlp_registry: Registry) -> Path:
    return nlp_store.pull(nlp_registry.model("nlp/embed"))
