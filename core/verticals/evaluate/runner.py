"""Running a model's evaluation suites through its serving backend and scoring them against thresholds."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError
from verticals.evaluate.backends import EvalError, open_backend
from verticals.evaluation import Evaluation
from verticals.model_settings import ModelSettings
from verticals.models import Backend
from verticals.registry import Registry
from verticals.store import ModelStore


@dataclass
class SuiteResult:
    """One suite's run against a model version through ``backend``: ``metrics`` (name to value, float) judged
    against ``thresholds`` (name to ``{"min", "max"}``, None for an open bound).

    ``passed`` is true when ``failed`` (the metrics out of bounds or NaN) is empty; ``examples`` is the number
    of examples scored, ``seconds`` the wall time (3 decimals); ``run_id`` is the ledger's id once recorded;
    ``extra`` holds keys added to the JSON output.
    """

    model: str
    version: str
    suite: str
    backend: str
    metrics: dict[str, float]
    thresholds: dict[str, dict[str, float | None]]
    passed: bool
    failed: list[str]
    examples: int
    seconds: float
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict: every field but ``extra``, whose keys are merged in at the top
        level.
        """
        data = asdict(self)
        data.pop("extra")
        return data | self.extra


def run_evaluations(
    registry: Registry,
    model: str,
    store: ModelStore,
    *,
    suite: str | None = None,
    version: str | None = None,
    engine: str = "auto",
    port: int | None = None,
    log_dir: Path,
    progress: bool = False,
) -> list[SuiteResult]:
    """Run ``model``'s suites (or the one named ``suite``) and score each; the backend starts once.

    The version evaluated is ``version``, else the promoted one, else the one pulled from the
    model's source (pulled now when missing, with its checksums verified).
    """
    spec = registry.model(model)
    suites = _pick_suites(registry, model, suite)
    model_dir: Path | None = None
    resolved_version = spec.version
    override = ModelSettings.model_validate(store.overrides.get(model, {}))  # already checked when read
    remote = spec.backend is Backend.VLLM and override.url is not None
    if spec.needs_files and not remote:  # a remote vLLM holds its own weights
        store.pull(spec, progress=progress)
        resolved_version = version or store.promoted_version(model) or store.resolve(spec).version
        model_dir = store.path(model, resolved_version)
    bar = _Bar(progress)
    results = []
    with ExitStack() as stack:
        backend, predict = stack.enter_context(
            open_backend(
                spec,
                model_dir,
                tick=bar.tick,
                engine=engine,
                port=port,
                log_dir=log_dir,
                override=override,
            )
        )
        for evaluation in suites:
            records = _read_dataset(registry, evaluation)
            started = time.perf_counter()

            def counted(items: Sequence[Any], label: str = evaluation.name) -> list[Any]:
                with bar.open(label, len(items)):
                    return predict(items)

            try:
                metrics = evaluation.score(records, counted)
            except AdapterError as error:
                raise EvalError(f"suite {evaluation.name!r}: the model refused an input: {error}") from None
            results.append(
                _judge(evaluation, metrics, model, resolved_version, backend, len(records),
                       time.perf_counter() - started)
            )  # fmt: skip
    return results


def fast_models(registry: Registry) -> list[str]:
    """The models whose suites run in seconds on a CPU, by name: every torch model with a suite.

    A vLLM model's suite starts a vLLM engine of its own (about a minute and 1.4 GB for the smallest
    model on a CPU, beside the gateway's own) or loads it in transformers, which generates tokens about 9x
    slower: ``verticals eval MODEL`` runs those on request.
    """
    return sorted(
        name
        for name, registered in registry.models.items()
        if registered.item.backend is Backend.TORCH and registry.evaluations_for(name)
    )


def _pick_suites(registry: Registry, model: str, suite: str | None) -> list[Evaluation]:
    suites = registry.evaluations_for(model)
    if not suites:
        raise EvalError(f"model {model!r} has no evaluation suites; its plugin registers none")
    if suite is None:
        return suites
    chosen = [s for s in suites if s.name == suite]
    if not chosen:
        known = ", ".join(s.name for s in suites)
        raise EvalError(f"model {model!r} has no suite {suite!r}; its suites: {known}")
    return chosen


def _read_dataset(registry: Registry, evaluation: Evaluation) -> list[Any]:
    adapter = registry.adapter(evaluation.adapter)
    try:
        records = adapter.source(evaluation.dataset)  # the operator door: a file the plugin ships
    except AdapterError as error:
        raise EvalError(
            f"suite {evaluation.name!r}: its data set {evaluation.dataset} is invalid: {error}"
        ) from None
    if not records:
        raise EvalError(f"suite {evaluation.name!r}: its data set {evaluation.dataset} holds no records")
    return records


def _judge(
    evaluation: Evaluation, metrics: dict[str, float], model: str, version: str, backend: str,
    examples: int, seconds: float,
) -> SuiteResult:  # fmt: skip
    missing = [name for name in evaluation.metrics if name not in metrics]
    if missing:
        raise EvalError(
            f"suite {evaluation.name!r} did not report the metrics {missing} it declares; "
            "fix its score function"
        )
    values = {name: float(metrics[name]) for name in evaluation.metrics}
    failed = [
        name
        for name, threshold in evaluation.thresholds.items()
        if math.isnan(values[name]) or not threshold.passes(values[name])
    ]
    return SuiteResult(
        model=model,
        version=version,
        suite=evaluation.name,
        backend=backend,
        metrics=values,
        thresholds={name: t.model_dump() for name, t in evaluation.thresholds.items()},
        passed=not failed,
        failed=failed,
        examples=examples,
        seconds=round(seconds, 3),
    )


class _Bar:
    """A progress bar on stderr per predict call; the backend ticks it as outputs come back."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.current: Any = None

    def open(self, label: str, length: int) -> Any:
        import click

        if not self.enabled:
            from contextlib import nullcontext

            return nullcontext()
        bar = click.progressbar(length=length, label=label, file=sys.stderr)
        self.current = bar
        return bar

    def tick(self, count: int) -> None:
        if self.current is not None:
            self.current.update(count)


def record_results(home: Path, results: list[SuiteResult]) -> str | None:
    """Store every run in the ledger of ``home``, setting each result's ``run_id``: through the admin API of
    the gateway serving ``home`` while one runs (it holds the ledger), else in the ledger file; with
    ``database_url`` in PostgreSQL directly. Returns the problem (the scores are still printed) or None.
    """
    try:
        from verticals.client import open_remote_ledger
        from verticals.config import load_settings
        from verticals.ledger._cli import open_cli_ledger

        settings = load_settings(home=home)
        remote = None if settings.database_url else open_remote_ledger(settings)
        with remote if remote is not None else open_cli_ledger(settings) as ledger:
            for result in results:
                result.run_id = ledger.record_evaluation(
                    result.model,
                    result.version,
                    result.suite,
                    result.metrics,
                    result.thresholds,
                    result.passed,
                )
    except Exception as error:  # DuckDB's lock error, the ledger's and the gateway's: scores still print
        return f"the evaluation ran but could not be stored in the ledger under {home}: {error}"
    return None
