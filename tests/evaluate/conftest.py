"""The NLP models, pulled once per clone into the shared model cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from verticals.registry import Registry
from verticals.store import ModelStore


@pytest.fixture(scope="session")
def nlp_models(model_cache: Path) -> ModelStore:
    store = ModelStore(model_cache)
    registry = Registry.load()
    for name in ("nlp/embed", "nlp/classify", "nlp/chat"):
        store.pull(registry.model(name))
    return store


@pytest.fixture
def eval_env(verticals_home: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory (and ledger) using the shared model cache."""
    monkeypatch.setenv("VERTICALS_MODEL_CACHE", str(model_cache))
    monkeypatch.chdir(verticals_home)  # no stray verticals.toml from the working directory
    return verticals_home
