"""Live demo traffic through a running gateway, sent exactly as customers send it.

The openai SDK for chat, completion and embedding models, Open Inference Protocol v2 calls for the
rest. It has a daily rhythm (a simulated day every ``day_seconds``), skewed customers, a few bad
requests, one customer on a small budget that runs into it, and one burst of expensive requests (a
cost spike).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import click

from verticals.demo.customers import DEMO_CUSTOMERS, SPIKE_CUSTOMER, WORDS, diurnal, ensure_customers


@dataclass
class Target:
    """One model the gateway serves and how to call it."""

    name: str
    task: str
    inputs: tuple[Any, ...] = ()
    weight: float = 1.0


@dataclass
class LiveTraffic:
    """Demo traffic through a running gateway: ``server`` is its AdminClient; about ``rps`` requests per
    second on average, shaped by a simulated day of ``day_seconds`` seconds, with at most ``concurrency``
    requests at once. ``counts`` tallies answers by HTTP status.
    """

    server: Any  # verticals.client.AdminClient
    rng: random.Random
    rps: float
    day_seconds: float
    concurrency: int
    keys: dict[str, str] = field(default_factory=dict)
    prefixes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    counts: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def setup(self) -> None:
        """Create the demo customers (if missing) and a fresh key for each, and list the ready models to send
        to; raises click.ClickException when the gateway serves no ready model, and AdminError when an
        admin call fails.
        """
        ensure_customers(self.server.get, self.server.post)
        for customer in DEMO_CUSTOMERS:
            created = self.server.post("/admin/keys", {"customer": customer.name})
            self.keys[customer.name] = created["key"]
            self.prefixes.append(created["prefix"])
        self.targets = served_targets(self.server.get("/admin/models"))
        if not self.targets:
            raise click.ClickException(
                "the gateway serves no model that is ready: see `verticals models list` and its log"
            )

    def revoke_keys(self) -> None:
        """Revoke the keys ``setup`` made, so none keeps access after the run; a key that cannot be revoked is
        reported on stderr with the command to revoke it.
        """
        # Demo keys are made per run and revoked after it, so none lingers with access.
        for prefix in self.prefixes:
            try:
                self.server.post(f"/admin/keys/{prefix}/revoke")
            except Exception:
                click.echo(f"could not revoke demo key {prefix}: `verticals keys revoke {prefix}`", err=True)

    def run(self, duration: float) -> Counter[int]:
        """Send traffic for ``duration`` seconds (Poisson arrivals at ``rps`` x the time of the simulated day,
        weighted customers, a burst of long answers from 60% to 65% of the run) with a progress bar;
        returns the count of answers per HTTP status.
        """
        from openai import OpenAI
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        clients = {
            name: OpenAI(base_url=f"{self.server.base_url}/v1", api_key=key, max_retries=0, timeout=60)
            for name, key in self.keys.items()
        }
        weights = [c.weight for c in DEMO_CUSTOMERS]
        spike = (0.6 * duration, 0.65 * duration)  # the cost spike: a burst of long answers
        start = time.monotonic()
        futures: list[Future[None]] = []
        with (
            ThreadPoolExecutor(self.concurrency) as pool,
            Progress(
                TextColumn("demo traffic"),
                BarColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
            ) as progress,
        ):
            task = progress.add_task("traffic", total=duration, status="")
            next_at = 0.0
            while (elapsed := time.monotonic() - start) < duration:
                if elapsed < next_at:
                    time.sleep(min(next_at - elapsed, 0.2))
                    progress.update(task, completed=elapsed, status=self._status())
                    continue
                rate = self.rps * diurnal((elapsed / self.day_seconds) % 1.0) / 0.6
                next_at = elapsed + self.rng.expovariate(rate)
                in_spike = spike[0] <= elapsed < spike[1]
                customer = (
                    SPIKE_CUSTOMER
                    if in_spike and self.rng.random() < 0.5
                    else self.rng.choices([c.name for c in DEMO_CUSTOMERS], weights)[0]
                )
                futures = [f for f in futures if not f.done()]
                if len(futures) < self.concurrency * 4:  # never queue without bound behind a slow gateway
                    futures.append(pool.submit(self._one, clients[customer], customer, in_spike))
            progress.update(task, completed=duration, status=self._status())
        return self.counts

    def _status(self) -> str:
        with self.lock:
            total = sum(self.counts.values())
            failed = sum(n for status, n in self.counts.items() if status >= 400)
        return f"{total} requests, {failed} refused or failed"

    def _one(self, client: Any, customer: str, in_spike: bool) -> None:
        target = self.rng.choices(self.targets, [t.weight for t in self.targets])[0]
        big = in_spike or any(c.big_prompts for c in DEMO_CUSTOMERS if c.name == customer)
        status = call(
            client,
            target,
            self.keys[customer],
            self.server.base_url,
            self.rng,
            big=big,
            broken=self.rng.random() < 0.02,
        )
        with self.lock:
            self.counts[status] += 1


def served_targets(models: list[dict[str, Any]]) -> list[Target]:
    """Ready models and how to call them; chat-like models get more traffic, as in real life."""
    from verticals.registry import Registry

    registry = Registry.load()
    out = []
    for row in models:
        if not row.get("ready", True) or row["name"] not in registry.models:
            continue
        spec = registry.model(row["name"])
        task = str(spec.task)
        if task == "transcription" or (task not in ("chat", "completion", "embedding") and not spec.inputs):
            continue  # needs audio or a payload we cannot make up
        if task not in ("chat", "completion", "embedding") and any(
            t.datatype == "BYTES" and spec.input_adapter for t in spec.inputs
        ):
            continue  # bytes of an image or a document: no honest synthetic stand-in
        weight = {"chat": 3.0, "completion": 1.5, "embedding": 1.5}.get(task, 1.0)
        out.append(Target(spec.name, task, tuple(spec.inputs), weight))
    return out


def call(
    client: Any, target: Target, key: str, base_url: str, rng: random.Random, *, big: bool, broken: bool
) -> int:
    """Send one request; returns the HTTP status (0 when the gateway could not be reached)."""
    import httpx
    import openai

    words = rng.randint(200, 600) if big else rng.randint(5, 60)
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    try:
        if broken:
            # a client bug: a v2 request whose data does not match its shape -> 400, metered as an error
            body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1.0]}]}
            return _v2(base_url, target.name, key, body)
        if target.task == "chat":
            client.chat.completions.create(
                model=target.name, messages=[{"role": "user", "content": text}], max_tokens=512 if big else 64
            )
        elif target.task == "completion":
            client.completions.create(model=target.name, prompt=text, max_tokens=512 if big else 64)
        elif target.task == "embedding":
            client.embeddings.create(model=target.name, input=[text] * (8 if big else 1))
        else:
            rows = 64 if big else rng.randint(1, 8)
            return _v2(
                base_url,
                target.name,
                key,
                {"inputs": [_tensor(spec, rows, text, rng) for spec in target.inputs]},
            )
    except openai.APIStatusError as error:
        return int(error.status_code)
    except (openai.APIConnectionError, httpx.HTTPError):
        return 0
    return 200


def _v2(base_url: str, model: str, key: str, body: dict[str, Any]) -> int:
    import httpx

    response = httpx.post(
        f"{base_url}/v2/models/{model}/infer",
        json=body,
        timeout=60,
        headers={"Authorization": f"Bearer {key}"},
    )
    return response.status_code


def _tensor(spec: Any, rows: int, text: str, rng: random.Random) -> dict[str, Any]:
    shape = [
        rows if size == -1 and i == 0 else (1 if size == -1 else size) for i, size in enumerate(spec.shape)
    ]
    count = math.prod(shape)
    if spec.datatype == "BYTES":
        data: list[Any] = [text] * count
    elif spec.datatype.startswith(("INT", "UINT")):
        data = [rng.randint(0, 9) for _ in range(count)]
    elif spec.datatype == "BOOL":
        data = [rng.random() < 0.5 for _ in range(count)]
    else:
        # in [0, 1): a valid pixel intensity for an image model and a plausible scaled feature;
        # negative values would make every request to an image model a 400
        data = [round(rng.random(), 4) for _ in range(count)]
    return {"name": spec.name, "datatype": spec.datatype, "shape": shape, "data": data}
