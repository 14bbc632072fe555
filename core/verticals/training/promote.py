"""The release gate: a stored version is promoted only when every evaluation suite of its model passes.

The suites run exactly as ``verticals eval MODEL --version VERSION`` runs them (the same runner,
the model's serving backend, loaded from the candidate version's folder rather than whatever is
served now), and each run is recorded in the ledger the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verticals.evaluate import EvalError, SuiteResult, record_results, run_evaluations
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
    if not registry.evaluations_for(model):
        raise EvalError(
            f"model {model!r} has no evaluation suites, so no version of it can be shown to pass; "
            "its plugin must register one before versions can be promoted"
        )
    if version not in store.versions(model):
        known = ", ".join(store.versions(model)) or "none yet (train one with `verticals train`)"
        raise StoreError(
            f"model {model!r} has no version {version!r} in {store.cache_dir}; its versions: {known}"
        )
    return run_evaluations(registry, model, store, version=version, log_dir=log_dir)


def promote_version(
    registry: Registry, store: ModelStore, model: str, version: str, *, home: Path
) -> list[SuiteResult]:
    """Evaluate, record, then promote ``version``; raise ``PromotionRefused`` when a suite fails."""
    results = evaluate_version(registry, store, model, version, log_dir=home / "logs")
    problem = record_results(home, results)
    if problem is not None:  # a held ledger (server running) must not block the gate: keep the reason
        for result in results:
            result.extra["ledger_error"] = problem
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
    """One line naming ``result``'s suite and, for each failed metric, its value (4 decimals) and the bounds
    it needed, e.g. ``suite s: accuracy = 0.8100 (needs min 0.9)``.
    """
    parts = []
    for name in result.failed:
        bounds: dict[str, Any] = result.thresholds[name]
        limit = " and ".join(f"{key} {value}" for key, value in bounds.items() if value is not None)
        parts.append(f"{name} = {result.metrics[name]:.4f} (needs {limit})")
    return f"suite {result.suite}: {', '.join(parts)}"
