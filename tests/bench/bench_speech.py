"""Speech: real-time factor (processing seconds / audio seconds) of speech/transcribe on this CPU.

Figures, all from one run on the same 24 espeak-ng clips of the speech/wer suite:
- baseline: faster-whisper's own ``WhisperModel.transcribe``, one clip at a time (beam 5, int8);
- the plugin's predictor as configured by default on CPU (``decode_batch_size`` 1), all clips in
  one ``predict`` call (what the dynamic batcher hands it under load);
- the same with ``decode_batch_size = 16``, the GPU default: clips up to 30 s share one encoder
  pass and one beam search.
Wall-clock RTF is what a caller waits; CPU RTF (process time) is what the model costs, and stays
meaningful when other work shares the two cores.

Through the gateway: 16 concurrent clients post 48 WAV uploads to /v1/audio/transcriptions with a
customer key (auth, limits and metering included), once with the gateway's dynamic batcher
collecting up to 16 requests and once with batches of one; throughput and p50/p99 latency side by side.

Anchor: faster-whisper publishes no tiny.en figure. Its README's nearest is the small model
(244 M parameters; tiny.en has 39 M) on CPU, int8, beam 5, 8 threads of an i7-12700K: 13 minutes
of audio in 1 min 42 s, RTF 0.131 (51 s, RTF 0.065, with batch_size=8).

Run: ``pytest -o python_files='bench_*.py' tests/bench/bench_speech.py -s``
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from verticals.registry import Registry
from verticals.store import ModelStore

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("VERTICALS_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
ANCHOR_RTF = 102 / (13 * 60)  # faster-whisper README: small, int8, beam 5, 8 threads


def timed(run: Callable[[], list[str]], audio_seconds: float) -> tuple[list[str], float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    texts = run()
    return texts, (time.perf_counter() - wall) / audio_seconds, (time.process_time() - cpu) / audio_seconds


def test_real_time_factor(monkeypatch: Any, tmp_path: Path) -> None:
    from faster_whisper import WhisperModel
    from verticals_speech.predictor import WhisperPredictor
    from verticals_speech.wer import DATASET, error_rates, read_sentences

    config = tmp_path / "verticals.toml"
    monkeypatch.setenv("VERTICALS_CONFIG", str(config))  # no url: run in process
    model_dir = ModelStore(CACHE).pull(Registry.load().model("speech/transcribe"))
    records = read_sentences(DATASET)
    clips = [r["audio"] for r in records]
    references = [r["text"] for r in records]
    audio_seconds = sum(clip.seconds for clip in clips)

    library = WhisperModel(str(model_dir), device="cpu", compute_type="int8")
    predictor = WhisperPredictor()
    predictor.load(model_dir)
    predictor.predict(clips[:2])  # warm-up: first calls allocate
    config.write_text('[models."speech/transcribe"]\ndecode_batch_size = 16\n')
    grouped = WhisperPredictor()
    grouped.load(model_dir)
    grouped.predict(clips[:2])

    def library_one_by_one() -> list[str]:
        out = []
        for clip in clips:
            segments, _ = library.transcribe(clip.samples, language="en", beam_size=5)
            out.append(" ".join(s.text.strip() for s in segments))
        return out

    rows = [
        ("faster-whisper transcribe, 1 clip/call", *timed(library_one_by_one, audio_seconds)),
        (
            "predictor, 1 clip per pass (cpu default)",
            *timed(lambda: [o["text"] for o in predictor.predict(clips)], audio_seconds),
        ),
        (
            "predictor, 16 clips per pass",
            *timed(lambda: [o["text"] for o in grouped.predict(clips)], audio_seconds),
        ),
    ]
    print(f"\nspeech/transcribe on {len(clips)} clips, {audio_seconds:.1f} s of audio, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    print(f"{'path':<42} {'RTF wall':>9} {'RTF cpu':>8} {'x real time':>12} {'WER':>6}")
    for name, texts, wall, cpu in rows:
        wer = error_rates(references, texts)["wer"]
        print(f"{name:<42} {wall:>9.3f} {cpu:>8.3f} {1 / wall:>12.1f} {wer:>6.3f}")
    print(f"anchor (faster-whisper README, small int8 beam 5, 8 threads): RTF {ANCHOR_RTF:.3f}")
    _, _, one_wall, _ = rows[1]
    _, batched_texts, batched_wall, _ = rows[2]
    print(f"16 clips per pass vs 1: {one_wall / batched_wall:.2f}x the throughput")
    assert one_wall < 1.0, "speech/transcribe must run faster than real time on this CPU"
    assert [t.strip() for t in batched_texts] == [t.strip() for t in rows[1][1]], "batching changed outputs"


CLIENTS, REQUESTS = 16, 48
ADMIN = "vadm_speech_bench"


def gateway_run(home: Path, port: int, max_batch_size: int, wavs: list[bytes]) -> dict[str, float]:
    import statistics
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    import uvicorn

    from verticals.config import load_settings
    from verticals.ledger import Ledger
    from verticals.serving.app import create_app
    from verticals.serving.gateway import ServingOptions

    ledger = Ledger.open(home, fsync_ms=5)
    options = ServingOptions(models=("speech/transcribe",), log_requests=False, max_batch_size=max_batch_size)
    app = create_app(load_settings(home=home, model_cache=CACHE), Registry.load(), ledger, admin_token=ADMIN,
                     options=options)  # fmt: skip
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the gateway did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    httpx.post(
        f"{url}/admin/customers", json={"name": "bench", "plan": "pro"}, headers=admin
    ).raise_for_status()
    key = httpx.post(f"{url}/admin/keys", json={"customer": "bench"}, headers=admin).json()["key"]
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as client:

            def one(index: int) -> float:
                started = time.perf_counter()
                response = client.post(
                    "/v1/audio/transcriptions",
                    data={"model": "speech/transcribe"},
                    files={"file": ("clip.wav", wavs[index % len(wavs)], "audio/wav")},
                )
                response.raise_for_status()
                return time.perf_counter() - started

            one(0)  # warm-up
            started = time.perf_counter()
            with ThreadPoolExecutor(CLIENTS) as pool:
                latencies = sorted(pool.map(one, range(REQUESTS)))
            elapsed = time.perf_counter() - started
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        ledger.close()
    return {
        "requests/s": REQUESTS / elapsed,
        "p50 s": statistics.median(latencies),
        "p99 s": latencies[min(len(latencies) - 1, round(0.99 * len(latencies)))],
    }


def test_gateway_throughput_at_16_clients(monkeypatch: Any, tmp_path: Path) -> None:
    from verticals_speech.wer import DATASET, read_sentences

    monkeypatch.setenv("VERTICALS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("VERTICALS_LOAD_PLUGINS", "speech")
    ModelStore(CACHE).pull(Registry.load().model("speech/transcribe"))
    clips = [r["audio"] for r in read_sentences(DATASET)]
    wavs = [clip.to_wav() for clip in clips]
    mean_seconds = sum(c.seconds for c in clips) / len(clips)
    results = {}
    for port, batch in ((18420, 16), (18421, 1)):
        home = tmp_path / f"home-{batch}"
        home.mkdir()
        results[batch] = gateway_run(home, port, batch, wavs)
    print(f"\nspeech/transcribe through the gateway, {CLIENTS} clients, {REQUESTS} uploads "
          f"(mean {mean_seconds:.1f} s of audio), load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for batch, figures in results.items():
        audio_rate = figures["requests/s"] * mean_seconds
        print(f"max batch {batch:>2}: {figures['requests/s']:.2f} req/s ({audio_rate:.1f} audio s/s), "
              f"p50 {figures['p50 s']:.2f} s, p99 {figures['p99 s']:.2f} s")  # fmt: skip
    print(f"batched/unbatched throughput: {results[16]['requests/s'] / results[1]['requests/s']:.2f}x")
    assert results[16]["requests/s"] * mean_seconds > 1.0, "the gateway must serve faster than real time"
