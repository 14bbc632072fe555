"""The requests of bench_gateway_plugins.py: one real input per call for each model, and a check of
each answer (right digit, score matching the formula, transcript within WER 0.25, ...)."""

from __future__ import annotations

import base64
import io
import json
import math
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SPOKEN = "Please send the invoice for March to the billing team."

Check = Callable[[httpx.Response, int], bool]


@dataclass
class Workload:
    """``requests`` calls of one model: ``body(i)`` gives call i's httpx arguments, ``check`` its verdict."""

    model: str
    path: str
    body: Callable[[int], dict[str, Any]]
    check: Check
    requests: int
    min_correct: float = 1.0  # share of right answers required (a classifier may miss a few)
    compare: bool = False  # also measured with max_batch_size = 1
    audio_seconds: float = 0.0  # length of each request's clip, for the real-time factor


def v2(name: str, data: Any, datatype: str = "BYTES", shape: Sequence[int] = (1,)) -> dict[str, Any]:
    body = {"inputs": [{"name": name, "datatype": datatype, "shape": list(shape), "data": data}]}
    return {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


def first_output(response: httpx.Response) -> Any:
    """The first item of every output tensor, by name (JSON strings decoded); a lone output as is."""
    items = {}
    for tensor in response.json()["outputs"]:
        value = tensor["data"][0]
        if isinstance(value, str) and value[:1] in "[{":
            value = json.loads(value)
        items[tensor["name"]] = value
    return next(iter(items.values())) if len(items) == 1 else items


def digits_workload() -> Workload:
    import numpy as np
    from PIL import Image
    from verticals_vision.digits import holdout_records

    pngs: list[tuple[str, int]] = []
    for record in holdout_records()[:128]:
        # A customer's scan: dark ink on white, 64x64 RGB, decoded and normalised by the gateway.
        ink = (255 - record["image"] / 16 * 255).astype(np.uint8)
        image = Image.fromarray(ink).resize((64, 64), Image.Resampling.BICUBIC).convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        pngs.append((base64.b64encode(buffer.getvalue()).decode(), int(record["label"])))
    bodies = [v2("image", [png]) for png, _ in pngs]

    def check(response: httpx.Response, i: int) -> bool:
        return bool(first_output(response)["label"] == pngs[i % len(pngs)][1])

    return Workload(
        "vision/digits", "/v2/models/vision/digits/infer", lambda i: bodies[i % len(bodies)], check, 480,
        min_correct=0.9, compare=True,
    )  # fmt: skip


def fraud_workload() -> Workload:
    from verticals_finance.generator import generate

    rows = generate(256, seed=17)
    bodies = [v2("transaction", [json.dumps(row)]) for row in rows]

    def check(response: httpx.Response, i: int) -> bool:
        score = first_output(response)
        return bool(
            score["transaction_id"] == rows[i % len(rows)]["transaction_id"]
            and 0.0 <= score["score"] <= 1.0
            and score["reason_codes"]
        )

    return Workload(
        "finance/fraud", "/v2/models/finance/fraud/infer", lambda i: bodies[i % len(bodies)], check, 480,
        compare=True,
    )  # fmt: skip


def diagnosis_workload() -> Workload:
    from verticals_health.evaluation import DATASET, read_holdout
    from verticals_health.features import NAMES

    cases = read_holdout(DATASET)
    bodies = [v2("features", [json.dumps(dict(zip(NAMES, c["features"], strict=True)))]) for c in cases]

    def check(response: httpx.Response, i: int) -> bool:
        # The plugin labels malignant cases 1 (scikit-learn's target, flipped).
        output = first_output(response)
        label = cases[i % len(cases)]["label"]
        return bool(output["reason_codes"]) and output["diagnosis"] == ("malignant" if label else "benign")

    return Workload(
        "health/diagnosis", "/v2/models/health/diagnosis/infer", lambda i: bodies[i % len(bodies)], check,
        480, min_correct=0.9, compare=True,
    )  # fmt: skip


def linear_workload() -> Workload:
    from verticals.default_plugins.tabular import BIAS, WEIGHTS

    rows = [[(i % 7) / 7, (i % 5) / 5, (i % 3) / 3, (i % 11) / 11 - 0.5] for i in range(256)]
    bodies = [v2("features", row, "FP32", (1, 4)) for row in rows]

    def check(response: httpx.Response, i: int) -> bool:
        row = rows[i % len(rows)]
        expected = 1 / (1 + math.exp(-(sum(w * x for w, x in zip(WEIGHTS, row, strict=True)) + BIAS)))
        return abs(float(first_output(response)) - expected) < 1e-5

    return Workload(
        "tabular/linear", "/v2/models/tabular/linear/infer", lambda i: bodies[i % len(bodies)], check, 960,
        compare=True,
    )  # fmt: skip


TICKETS = [
    ("I was charged twice for my subscription this month", "billing"),
    ("The parcel never arrived and tracking has not moved in a week", "shipping"),
    ("I cannot sign in, the password reset email never comes", "login"),
    ("Please refund the duplicate payment on my credit card", "billing"),
    ("My order was delivered to the wrong address", "shipping"),
    ("Two-factor authentication keeps rejecting my code", "login"),
]
LABELS = ["billing", "shipping", "login"]


def embed_workload() -> Workload:
    def body(i: int) -> dict[str, Any]:
        return {"json": {"model": "nlp/embed", "input": f"{TICKETS[i % len(TICKETS)][0]} (ticket {i})"}}

    def check(response: httpx.Response, i: int) -> bool:
        vector = response.json()["data"][0]["embedding"]
        return len(vector) == 384 and abs(math.fsum(v * v for v in vector) - 1.0) < 1e-3

    return Workload("nlp/embed", "/v1/embeddings", body, check, 320, compare=True)


def classify_workload() -> Workload:
    bodies = [v2("text", [json.dumps({"text": text, "labels": LABELS})]) for text, _ in TICKETS]

    def check(response: httpx.Response, i: int) -> bool:
        return bool(first_output(response)["label"] == TICKETS[i % len(TICKETS)][1])

    return Workload(
        "nlp/classify", "/v2/models/nlp/classify/infer", lambda i: bodies[i % len(bodies)], check, 320,
        min_correct=0.66,
    )  # fmt: skip


def echo_workload() -> Workload:
    def body(i: int) -> dict[str, Any]:
        message = f"hello gateway, this is request number {i}"
        return {"json": {"model": "echo/chat", "messages": [{"role": "user", "content": message}]}}

    def check(response: httpx.Response, i: int) -> bool:
        return bool(response.json()["choices"][0]["message"]["content"].endswith(f"number {i}"))

    return Workload("echo/chat", "/v1/chat/completions", body, check, 960)


def speech_workload(wav: bytes) -> Workload:
    from verticals_speech.audio import read_audio
    from verticals_speech.wer import error_rates

    def body(i: int) -> dict[str, Any]:
        return {"data": {"model": "speech/transcribe"}, "files": {"file": ("clip.wav", wav, "audio/wav")}}

    def check(response: httpx.Response, i: int) -> bool:
        return float(error_rates([SPOKEN], [response.json()["text"]])["wer"]) <= 0.25

    seconds = float(read_audio(wav)[0].seconds)
    return Workload("speech/transcribe", "/v1/audio/transcriptions", body, check, 32, audio_seconds=seconds)


def workloads(scratch: Path) -> list[Workload]:
    """Every model's workload; ``scratch`` receives the espeak-ng clip."""
    wav = scratch / "clip.wav"
    try:
        subprocess.run(["espeak-ng", "-w", str(wav), SPOKEN], check=True, capture_output=True)
    except FileNotFoundError:
        raise RuntimeError(
            "espeak-ng is not installed; `make system` installs it (Debian package espeak-ng)"
        ) from None
    return [
        digits_workload(),
        fraud_workload(),
        diagnosis_workload(),
        linear_workload(),
        embed_workload(),
        classify_workload(),
        echo_workload(),
        speech_workload(wav.read_bytes()),
    ]
