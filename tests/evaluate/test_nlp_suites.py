"""The three NLP suites on the real models, through the backends the gateway uses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from verticals.cli import attach_core_commands, cli
from verticals.evaluate import open_backend
from verticals.registry import Registry
from verticals.store import ModelStore

VLLM_PORT = 18101


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "suite", "metrics"),
    [
        ("nlp/embed", "nlp/sentence-similarity", {"spearman", "pearson"}),
        ("nlp/classify", "nlp/ticket-routing", {"accuracy", "macro_f1"}),
    ],
)
def test_torch_suites_pass(
    nlp_models: ModelStore, eval_env: Path, model: str, suite: str, metrics: set[str]
) -> None:
    attach_core_commands(cli)
    result = CliRunner().invoke(cli, ["eval", model, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["model"], report["suite"], report["backend"], report["passed"]) == (
        model,
        suite,
        "torch",
        True,
    )
    assert set(report["metrics"]) == metrics
    for name, bounds in report["thresholds"].items():
        assert report["metrics"][name] >= bounds["min"]


@pytest.mark.slow
def test_chat_suite_runs_on_a_vllm_server_that_is_stopped_after(
    nlp_models: ModelStore, eval_env: Path
) -> None:
    # read as the gateway reads it; eager mode skips torch.compile, minutes on a busy 2-core machine
    (eval_env / "verticals.toml").write_text('[models."nlp/chat"]\nvllm_args = ["--enforce-eager"]\n')
    verticals = str(Path(sys.executable).parent / "verticals")
    result = subprocess.run(
        [verticals, "eval", "nlp/chat", "--json", "--port", str(VLLM_PORT)],
        capture_output=True, text=True, env=dict(os.environ), timeout=1200, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert (report["model"], report["suite"], report["backend"]) == ("nlp/chat", "nlp/chat-qa", "vllm")
    assert report["passed"] is True and report["examples"] == 40
    assert report["metrics"]["containment"] >= 0.7
    log = (eval_env / "logs" / "vllm-nlp-chat.log").read_text()
    assert log.count("Application startup complete") == 1 and "enforce_eager=True" in log
    with socket.socket() as probe:  # the server (and its engine) are gone: the port is free again
        probe.bind(("127.0.0.1", VLLM_PORT))


@pytest.mark.slow
def test_transformers_fallback_answers_with_a_warning(
    nlp_models: ModelStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import verticals.serving.backends.vllm.server as engine

    monkeypatch.setattr(engine, "vllm_available", lambda: False)
    spec = Registry.load().model("nlp/chat")
    ticks: list[int] = []
    with open_backend(spec, nlp_models.path("nlp/chat"), tick=ticks.append, log_dir=tmp_path) as (
        name,
        predict,
    ):
        # the serving tests' CAPITAL_QUESTION: answered by a wide margin (test_nlp_chat_conversion.py)
        [answer] = predict([[{"role": "user", "content": "Name the capital of France."}]])
    assert name == "transformers"
    assert "Paris" in answer and ticks == [1]
    assert "vLLM is not installed" in capsys.readouterr().err
