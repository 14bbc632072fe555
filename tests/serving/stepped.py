"""``at_once``: run a coroutine that must finish without suspending, as ``InMemoryLimits``' do.

The in-process limits are coroutines for the ``Limits`` interface's sake, yet must check and reserve in
one event-loop step; driving them with ``send(None)`` both runs them without a loop and asserts that.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def at_once(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result; AssertionError if it suspended (awaited something that was not ready)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise AssertionError("the coroutine suspended: it is not one event-loop step")
