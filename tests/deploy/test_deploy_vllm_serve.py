"""vllm-serve, the command the vLLM containers run: it pulls the model through the real model store
(honouring the source override the gpu overlay uses) and serves the pulled folder under the model's
verticals name, which is what the gateway asks the upstream server for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_checks import DEPLOY

SCRIPT = DEPLOY / "docker" / "vllm_serve.py"


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """A local model folder standing in for a hub download: the store copies and hashes it."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 2048}))
    return folder


@pytest.fixture
def env(tmp_path: Path, weights: Path) -> dict[str, str]:
    config = tmp_path / "verticals.toml"
    config.write_text(
        f'[models."nlp/chat"]\nsource = "file://{weights}"\nurl = "http://vllm-nlp-chat:8000/v1"\n'
    )
    return {
        **os.environ,
        "VERTICALS_HOME": str(tmp_path / "home"),
        "VERTICALS_MODEL_CACHE": str(tmp_path / "models"),
        "VERTICALS_CONFIG": str(config),
    }


def vllm_serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_serves_the_pulled_folder_under_the_model_name(env: dict[str, str], weights: Path) -> None:
    result = vllm_serve(
        env, "nlp/chat", "--port", "18601", "--print", "--", "--gpu-memory-utilization", "0.5"
    )
    assert result.returncode == 0, result.stderr
    command = json.loads(result.stdout.strip().splitlines()[-1])
    assert command[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    options = dict(zip(command[3::2], command[4::2], strict=False))
    folder = Path(options["--model"])
    assert folder.is_relative_to(Path(env["VERTICALS_MODEL_CACHE"]))
    assert (folder / "config.json").read_bytes() == (weights / "config.json").read_bytes()
    assert options["--served-model-name"] == "nlp/chat"
    assert options["--port"] == "18601" and options["--max-model-len"] == "2048"
    assert command[-2:] == ["--gpu-memory-utilization", "0.5"]

    # What the k8s vLLM container does after its init container pulled: serve, fetch nothing.
    again = vllm_serve(env, "nlp/chat", "--no-pull", "--print")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])[4] == str(folder)


def test_no_pull_before_any_pull_says_which_command_pulls(env: dict[str, str]) -> None:
    result = vllm_serve(env, "nlp/chat", "--no-pull", "--print")
    assert result.returncode == 2
    assert "verticals models pull nlp/chat" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_lists_the_vllm_models(env: dict[str, str]) -> None:
    result = vllm_serve(env, "nlp/chatty", "--print")
    assert result.returncode == 2
    assert "no model named 'nlp/chatty'" in result.stderr and "nlp/chat" in result.stderr


def test_torch_model_is_refused(env: dict[str, str]) -> None:
    result = vllm_serve(env, "echo/chat", "--print")
    assert result.returncode == 2
    assert "not vllm" in result.stderr
