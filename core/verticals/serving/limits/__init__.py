"""Per-key rate limits and per-customer budget reservations: the interface and its two backends.

``Limits`` (``base``) is what the gateway calls; ``InMemoryLimits`` (``memory``) keeps the counters
in this process, the default on one machine; ``RedisLimits`` (``redis``) keeps them in Redis, one
atomic Lua script per check-and-reserve, so that any number of gateway replicas hold the same limits.
``build_limits`` picks one from the settings.
"""

from __future__ import annotations

from verticals.config import Settings
from verticals.serving.limits.base import (
    WINDOW_S,
    Limits,
    LimitsUnavailable,
    OverBudget,
    RateLimited,
    Reservation,
    TokenHold,
)
from verticals.serving.limits.memory import InMemoryLimits

__all__ = [
    "WINDOW_S",
    "InMemoryLimits",
    "Limits",
    "LimitsUnavailable",
    "OverBudget",
    "RateLimited",
    "Reservation",
    "TokenHold",
    "build_limits",
]


def build_limits(settings: Settings) -> Limits:
    """``RedisLimits`` on ``settings.redis_url`` (with ``redis_fail_open``) when it is set, else
    ``InMemoryLimits``. No connection is made here: the first limited request makes it.

    Raises RuntimeError naming the fix when ``redis_url`` is set but the ``redis`` package is missing.
    """
    if not settings.redis_url:
        return InMemoryLimits()
    try:
        from verticals.serving.limits.redis import RedisLimits
    except ImportError as error:  # the "scale" extra is not installed
        raise RuntimeError(
            f"VERTICALS_REDIS_URL is set but the redis package is missing ({error}); install it with "
            "`pip install 'verticals[scale]'`, or unset VERTICALS_REDIS_URL to keep limits in process"
        ) from None
    return RedisLimits(settings.redis_url, fail_open=settings.redis_fail_open)
