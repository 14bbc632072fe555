"""`pip install verticals` from a wheel (not editable) has a `verticals dashboard` that starts.

The wheels of verticals and of every plugin under plugins/ are built and installed, without -e and
without their dependencies, into a fresh virtual environment. Its third-party dependencies (streamlit,
pandas, torch, ...) are this environment's, reached through a .pth file, so the test installs nothing
from the network and takes seconds; the checkout is not reachable from it (no PYTHONPATH, and the
.pth files of this environment's editable installs are not read there), which the test checks before
it starts the dashboard from an empty working directory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import running_dashboard

REPO = Path(__file__).resolve().parents[2]
PLUGINS = sorted(p for p in (REPO / "plugins").glob("verticals-*") if (p / "pyproject.toml").is_file())
# 18700 and 18701 are the plugin benchmark's gateways.
PORTS = range(18705, 18711)

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Venv:
    root: Path
    python: Path
    cwd: Path  # empty: nothing of the checkout is importable from it
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=self.cwd, env=self.env, capture_output=True, text=True, check=False, timeout=300
        )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    root = tmp_path_factory.mktemp("wheel-install")
    wheels = root / "wheels"
    # --no-build-isolation: hatchling, the build backend of all of them, is in the dev extras.
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    build = subprocess.run(
        [*pip_wheel, "-w", str(wheels), str(REPO), *map(str, PLUGINS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    built = sorted(wheels.glob("*.whl"))
    assert len(built) == 1 + len(PLUGINS), built

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    cwd = root / "cwd"
    cwd.mkdir()
    unset = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "VERTICALS_ADMIN_TOKEN", "VERTICALS_LOAD_PLUGINS"}
    env = {key: value for key, value in os.environ.items() if key not in unset}
    target = Venv(root, python, cwd, env)
    site = target.run(str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    assert site.returncode == 0, site.stderr
    # The dependencies: this environment's site-packages, after the fresh one on sys.path.
    (Path(site.stdout.strip()) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # --ignore-installed: pip sees this environment's editable verticals through the .pth and must
    # neither skip the wheel because of it nor try to uninstall it.
    install = target.run(
        str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q",
        *map(str, built),
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return target


def test_the_installed_copies_are_imported_not_the_checkout(venv: Venv) -> None:
    modules = ["verticals", "verticals.dashboard.command"] + [p.name.replace("-", "_") for p in PLUGINS]
    code = (
        "import importlib, json\n"
        "from verticals.dashboard.command import app_path\n"
        f"files = {{m: importlib.import_module(m).__file__ for m in {modules!r}}}\n"
        "print(json.dumps({'files': files, 'app': str(app_path())}))\n"
    )
    result = venv.run(str(venv.python), "-c", code)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    for module, path in found["files"].items():
        assert Path(path).is_relative_to(venv.root / "venv"), (module, path)
    app = Path(found["app"])
    assert app.is_relative_to(venv.root / "venv") and app.is_file(), app
    assert (app.parent / "views" / "overview.py").is_file()


def test_the_installed_plugins_load(venv: Venv) -> None:
    result = venv.run(str(venv.root / "venv" / "bin" / "verticals"), "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    installed = {name: row for name, row in rows.items() if row["distribution"] != "verticals"}
    assert {row["distribution"] for row in installed.values()} == {p.name for p in PLUGINS}
    assert all(row["status"] == "ok" for row in rows.values()), [
        (name, row["error"]) for name, row in rows.items() if row["status"] != "ok"
    ]


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port in {PORTS.start}-{PORTS.stop - 1}: another test run holds them all")


@pytest.fixture
def dashboard(venv: Venv, seeded_home: Path) -> Iterator[str]:
    port = free_port()
    verticals = venv.root / "venv" / "bin" / "verticals"
    env = {**venv.env, "VERTICALS_HOME": str(seeded_home)}
    with running_dashboard(verticals, port, env, cwd=venv.cwd) as url:
        yield url


def test_verticals_dashboard_starts_from_the_wheel(dashboard: str) -> None:
    health = httpx.get(f"{dashboard}/_stcore/health", timeout=5)
    assert (health.status_code, health.text) == (200, "ok")
    page = httpx.get(dashboard, timeout=5)
    assert page.status_code == 200 and "<title>" in page.text


def test_the_installed_app_renders_its_pages(venv: Venv, seeded_home: Path) -> None:
    """The HTTP server answers before any script runs: run the installed app.py as a browser session
    would (Streamlit's AppTest), every page, with the installed package."""
    code = (
        "import json, sys\n"
        "from streamlit import config\n"
        "from streamlit.testing.v1 import AppTest\n"
        "from verticals.dashboard.command import app_path\n"
        "config.set_option('server.address', '127.0.0.1')  # as `verticals dashboard` binds by default\n"
        "at = AppTest.from_file(str(app_path()), default_timeout=60)\n"
        "at.run()\n"
        "seen = {'metrics': [m.label for m in at.metric], 'problems': []}\n"
        "pages = ('overview', 'customers', 'models', 'compute', 'billing', 'pricing', 'risk', 'requests',\n"
        "         'admin')\n"
        "for page in pages:\n"
        "    at.switch_page(f'views/{page}.py').run()\n"
        "    seen['problems'] += [f'{page}: {e.value}' for e in [*at.exception, *at.error]]\n"
        "seen['ui'] = sys.modules['verticals.dashboard.ui'].__file__\n"
        "print(json.dumps(seen))\n"
    )
    env = {**venv.env, "VERTICALS_HOME": str(seeded_home), "VERTICALS_DASHBOARD_SOURCE": "ledger"}
    result = subprocess.run(
        [str(venv.python), "-c", code], cwd=venv.cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["problems"] == []
    assert {"Revenue", "Compute cost", "Gross margin"} <= set(seen["metrics"])
    assert Path(seen["ui"]).is_relative_to(venv.root / "venv")
