"""``echo/chat``: a chat model that answers with the last user message.

It needs no weights, answers instantly and counts tokens as whitespace-separated words, which makes
it the model the gateway's own tests and load benchmarks run against. Like every chat model it
honours ``max_tokens``: the answer is cut to that many words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from verticals import hookimpl
from verticals.models import Backend, ModelSpec, Predictor, Task, TensorSpec, Unit


def message_text(message: Any) -> str:
    """The text of one OpenAI-style message, whose content may be a string or a list of parts."""
    content = message.get("content") if isinstance(message, dict) else message
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def chat_input(item: Any) -> tuple[Any, int | None]:
    """A chat model's input as ``(messages, max_tokens)``.

    The input is a list of messages, or ``{"messages": [...], "max_tokens": N}`` (what the gateway
    sends, and what evaluation items may be); a plain string is a single prompt.
    """
    if isinstance(item, dict):
        limit = item.get("max_tokens")
        return item.get("messages", []), int(limit) if limit is not None else None
    return item, None


class EchoPredictor(Predictor):
    """Each input is a chat (see ``chat_input``); the output is the text of the last user message,
    cut to ``max_tokens`` words."""

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        """The answer to each chat in ``batch`` (one str per item): the last user message's text, cut to the
        item's ``max_tokens`` words when it has one.
        """
        return [self._answer(item) for item in batch]

    def units(self, item: Any) -> float:
        """The billable tokens of ``item``: its words (whitespace-separated) over all messages, or of the text
        when it is a string.
        """
        messages, _ = chat_input(item)
        if isinstance(messages, str):
            return float(len(messages.split()))
        return float(sum(len(message_text(m).split()) for m in messages))

    @staticmethod
    def _answer(item: Any) -> str:
        messages, limit = chat_input(item)
        if isinstance(messages, str):
            text = messages
        else:
            users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            text = message_text(users[-1]) if users else ""
        if limit is not None:
            words = text.split()
            if len(words) > limit:
                text = " ".join(words[: max(0, limit)])
        return text


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register ``echo/chat``: a torch chat model that repeats the last user message, priced at 0.000001 USD
    per token.
    """
    register(
        ModelSpec(
            name="echo/chat",
            task=Task.CHAT,
            backend=Backend.TORCH,
            source="builtin://echo",
            unit=Unit.TOKENS,
            price_per_unit_usd=Decimal("0.000001"),
            description="Answers with the last user message; for tests and load benchmarks.",
            predictor=EchoPredictor,
            inputs=(TensorSpec(name="text", datatype="BYTES", shape=(-1,)),),
            outputs=(TensorSpec(name="text", datatype="BYTES", shape=(-1,)),),
        )
    )
