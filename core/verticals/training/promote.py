"""The release gate: a stored version is promoted only when every evaluation suite of its model passes.

The suites run through the model's serving backend (``verticals.evaluate.open_backend``) loaded
from the candidate version's folder, not from whatever is served now, and each run is recorded in
the ledger like ``verticals eval``'s.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from verticals.evaluate import EvalError, SuiteResult, open_backend
from verticals.evaluation import Evaluation
from verticals.registry import Registry
from verticals.store import ModelStore, StoreError


class PromotionRefused(RuntimeError):
    """A version whose evaluation failed; the message lists the failing metrics."""

    def __init__(self, message: str, results: list[SuiteResult]) -> None:
        super().__init__(message)
        self.results = results


def evaluate_version(
    registry: Registry, store: ModelStore, model: str, version: str, *, log_dir: Path
) -> list[SuiteResult]:
    """Score ``version`` of ``model`` on each of its suites."""
    spec = registry.model(model)
    suites = registry.evaluations_for(model)
    if not suites:
        raise EvalError(
            f"model {model!r} has no evaluation suites, so no version of it can be shown to pass; "
            "its plugin must register one before versions can be promoted"
        )
    if version not in store.versions(model):
        known = ", ".join(store.versions(model)) or "none yet (train one with `verticals train`)"
        raise StoreError(
            f"model {model!r} has no version {version!r} in {store.cache_dir}; its versions: {known}"
        )
    version_dir = store.path(model, version)
    results = []
    with open_backend(spec, version_dir, tick=lambda _: None, log_dir=log_dir) as (backend, predict):
        for suite in suites:
            records = registry.adapter(suite.adapter).read(suite.dataset)
            started = time.perf_counter()
            metrics = suite.score(records, predict)
            results.append(
                judge(suite, metrics, version, backend, len(records), time.perf_counter() - started)
            )
    return results


def judge(
    suite: Evaluation, metrics: dict[str, float], version: str, backend: str, examples: int, seconds: float
) -> SuiteResult:
    missing = [name for name in suite.metrics if name not in metrics]
    if missing:
        raise EvalError(f"suite {suite.name!r} did not report the metrics {missing} it declares")
    values = {name: float(metrics[name]) for name in suite.metrics}
    failed = [
        name
        for name, bound in suite.thresholds.items()
        if math.isnan(values[name]) or not bound.passes(values[name])
    ]
    return SuiteResult(
        model=suite.model,
        version=version,
        suite=suite.name,
        backend=backend,
        metrics=values,
        thresholds={name: bound.model_dump() for name, bound in suite.thresholds.items()},
        passed=not failed,
        failed=failed,
        examples=examples,
        seconds=round(seconds, 3),
    )


def promote_version(
    registry: Registry, store: ModelStore, model: str, version: str, *, home: Path
) -> list[SuiteResult]:
    """Evaluate, record, then promote ``version``; raise ``PromotionRefused`` when a suite fails."""
    results = evaluate_version(registry, store, model, version, log_dir=home / "logs")
    record_runs(home, results)
    failures = [describe_failure(result) for result in results if not result.passed]
    if failures:
        raise PromotionRefused(
            f"version {version} of {model} is not promoted: its evaluation failed: {'; '.join(failures)}. "
            f"Train a better version (`verticals train {model}`) or fix its data, then promote that one",
            results,
        )
    store.promote(model, version)
    return results


def describe_failure(result: SuiteResult) -> str:
    parts = []
    for name in result.failed:
        bounds: dict[str, Any] = result.thresholds[name]
        limit = " and ".join(f"{key} {value}" for key, value in bounds.items() if value is not None)
        parts.append(f"{name} = {result.metrics[name]:.4f} (needs {limit})")
    return f"suite {result.suite}: {', '.join(parts)}"


def record_runs(home: Path, results: list[SuiteResult]) -> None:
    """Keep the gate's evidence in the ledger; a held ledger (server running) must not block the gate."""
    try:
        from verticals.ledger import Ledger

        with Ledger.open(home) as ledger:
            for result in results:
                result.run_id = ledger.record_evaluation(
                    result.model,
                    result.version,
                    result.suite,
                    result.metrics,
                    result.thresholds,
                    result.passed,
                )
    except Exception as error:  # DuckDB's lock error among others; the verdict stands without the record
        for result in results:
            result.extra["ledger_error"] = f"{type(error).__name__}: {error}"
