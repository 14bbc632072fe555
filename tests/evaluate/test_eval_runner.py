"""The runner on the builtin echo model: thresholds, exit status, ledger records, bad suites."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from verticals import hookimpl
from verticals.adapters import DataAdapter
from verticals.cli import attach_core_commands, cli
from verticals.evaluate import EvalError, run_evaluations
from verticals.evaluation import Evaluation, Threshold
from verticals.store import ModelStore

PLUGIN = """
import json
from verticals import hookimpl
from verticals.adapters import DataAdapter
from verticals.evaluation import Evaluation, Threshold

def read(path):
    return [json.loads(line) for line in open(path)]

def score(records, predict):
    outputs = predict([[{"role": "user", "content": r["say"]}] for r in records])
    hits = [out == r["say"] for out, r in zip(outputs, records)]
    return {"accuracy": sum(hits) / len(hits), "count": float(len(hits))}

@hookimpl
def register_data_adapters(register):
    register(DataAdapter(name="evaltest/lines", formats=("jsonl",), read_source=read))

@hookimpl
def register_evaluations(register):
    register(Evaluation(name="evaltest/echo", model="echo/chat", dataset=DATASET,
                        adapter="evaltest/lines", metrics=("accuracy", "count"),
                        thresholds={"accuracy": Threshold(min=MIN)}, score=score))
"""


def write_dataset(tmp_path: Path) -> Path:
    path = tmp_path / "echo.jsonl"
    path.write_text("".join(json.dumps({"say": f"hello {i}"}) + "\n" for i in range(70)))
    return path


class EchoSuite:
    def __init__(
        self, dataset: Path, threshold: float, metrics: tuple[str, ...] = ("accuracy", "count")
    ) -> None:
        self.dataset, self.threshold, self.metrics = dataset, threshold, metrics

    @hookimpl
    def register_data_adapters(self, register) -> None:  # type: ignore[no-untyped-def]
        register(
            DataAdapter(
                name="evaltest/lines",
                formats=("jsonl",),
                read_source=lambda p: [json.loads(line) for line in Path(p).read_text().splitlines()],
            )
        )

    @hookimpl
    def register_evaluations(self, register) -> None:  # type: ignore[no-untyped-def]
        def score(records, predict):  # type: ignore[no-untyped-def]
            outputs = predict([[{"role": "user", "content": r["say"]}] for r in records])
            return {
                "accuracy": sum(o == r["say"] for o, r in zip(outputs, records, strict=True)) / len(records)
            }

        register(
            Evaluation(
                name="evaltest/echo",
                model="echo/chat",
                dataset=str(self.dataset),
                adapter="evaltest/lines",
                metrics=self.metrics,
                thresholds={"accuracy": Threshold(min=self.threshold)},
                score=score,
            )
        )


def test_runner_scores_through_the_predictor_in_batches(tmp_path: Path, make_registry) -> None:  # type: ignore[no-untyped-def]
    registry = make_registry(EchoSuite(write_dataset(tmp_path), 0.99, metrics=("accuracy",)))
    [result] = run_evaluations(registry, "echo/chat", ModelStore(tmp_path / "cache"), log_dir=tmp_path)
    assert (result.model, result.suite, result.backend, result.version) == (
        "echo/chat",
        "evaltest/echo",
        "torch",
        "1",
    )
    assert result.metrics == {"accuracy": 1.0}
    assert result.passed and result.failed == [] and result.examples == 70
    assert result.thresholds == {"accuracy": {"min": 0.99, "max": None}}


def test_suite_errors_name_the_fix(tmp_path: Path, make_registry) -> None:  # type: ignore[no-untyped-def]
    store = ModelStore(tmp_path / "cache")
    registry = make_registry(EchoSuite(write_dataset(tmp_path), 0.5))
    with pytest.raises(EvalError, match=r"did not report the metrics \['count'\]"):
        run_evaluations(registry, "echo/chat", store, log_dir=tmp_path)
    with pytest.raises(EvalError, match="no suite 'other'; its suites: evaltest/echo"):
        run_evaluations(registry, "echo/chat", store, suite="other", log_dir=tmp_path)
    with pytest.raises(EvalError, match="has no evaluation suites"):
        run_evaluations(make_registry(), "tabular/linear", store, log_dir=tmp_path)


@pytest.mark.parametrize(("minimum", "exit_code"), [(0.9, 0), (1.5, 1)])
def test_cli_exit_status_gates_and_runs_land_in_the_ledger(
    tmp_path: Path,
    site_packages,
    verticals_home: Path,
    minimum: float,
    exit_code: int,  # type: ignore[no-untyped-def]
) -> None:
    source = PLUGIN.replace("DATASET", repr(str(write_dataset(tmp_path)))).replace("MIN", str(minimum))
    # a module name per case: Python caches imported modules by name
    site_packages.add("verticals-evaltest", f"verticals_evaltest{exit_code}", source, entry_point="evaltest")
    attach_core_commands(cli)
    result = CliRunner().invoke(cli, ["eval", "echo/chat", "--json"])
    assert result.exit_code == exit_code, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "echo/chat" and report["suite"] == "evaltest/echo"
    assert report["metrics"] == {"accuracy": 1.0, "count": 70.0}
    assert report["thresholds"] == {"accuracy": {"min": minimum, "max": None}}
    assert report["passed"] is (exit_code == 0)
    with duckdb.connect(str(verticals_home / "ledger.duckdb"), read_only=True) as conn:
        runs = conn.execute("SELECT run_id, model, version, suite, passed FROM evaluation_runs").fetchall()
        metrics = conn.execute(
            "SELECT metric, value, min, passed FROM evaluation_metrics ORDER BY metric"
        ).fetchall()
    assert runs == [(report["run_id"], "echo/chat", "1", "evaltest/echo", exit_code == 0)]
    assert metrics == [("accuracy", 1.0, minimum, exit_code == 0), ("count", 70.0, None, True)]


def test_cli_errors_are_messages_not_tracebacks(verticals_home: Path) -> None:
    attach_core_commands(cli)
    result = CliRunner().invoke(cli, ["eval", "nope/model"])
    assert result.exit_code == 1
    assert "unknown model 'nope/model'" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["eval", "tabular/linear"])
    assert result.exit_code == 1 and "has no evaluation suites" in result.output
