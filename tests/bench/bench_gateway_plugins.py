"""Per-plugin throughput and latency through the gateway, and batched vs unbatched serving.

Run: .venv/bin/pytest -o python_files='bench_*.py' tests/bench/bench_gateway_plugins.py -s
(about 3 minutes on 2 cores; needs the model cache `make test` fills and espeak-ng).

Two `verticals serve` subprocesses run side by side on a temporary data directory and the shared
model cache (the clone's ``.cache/models``):

- port 18700, the default config: the dynamic batcher with ``ServingOptions``' defaults;
- port 18701, the compared models with ``max_batch_size = 1`` in ``[models."NAME"]`` of its
  verticals.toml, so every request runs through ``predict`` alone ("unbatched").

Each model gets a fixed number of requests from 16 concurrent clients (httpx.AsyncClient), each request
carrying one real input (a digit PNG, a transaction, a patient record, a sentence, an espeak-ng clip)
through the API a customer would use, with a customer key: auth, limits and metering are on. Every
answer is checked (right digit, score matching the formula, transcript within WER 0.25, ...) and the
ledger must hold one event per request. Batched and unbatched alternate in rounds, so load spikes on
the shared machine hit both; the ratio is what to read. Next to req/s and p50/p99 the table shows
where the time goes: the predict time per request the gateway measured (the compute seconds it
bills), the gateway process's CPU per request, the load generator's own CPU share (it shares the
cores) and the load average.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, gateway_plugins_workloads.py
from gateway_plugins_workloads import Workload
from gateway_plugins_workloads import workloads as all_workloads

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
CLIENTS = 16
ROUNDS = 3  # batched and unbatched alternate this many times, so load spikes hit both
BATCHED_PORT = 18700
UNBATCHED_PORT = 18701
ADMIN = "vadm_bench_gateway_plugins"


@dataclass
class Run:
    """One model under one config, summed over its rounds."""

    model: str
    config: str
    latencies: list[float] = field(default_factory=list)  # timed requests only
    seconds: float = 0.0  # wall time of the timed requests
    correct: int = 0
    calls: int = 0  # every request sent, warm-ups included (what the ledger and the counters see)
    loads: list[float] = field(default_factory=list)  # 1-minute load average at each round's start and end
    errors: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0  # CPU the load generator itself used during the timed requests
    gateway_cpu_s: float = 0.0  # CPU of the gateway process (all its threads) over all calls
    compute_s: float = 0.0  # predict time the gateway measured and charged (its compute seconds)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000

    @property
    def model_ms(self) -> float:
        return self.compute_s / self.calls * 1000

    @property
    def gateway_ms(self) -> float:
        return self.gateway_cpu_s / self.calls * 1000

    @property
    def client_share(self) -> float:
        return self.client_cpu_s / self.seconds

    @property
    def load(self) -> str:
        return f"{min(self.loads):.1f}-{max(self.loads):.1f}"


# --- gateways and load -------------------------------------------------------------------------


class Serve:
    """`verticals serve` in a subprocess, on its own data directory and verticals.toml."""

    def __init__(self, home: Path, port: int, models: Sequence[str], config: str, cache: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "verticals.toml").write_text(config)
        self.home, self.models, self.url = home, models, f"http://127.0.0.1:{port}"
        args = [str(BIN / "verticals"), "serve", "--port", str(port), "--no-access-log", "--no-pull"]
        for model in models:
            args += ["--model", model]
        env = {
            **os.environ,
            "VERTICALS_HOME": str(home),
            "VERTICALS_CONFIG": str(home / "verticals.toml"),
            "VERTICALS_MODEL_CACHE": str(cache),
            "VERTICALS_ADMIN_TOKEN": ADMIN,
            "HF_HUB_OFFLINE": "1",
        }
        self.log = home / "serve.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(args, env=env, stdout=log, stderr=log, cwd=home)

    def wait(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        served = {m["name"]: m["ready"] for m in self.admin("GET", "/admin/models").json()}
        missing = [m for m in self.models if not served.get(m)]
        assert not missing, (
            f"the gateway at {self.url} does not serve {missing}; run `make test` once to fill the model "
            f"cache ({self.log} says:\n{self.log.read_text()[-2000:]})"
        )

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = httpx.request(
            method, self.url + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60, **kwargs
        )
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response

    def key(self) -> str:
        self.admin("POST", "/admin/customers", json={"name": "bench", "plan": "pro"})
        return str(self.admin("POST", "/admin/keys", json={"customer": "bench"}).json()["key"])

    def compute_seconds(self, model: str) -> float:
        """The predict time the gateway has charged to ``model`` so far (Prometheus counter)."""
        text = httpx.get(self.url + "/metrics", timeout=30).text
        found = re.search(
            rf'^verticals_compute_seconds_total{{model="{re.escape(model)}"}} (\S+)$', text, re.M
        )
        return float(found.group(1)) if found else 0.0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the gateway process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def events(self) -> dict[str, dict[str, Any]]:
        self.admin("POST", "/admin/flush")
        return {row["model"]: row for row in self.admin("GET", "/admin/usage?by=model").json()}

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def load(url: str, key: str, workload: Workload, first: int, count: int, run: Run) -> None:
    """Requests ``first .. first + count - 1`` from CLIENTS concurrent clients, after one warm-up each."""
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=300) as client:

        async def call(i: int, timed: bool) -> None:
            started = time.perf_counter()
            response = await client.post(workload.path, **workload.body(i))
            elapsed = time.perf_counter() - started
            run.calls += 1
            if response.status_code != 200:
                run.errors.append(f"{response.status_code} {response.text[:300]}")
            elif timed:
                run.latencies.append(elapsed)
                run.correct += workload.check(response, i)

        await asyncio.gather(*(call(first + i, False) for i in range(CLIENTS)))
        indices = iter(range(first, first + count))

        async def client_loop() -> None:
            for i in indices:
                await call(i, True)

        run.loads.append(os.getloadavg()[0])
        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(CLIENTS)))
        run.seconds += time.perf_counter() - started
        run.client_cpu_s += time.process_time() - cpu
        run.loads.append(os.getloadavg()[0])


# --- the benchmark -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workloads(tmp_path_factory: pytest.TempPathFactory) -> list[Workload]:
    try:
        return all_workloads(tmp_path_factory.mktemp("speech"))
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def gateways(
    tmp_path_factory: pytest.TempPathFactory, workloads: list[Workload]
) -> Iterator[dict[str, tuple[Serve, str]]]:
    from verticals.serving.gateway import ServingOptions

    cache = Path(os.environ.get("VERTICALS_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
    home = tmp_path_factory.mktemp("gateway-plugins")
    compared = [w.model for w in workloads if w.compare]
    unbatched = "".join(f'[models."{m}"]\nmax_batch_size = 1\n\n' for m in compared)
    defaults = ServingOptions()
    print(
        f"\nbatched: the defaults (max_batch_size {defaults.max_batch_size}, max_wait_ms "
        f"{defaults.max_wait_ms}); unbatched: max_batch_size = 1 for {', '.join(compared)}"
    )
    started = time.perf_counter()
    # Both start at once (their model loads overlap); they then take turns, so only one is under load.
    serves = {
        "batched": Serve(home / "batched", BATCHED_PORT, [w.model for w in workloads], "", cache),
        "unbatched": Serve(home / "unbatched", UNBATCHED_PORT, compared, unbatched, cache),
    }
    try:
        for serve in serves.values():
            serve.wait()
        print(f"both gateways ready in {time.perf_counter() - started:.1f} s")
        yield {config: (serve, serve.key()) for config, serve in serves.items()}
    finally:
        for serve in serves.values():
            serve.stop()


RESULTS: list[Run] = []


def measure(gateways: dict[str, tuple[Serve, str]], workload: Workload) -> None:
    """Batched, and unbatched when compared, in alternating rounds so both see the same load."""
    configs = ["batched", "unbatched"] if workload.compare else ["batched"]
    rounds = ROUNDS if workload.compare else 1
    runs = {config: Run(workload.model, config) for config in configs}
    chunk = workload.requests // rounds
    for number in range(rounds):
        for config in configs if number % 2 == 0 else configs[::-1]:
            serve, key = gateways[config]
            run = runs[config]
            compute, cpu = serve.compute_seconds(workload.model), serve.cpu_seconds()
            asyncio.run(load(serve.url, key, workload, number * chunk, chunk, run))
            run.compute_s += serve.compute_seconds(workload.model) - compute
            run.gateway_cpu_s += serve.cpu_seconds() - cpu
    for config, run in runs.items():
        assert not run.errors, f"{run.model} ({config}): {len(run.errors)} failed, e.g. {run.errors[0]}"
        share = run.correct / len(run.latencies)
        assert share >= workload.min_correct, f"{run.model} ({config}): only {share:.1%} right answers"
        RESULTS.append(run)
        print(
            f"{run.model:18} {config:9} {run.rps:8.1f} req/s  p50 {run.percentile(0.5):7.1f} ms  p99 "
            f"{run.percentile(0.99):7.1f} ms  model {run.model_ms:6.2f} ms/req  gateway cpu "
            f"{run.gateway_ms:6.2f} ms/req  client cpu {run.client_share:.0%}  right {share:.1%}  "
            f"load {run.load}"
        )
        if workload.audio_seconds:
            print(
                f"{run.model:18} {workload.audio_seconds:.2f} s clips: real-time factor "
                f"{run.model_ms / 1000 / workload.audio_seconds:.2f} (predict time / audio time), "
                f"{run.rps * workload.audio_seconds:.2f} audio seconds transcribed per second"
            )


@pytest.mark.parametrize(
    "model",
    [
        "vision/digits",
        "finance/fraud",
        "health/diagnosis",
        "tabular/linear",
        "nlp/embed",
        "nlp/classify",
        "echo/chat",
        "speech/transcribe",
    ],
)
def test_model_through_the_gateway(
    model: str, workloads: list[Workload], gateways: dict[str, tuple[Serve, str]]
) -> None:
    measure(gateways, next(w for w in workloads if w.model == model))


def test_every_request_is_metered(gateways: dict[str, tuple[Serve, str]]) -> None:
    """The ledger keeps up under load: one usage event per request sent, none an error."""
    for config, (serve, _) in gateways.items():
        events = serve.events()
        for run in RESULTS:
            if run.config == config:
                row = events.get(run.model, {})
                assert (row.get("requests"), row.get("errors")) == (run.calls, 0), (
                    f"{config} {run.model}: {row}"
                )


def test_report() -> None:
    if not RESULTS:
        pytest.skip("no model was measured")
    print(f"\n{CLIENTS} concurrent clients; latency per request as the client sees it")
    print(
        f"{'model':18} {'config':9} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'model ms':>8} {'gw cpu ms':>9} {'client':>6} {'load':>8}"
    )
    for run in RESULTS:
        print(
            f"{run.model:18} {run.config:9} {len(run.latencies):8d} {run.rps:8.1f} "
            f"{run.percentile(0.5):8.1f} {run.percentile(0.99):8.1f} {run.model_ms:8.2f} "
            f"{run.gateway_ms:9.2f} {run.client_share:6.0%} {run.load:>8}"
        )
    print("model ms: predict time per request as the gateway measures it (the compute seconds it bills);")
    print("gw cpu ms: CPU the gateway process spent per request (HTTP, auth, adapters, metering, model);")
    print("client: CPU the load generator used, as a share of one core; load: 1-minute load average")
    by = {(r.model, r.config): r for r in RESULTS}
    print("\nbatched / unbatched")
    for model in dict.fromkeys(r.model for r in RESULTS):
        batched, single = by.get((model, "batched")), by.get((model, "unbatched"))
        if batched and single:
            print(
                f"{model:18} throughput x{batched.rps / single.rps:.2f}  p50 x"
                f"{batched.percentile(0.5) / single.percentile(0.5):.2f}  p99 x"
                f"{batched.percentile(0.99) / single.percentile(0.99):.2f}  model ms x"
                f"{batched.model_ms / single.model_ms:.2f}  gateway cpu ms x"
                f"{batched.gateway_ms / single.gateway_ms:.2f}"
            )
    loads = [load for run in RESULTS for load in run.loads]
    print(
        f"1-minute load average while measuring: median {statistics.median(loads):.1f}, max {max(loads):.1f}"
    )
