"""Fixtures shared by the whole suite. Plugin-author fixtures come from ``verticals.testing``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """Models pulled once per clone and shared by every test that needs a real model.

    Kept inside the clone (``.cache/models``), never in the user's data directory.
    """
    path = Path(os.environ.get("VERTICALS_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
    path.mkdir(parents=True, exist_ok=True)
    return path
