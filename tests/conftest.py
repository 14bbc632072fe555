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


class SitePackages:
    """A directory on ``sys.path`` holding real distributions (dist-info metadata + entry points).

    importlib.metadata finds them exactly as it finds pip-installed ones, without running pip. The
    allowlist is set to the plugins added here, so the plugins installed in the environment stay out.
    """

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.names: list[str] = []

    def add(
        self, dist: str, module: str, source: str, *, entry_point: str | None = None, version: str = "1.0"
    ) -> Path:
        (self.root / f"{module}.py").write_text(source)
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[verticals]\n{entry_point or module} = {module}\n")
        self.names.append(entry_point or module)
        self.monkeypatch.setenv("VERTICALS_LOAD_PLUGINS", ",".join(self.names))
        return info


@pytest.fixture
def site_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SitePackages:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    return SitePackages(root, monkeypatch)
