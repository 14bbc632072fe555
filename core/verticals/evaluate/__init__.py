"""The evaluation runner: ``verticals eval MODEL`` runs a model's suites through its serving backend.

Torch models run through their ``Predictor`` in batches; vLLM models through a vLLM OpenAI server
(chat completions over HTTP, concurrently), or transformers when vLLM is not installed. The names
load on first use, so that the CLI (which imports ``verticals.evaluate.commands``) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verticals.evaluate.backends import EvalError, open_backend
    from verticals.evaluate.runner import SuiteResult, record_results, run_evaluations

__all__ = ["EvalError", "SuiteResult", "open_backend", "record_results", "run_evaluations"]

_WHERE = {
    "EvalError": "backends",
    "open_backend": "backends",
    "SuiteResult": "runner",
    "run_evaluations": "runner",
    "record_results": "runner",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"verticals.evaluate.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'verticals.evaluate' has no attribute {name!r}")
