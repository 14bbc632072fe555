"""The README's examples run: its commands, and its plugin built, installed, found and uninstalled."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def examples() -> dict[str, str]:
    """Code blocks marked ``<!-- example: NAME -->`` in the README, by name."""
    text = (REPO / "README.md").read_text()
    found = re.findall(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```", text, flags=re.S)
    return dict(found)


def commands(block: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_readme_starts_with_the_two_set_up_commands() -> None:
    text = (REPO / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    assert commands(first_block.group(1)) == ["make up", "make test"]


def test_usage_commands_run(tmp_path: Path) -> None:
    for command in commands(examples()["usage"]):
        result = run(command, tmp_path)
        assert result.returncode == 0, f"{command}: {result.stderr}"


@pytest.mark.slow
def test_plugin_example_installs_is_found_and_uninstalls(tmp_path: Path) -> None:
    blocks = examples()
    project = tmp_path / "verticals-sums"
    for name in ("pyproject.toml", "verticals_sums/__init__.py", "tests/test_sums.py"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(blocks[name])

    install, listing, uninstall = commands(blocks["install"])
    # no build isolation: hatchling is already in the environment and CI should not fetch it again
    result = run(install + " --no-build-isolation", tmp_path)
    assert result.returncode == 0, result.stderr
    try:
        listed = run(listing, tmp_path)
        models = {row["name"]: row for row in json.loads(listed.stdout)}
        assert models["sums/total"]["plugin"] == "sums"
        plugins = {
            row["name"]: row for row in json.loads(run("verticals plugins list --json", tmp_path).stdout)
        }
        assert (plugins["sums"]["distribution"], plugins["sums"]["version"]) == ("verticals-sums", "0.1.0")
        tests = run(f"{sys.executable} -m pytest -q -p no:cacheprovider tests", project)
        assert tests.returncode == 0, tests.stdout
    finally:
        result = run(uninstall, tmp_path)
    assert result.returncode == 0, result.stderr
    after = json.loads(run(listing, tmp_path).stdout)
    assert "sums/total" not in {row["name"] for row in after}
