"""Model backends: ``torch`` runs a predictor in process, ``vllm`` proxies to a vLLM OpenAI server,
``transformers`` answers LLM requests in process where vLLM is not installed."""

from verticals.serving.backends.base import ModelBackend, Unavailable

__all__ = ["ModelBackend", "Unavailable"]
