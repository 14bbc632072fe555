"""``echo/chat``: a chat model that answers with the last user message.

It needs no weights, answers instantly and counts tokens as whitespace-separated words, which makes
it the model the gateway's own tests and load benchmarks run against.
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


class EchoPredictor(Predictor):
    """Each input is a list of chat messages; the output is the text of the last user message."""

    def predict(self, batch: Sequence[Any]) -> list[Any]:
        return [self._answer(messages) for messages in batch]

    def units(self, item: Any) -> float:
        return float(sum(len(message_text(m).split()) for m in item))

    @staticmethod
    def _answer(messages: Any) -> str:
        if isinstance(messages, str):
            return messages
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return message_text(users[-1]) if users else ""


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
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
