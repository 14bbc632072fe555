"""The gateway takes its startup heap out of the garbage collector's full scans."""

from __future__ import annotations

import gc
from typing import Any as Running


def test_what_startup_loaded_is_frozen(gateway_server: Running) -> None:
    # gateway_server's lifespan ran in this process: the modules, the registry and the loaded
    # models are in the permanent generation, so a full collection (the event loop stopped while
    # it runs) walks only what requests left behind, not the whole process.
    frozen = gc.get_freeze_count()
    assert frozen > 0, "startup did not freeze the heap: full collections walk all of it"
    assert frozen > len(gc.get_objects()), (frozen, len(gc.get_objects()))
