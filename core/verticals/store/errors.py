"""What the model store raises; every message names the model, the problem and the fix."""

from __future__ import annotations


class StoreError(Exception):
    """A model that cannot be fetched, prepared or found in the cache."""


class ChecksumMismatch(StoreError):
    """A file whose sha256 differs from the one recorded for it: refused, never used."""
