"""The README's examples run: its commands, and its plugin built, installed, found and uninstalled."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
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


def test_billing_data_commands_run(tmp_path: Path) -> None:
    """The plans, subscriptions, credits and charge-model examples, for a customer acme on pro."""
    home = tmp_path / "home"
    setup = f"VERTICALS_HOME={home} verticals customers create acme --plan pro"
    assert run(setup, tmp_path).returncode == 0
    for command in commands(examples()["billing-data"]) + commands(examples()["billing-prices"]):
        result = run(f"VERTICALS_HOME={home} {command}", tmp_path)
        assert result.returncode == 0, f"{command}: {result.stderr}"
    listed = run(f"VERTICALS_HOME={home} verticals prices list --plan growth --json", tmp_path)
    assert [row["charge_model"] for row in json.loads(listed.stdout)] == ["graduated"]


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


@pytest.mark.slow
def test_ledger_and_client_examples_against_a_real_gateway(tmp_path: Path) -> None:
    """The ledger commands create a customer and key; the client example calls the gateway with it."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "VERTICALS_HOME": str(home),
        "VERTICALS_LOAD_PLUGINS": "",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    key = None
    for command in commands(examples()["ledger"]):
        result = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{command}: {result.stderr}"
        if command.startswith("verticals keys create"):
            key = json.loads(result.stdout)["key"]
    assert key is not None and key.startswith("vk_")

    port = 18013
    client = examples()["client.py"].replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
    (tmp_path / "client.py").write_text(client)
    server = subprocess.Popen(
        [str(BIN / "verticals"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the gateway did not start"
                time.sleep(0.5)
        answer = subprocess.run(
            [sys.executable, "client.py"],
            cwd=tmp_path,
            env={**env, "VERTICALS_KEY": key},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip() == "hello verticals"
        report = subprocess.run(
            [str(BIN / "verticals"), "usage", "report", "--by", "customer", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert report.returncode == 0, report.stderr
        [row] = json.loads(report.stdout)
        assert (row["customer"], row["requests"]) == ("acme", 1)
    finally:
        server.terminate()
        server.wait(timeout=60)
