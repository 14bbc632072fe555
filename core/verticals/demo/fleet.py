"""The demo company's fleet and what its requests take on it: devices, latencies, compute seconds.

The fleet, for whatever models are registered:

- the LLMs (models served by vLLM) on GPUs: one L4 up the whole period (``l4`` in the cost book), and
  one H100 (``h100``) that the company starts on weekdays for the busy hours, ``PEAK_HOURS`` UTC, and
  stops after; while it is up it takes ``H100_SHARE`` of the LLM requests. Each weekday's H100 is a
  device record of its own (same id, its own up/down times), as an autoscaler would leave them. On the
  day of the cost spike (``surge``) the autoscaler runs two H100s for ``SURGE_HOURS``, which take
  ``SURGE_SHARE`` of the LLM requests: the spike costs GPU hours, and no device is busier than it was up.
- every other model on shared CPU nodes (``cpu``), up the whole period: up to ``MODELS_PER_NODE``
  small models each, and the heavy CPU models (transcription) replicated on every node, so a
  request for them counts half on each (the ledger's rule for replicas). A node is one device paid
  for once, however many models it serves.

Latencies come from ``LATENCY_MS``: p50/p95 measured on this machine (2 shared cores, no GPU) for one
request at a time through the gateway, at the request size in ``per_units``; a request ``k`` times
that size takes ``k`` times as long (chat: output tokens; transcription: audio seconds). Each latency
is drawn from the log-normal with that median and 95th percentile. A request's compute seconds (the
busy time it bills) is its latency less ``GATEWAY_MS`` of the gateway's own work.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

PEAK_HOURS = (10, 20)  # UTC hours the H100 is up on weekdays: the top of ``diurnal``'s curve
H100_SHARE = 0.5  # of the LLM requests while the H100 is up (the L4 takes the rest)
SURGE_HOURS = (6, 24)  # UTC hours two H100s are up on the day of the cost spike
SURGE_SHARE = 0.75
MODELS_PER_NODE = 4
HEAVY_TASKS = frozenset({"transcription"})  # replicated on every CPU node
GATEWAY_MS = 1.5  # the gateway's own work per request (auth, metering): not the model's busy time


@dataclass(frozen=True)
class Measured:
    """p50 and p95 latency (ms) measured here for one request of ``per_units`` units (units out for
    chat, audio seconds for transcription; 0: latency does not scale with the request's size).
    """

    p50_ms: float
    p95_ms: float
    per_units: float = 0.0

    def draw(self, rng: random.Random, units: float) -> float:
        """A latency (ms) for a request of ``units`` units: log-normal with this median and p95, at most
        twice the p95 (beyond it the gateway's clients give up), times the request's size over
        ``per_units``.
        """
        sigma = math.log(self.p95_ms / self.p50_ms) / 1.645
        scale = units / self.per_units if self.per_units and units else 1.0
        return min(self.p50_ms * math.exp(rng.gauss(0.0, sigma)), 2 * self.p95_ms) * scale


# Measured on this machine on 30 Nov 2026 (2 shared cores, load average 12-15 from other work, no GPU),
# 12 requests per model, one at a time, through `verticals serve` with every plugin installed:
#   VERTICALS_HOME=/tmp/m verticals serve --port 18931 &
#   VERTICALS_HOME=/tmp/m .venv/bin/python tests/bench/measure_demo_latency.py 12
# nlp/chat: SmolLM2-135M on vLLM's CPU backend, 64 tokens out (its p95 is the shared machine's queue);
# speech/transcribe: Whisper tiny.en on a 2.9 s espeak-ng clip; the others one row, image or sentence.
LATENCY_MS: dict[str, Measured] = {
    "nlp/chat": Measured(8184.7, 45708.6, per_units=64),
    "echo/chat": Measured(7.5, 16.4),  # echoes its prompt: as fast for 200 tokens as for 7
    "nlp/embed": Measured(25.1, 67.6),
    "nlp/classify": Measured(30.8, 44.5),
    "speech/transcribe": Measured(1010.6, 2084.2, per_units=2.9),
    "vision/digits": Measured(11.0, 30.1),
    "tabular/linear": Measured(7.0, 14.0),
    "health/diagnosis": Measured(10.5, 21.9),
    "finance/fraud": Measured(7.8, 12.3),
}
# A model installed later and not measured here: by where it runs.
UNMEASURED = {"gpu": Measured(8184.7, 45708.6, per_units=64), "cpu": Measured(10.0, 30.0)}


@dataclass(frozen=True)
class DeviceSpan:
    """One device up from ``up_at`` to ``down_at`` (aware UTC) serving ``models`` (names)."""

    device_id: str
    device_class: str
    models: tuple[str, ...]
    up_at: datetime
    down_at: datetime


def on_gpu(spec: Any) -> bool:
    """Whether the company runs ``spec`` (a ModelSpec) on GPUs: the models vLLM serves (the LLMs)."""
    return str(spec.backend) == "vllm"


def measured(spec: Any) -> Measured:
    """The latency table's row for ``spec``, or the stand-in for where it runs."""
    return LATENCY_MS.get(spec.name) or UNMEASURED["gpu" if on_gpu(spec) else "cpu"]


def plan_fleet(
    specs: Sequence[Any], start: datetime, end: datetime, surge: date | None = None
) -> list[DeviceSpan]:
    """The devices up in ``[start, end)`` (aware UTC) for the registered ``specs`` (ModelSpecs), as the
    module docstring describes: an L4 and weekday H100s for the LLMs (two H100s on the ``surge`` day),
    shared CPU nodes for the rest.
    """
    llms = tuple(sorted(s.name for s in specs if on_gpu(s)))
    fleet: list[DeviceSpan] = []
    if llms:
        fleet.append(DeviceSpan("demo-gpu-l4-0", "l4", llms, start, end))
        for up, down in peak_windows(start, end, surge):
            fleet.append(DeviceSpan("demo-gpu-h100-0", "h100", llms, up, down))
            if up.date() == surge:
                fleet.append(DeviceSpan("demo-gpu-h100-1", "h100", llms, up, down))
    small = sorted((s for s in specs if not on_gpu(s)), key=lambda s: s.name)
    heavy = tuple(s.name for s in small if str(s.task) in HEAVY_TASKS)
    light = [s.name for s in small if str(s.task) not in HEAVY_TASKS]
    nodes = max(1, math.ceil(len(light) / MODELS_PER_NODE)) if small else 0
    for node in range(nodes):
        models = tuple(sorted(heavy + tuple(light[node::nodes])))
        fleet.append(DeviceSpan(f"demo-cpu-node-{node}", "cpu", models, start, end))
    return fleet


def peak_windows(
    start: datetime, end: datetime, surge: date | None = None
) -> list[tuple[datetime, datetime]]:
    """The H100's windows inside ``[start, end)`` (clipped to it), oldest first: ``PEAK_HOURS`` on weekdays,
    ``SURGE_HOURS`` on the ``surge`` day (whichever day of the week it is).
    """
    out = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        first, last = SURGE_HOURS if day.date() == surge else PEAK_HOURS
        up, down = day + timedelta(hours=first), day + timedelta(hours=last)
        up, down = max(up, start), min(down, end)
        if (day.weekday() < 5 or day.date() == surge) and up < down:
            out.append((up, down))
        day += timedelta(days=1)
    return out


def device_class(spec: Any, ts: datetime, rng: random.Random, surge: date | None = None) -> str:
    """Where a request for ``spec`` at ``ts`` runs: the H100s for ``H100_SHARE`` of LLM requests in the
    weekday peak (``SURGE_SHARE`` in the ``surge`` day's ``SURGE_HOURS``), the L4 otherwise; ``cpu`` for
    every other model.
    """
    if not on_gpu(spec):
        return "cpu"
    if ts.date() == surge:
        share = SURGE_SHARE if SURGE_HOURS[0] <= ts.hour < SURGE_HOURS[1] else 0.0
    else:
        share = H100_SHARE if ts.weekday() < 5 and PEAK_HOURS[0] <= ts.hour < PEAK_HOURS[1] else 0.0
    return "h100" if share and rng.random() < share else "l4"
