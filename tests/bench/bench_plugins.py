"""Batched vs one-at-a-time predict throughput for the vision, finance and health models.

Run: .venv/bin/pytest -o python_files='bench_*.py' tests/bench/bench_plugins.py -s

Each model is loaded from the default version the store trains (once per clone, into the shared
test model cache) and run in the same process on the same inputs, one per call (what a server
without a batcher does) and in batches of 64 (what the gateway's dynamic batcher forms). Both
figures come from the same run, so the ratio is what to read. Each pair runs with torch's default
intra-op thread count and with one thread: for models this small, extra threads mostly wait on each
other, and on a busy machine they cost far more than they give (measured: 100 ms vs 1 ms for one
8x8 digit on two cores under load).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from verticals.store import ModelStore

BATCH = 64
ITEMS = 512


def throughput(predict: Callable[[list[Any]], list[Any]], items: list[Any], batch: int) -> float:
    predict(items[:batch])  # warm up
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        predict(items[start : start + batch])
    return len(items) / (time.perf_counter() - started)


def inputs(name: str) -> tuple[Any, list[Any]]:
    if name == "vision":
        from verticals_vision import digits_spec
        from verticals_vision.digits import holdout_records

        return digits_spec(), [r["image"] for r in holdout_records()]
    if name == "finance":
        from verticals_finance import fraud_spec
        from verticals_finance.generator import generate

        return fraud_spec(), generate(ITEMS, seed=99)
    from verticals_health import diagnosis_spec
    from verticals_health.evaluation import DATASET, read_holdout

    return diagnosis_spec(), [r["features"] for r in read_holdout(DATASET)]


@pytest.mark.parametrize("threads", ["default", "1"])
@pytest.mark.parametrize("plugin", ["vision", "finance", "health"])
def test_batched_vs_unbatched_predict(plugin: str, threads: str, model_cache: Any) -> None:
    import torch

    default = torch.get_num_threads()
    torch.set_num_threads(default if threads == "default" else int(threads))
    try:
        run_pair(plugin, model_cache, torch.get_num_threads())
    finally:
        torch.set_num_threads(default)


def run_pair(plugin: str, model_cache: Any, threads: int) -> None:
    spec, items = inputs(plugin)
    items = (items * (ITEMS // len(items) + 1))[:ITEMS]
    predictor = spec.predictor()
    predictor.load(ModelStore(model_cache).pull(spec))
    single = throughput(predictor.predict, items, 1)
    batched = throughput(predictor.predict, items, BATCH)
    print(
        f"\n{spec.name} ({threads} torch threads): batch 1 {single:,.0f} {spec.unit}/s, "
        f"batch {BATCH} {batched:,.0f} {spec.unit}/s, batched/unbatched {batched / single:.1f}x"
    )
    assert batched > single
