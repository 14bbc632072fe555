"""vLLM compute seconds against the busy time a client measures.

`make test` checks that the seconds allocated to requests add up to the backend's own busy clock
(tests/serving/test_gateway_vllm.py). Here that clock is held against time measured outside the
gateway: three waves of four concurrent chats through `verticals serve` with idle gaps, each
request timed at the client; the seconds allocated to them (the ``verticals_compute_seconds``
counter) must match the time at least one was in flight within 10%. The client's own scheduling is
in its measure, so a busy machine skews it: hence a benchmark, not a test.

Run: pytest -o python_files='bench_*.py' tests/bench/bench_vllm_compute_seconds.py -s
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, bench_gateway.py
from bench_gateway import Serve

GATEWAY_PORT, VLLM_PORT = 18225, 18226


def compute_seconds(url: str, model: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    found = re.search(rf'^verticals_compute_seconds_total{{model="{re.escape(model)}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_compute_seconds_match_the_busy_time_a_client_measures(tmp_path: Path) -> None:
    from verticals.registry import Registry
    from verticals.serving.backends.vllm.server import vllm_available

    if not vllm_available() or "nlp/chat" not in Registry.load().models:
        pytest.skip("needs vLLM and the verticals-nlp plugin")
    cache = Path(__file__).resolve().parents[2] / ".cache" / "models"
    (tmp_path / "verticals.toml").write_text(
        f'model_cache = "{cache}"\n[models."nlp/chat"]\nport = {VLLM_PORT}\nvllm_args = ["--enforce-eager"]\n'
    )
    intervals: list[tuple[float, float]] = []

    async def one(client: httpx.AsyncClient, n: int) -> None:
        started = time.perf_counter()
        response = await client.post(
            "/v1/chat/completions",
            json={
                "model": "nlp/chat",
                "max_tokens": 8 + 8 * n,
                "temperature": 0,
                "messages": [{"role": "user", "content": f"Write {n} short sentences about the sea."}],
            },
        )
        intervals.append((started, time.perf_counter()))
        assert response.status_code == 200, response.text

    async def waves(url: str, key: str) -> None:
        async with httpx.AsyncClient(
            base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            await one(client, 1)  # warm-up, outside the measure
            intervals.clear()
            before = compute_seconds(url, "nlp/chat")
            for _ in range(3):
                await asyncio.gather(*(one(client, n) for n in range(1, 5)))
                await asyncio.sleep(0.5)
            allocated.append(compute_seconds(url, "nlp/chat") - before)

    allocated: list[float] = []
    with Serve(tmp_path, GATEWAY_PORT, ["nlp/chat"]) as serve:
        asyncio.run(waves(serve.url, serve.key()))
    union, end = 0.0, 0.0
    for start, stop in sorted(intervals):
        union += max(0.0, stop - max(start, end))
        end = max(end, stop)
    print(
        f"\n[vLLM compute seconds] allocated {allocated[0]:.3f} s; in flight at the client {union:.3f} s "
        f"({(allocated[0] / union - 1) * 100:+.1f}%, goal within 10%)"
    )
    assert allocated[0] == pytest.approx(union, rel=0.10)
