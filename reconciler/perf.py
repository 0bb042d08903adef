"""Pause the cyclic garbage collector while bulk data is built.

Loading manifests, the state and the vendors' lists builds hundreds of thousands of
long-lived objects and next to no garbage cycles, yet every few hundred allocations
the collector walks the young objects, and ever more often the whole growing heap:
at 300,000 purposes that was half of the manifest loading time. Once loaded, one
collection of the young generation frees the few cycles made meanwhile, and what is
left is frozen out of later collections: it lives until the command ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)  # the few cycles made while loading (all still in the young generation)
        if was_enabled:
            gc.enable()
        gc.freeze()
