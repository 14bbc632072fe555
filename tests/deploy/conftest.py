"""Fixtures for the deploy checks: each overlay rendered once, compose.yaml parsed once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

# The suite imports tests with --import-mode=importlib, which puts no test directory on sys.path; the
# deploy tests share their checks through deploy_checks.py beside this file.
sys.path.insert(0, str(Path(__file__).parent))

from deploy_checks import DEPLOY, OVERLAYS, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    assert set(OVERLAYS) >= {"cpu", "gpu"}, f"deploy/k8s/overlays holds {OVERLAYS}, expected cpu and gpu"
    return {overlay: render(overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded
