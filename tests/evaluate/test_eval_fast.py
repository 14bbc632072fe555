"""``verticals eval --fast``: every model whose suites run in seconds on a CPU, recorded in the ledger
(through the gateway while one runs), which is what ``verticals up`` runs once serving is up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from click.testing import CliRunner

from verticals.cli import attach_core_commands, cli
from verticals.evaluate.backends import free_port
from verticals.evaluate.runner import SuiteResult, fast_models, record_results
from verticals.registry import Registry

from .test_eval_runner import PLUGIN, write_dataset


def test_fast_models_are_the_torch_models_with_suites() -> None:
    """The installed plugins' torch models with suites; nlp/chat (vLLM) starts an engine of its own."""
    registry = Registry.load()
    fast = fast_models(registry)
    assert {"nlp/embed", "nlp/classify"} <= set(fast)
    assert "nlp/chat" not in fast
    assert all(registry.evaluations_for(name) for name in fast)
    assert "tabular/linear" not in fast  # a torch model without a suite


def test_eval_fast_runs_every_fast_model_and_records_it(
    tmp_path: Path,
    site_packages,  # type: ignore[no-untyped-def]
    verticals_home: Path,
) -> None:
    source = PLUGIN.replace("DATASET", repr(str(write_dataset(tmp_path)))).replace("MIN", "0.9")
    site_packages.add("verticals-evaltest", "verticals_evaltest_fast", source, entry_point="evaltest")
    attach_core_commands(cli)
    result = CliRunner().invoke(cli, ["eval", "--fast", "--json"])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert (report["model"], report["suite"], report["passed"]) == ("echo/chat", "evaltest/echo", True)
    assert "1 of 1 suites passed on 1 models" in result.stderr
    with duckdb.connect(str(verticals_home / "ledger.duckdb"), read_only=True) as conn:
        runs = conn.execute("SELECT run_id, model, suite, passed FROM evaluation_runs").fetchall()
    assert runs == [(report["run_id"], "echo/chat", "evaltest/echo", True)]


def test_eval_takes_a_model_or_fast(verticals_home: Path) -> None:
    attach_core_commands(cli)
    for args in ([], ["echo/chat", "--fast"], ["--fast", "--suite", "x"]):
        result = CliRunner().invoke(cli, ["eval", *args])
        assert result.exit_code == 2, (args, result.output)
    assert "name a MODEL, or pass --fast" in CliRunner().invoke(cli, ["eval"]).output


@pytest.mark.slow
def test_runs_are_recorded_through_a_running_gateway(verticals_home: Path) -> None:
    """While `verticals serve` holds the ledger, the runs go through its admin API, not the file."""
    port = free_port()
    env = {**os.environ, "VERTICALS_PORT": str(port), "VERTICALS_LOAD_PLUGINS": ""}
    server = subprocess.Popen(
        [sys.executable, "-m", "verticals", "serve"],
        env=env,
        cwd=verticals_home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.5)
        result = SuiteResult(
            "echo/chat", "1", "evaltest/echo", "torch", {"accuracy": 1.0},
            {"accuracy": {"min": 0.9, "max": None}}, True, [], 70, 0.1,
        )  # fmt: skip
        assert record_results(verticals_home, [result]) is None
        assert result.run_id
        from verticals.client import open_remote_ledger
        from verticals.config import load_settings

        remote = open_remote_ledger(load_settings(home=verticals_home))
        assert remote is not None
        history = remote.analytics("evaluation_history")
        assert [(r["run_id"], r["model"], r["value"]) for r in history] == [(result.run_id, "echo/chat", 1.0)]
    finally:
        server.terminate()
        server.wait(30)
