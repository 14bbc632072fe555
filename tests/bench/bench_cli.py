"""CLI start-up time with every plugin of this repository installed.

Goals: ``verticals --help`` median under 0.5 s, ``verticals plugins list`` under 1.0 s.
Baseline in the same run: a bare ``python -c pass`` start, the floor no CLI can beat.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RUNS = 15


def median_seconds(args: list[str]) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def test_cli_start_up_time() -> None:
    listed = subprocess.run(
        [str(BIN / "verticals"), "plugins", "list", "--json"], check=True, capture_output=True, text=True
    ).stdout
    plugins = [row["name"] for row in json.loads(listed)]
    python = median_seconds([sys.executable, "-c", "pass"])
    help_time = median_seconds([str(BIN / "verticals"), "--help"])
    list_time = median_seconds([str(BIN / "verticals"), "plugins", "list"])
    print(f"\nplugins loaded: {', '.join(plugins)}")
    print(f"python -c pass           median {python * 1000:7.1f} ms (baseline)")
    print(f"verticals --help         median {help_time * 1000:7.1f} ms ({help_time / python:.1f}x python)")
    print(f"verticals plugins list   median {list_time * 1000:7.1f} ms ({list_time / python:.1f}x python)")
    assert help_time < 0.5
    assert list_time < 1.0
