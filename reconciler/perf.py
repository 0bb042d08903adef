"""The memory and speed tricks, in one place, each with why and what it measured.

Pausing the cyclic garbage collector while bulk data is built:

Loading manifests, the state and the vendors' lists builds hundreds of thousands of
long-lived objects and next to no garbage cycles, yet every few hundred allocations
the collector walks the young objects, and ever more often the whole growing heap:
at 300,000 purposes that was half of the manifest loading time. Meanwhile only the
young generation is collected, rarely (cycles are made: each HTTP exchange's); once
loaded, one collection frees the cycles left, and what is left is frozen out of later
collections: it lives until the command ends.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any


@contextmanager
def paused_gc() -> Iterator[None]:
    """Only the young generation is collected meanwhile, and only every YOUNG allocations:
    each object is looked at once, never the growing older generations again. Not a full
    pause: an HTTP exchange leaves a cycle of httpx objects that holds its answer's body,
    and a paused collector kept every Outreach list page alive to the end of the listing
    (95 MiB of 100,000 purposes; 60 MiB of the 300,000-object plan's peak)."""
    threshold = gc.get_threshold()
    gc.set_threshold(YOUNG, 1 << 30, 1 << 30)
    try:
        yield
    finally:
        gc.collect(1)  # what became garbage meanwhile: all of it is young or middle-aged
        gc.set_threshold(*threshold)
        gc.freeze()


YOUNG = 50_000
"""Allocations between two young collections while paused (Python's default: 700)."""


# ---------------------------------------------------------------------------------------------
# Sharing equal values. A no-op plan holds each object three times over: as the manifests
# declare it, as the state records it, as the vendor lists it. When they are equal, the
# state's and the listing's copies are dropped for the declared one. The state shares as
# each record is parsed; a listing shares once the kind has listed (an explicit step of the
# observer, where a context variable used to swap dicts inside RemoteObject; the bundled
# kinds share as each listed object is built, with Kind.shared). Measured with
# `python bench/run.py --sizes 100000 --vendors outreach --plan-only --skip drift`, 100,000
# purposes, no-op plan: peak RSS 204 MB sharing inside RemoteObject (the old way), 233 MB
# sharing only after each list (the listed dicts live until the list ends), 208 MB sharing
# as each object is built (Kind.shared); plan time 8.0 s in all three.
# ---------------------------------------------------------------------------------------------

EMPTY: Mapping[str, Any] = MappingProxyType({})
"""The one empty mapping every record without lifecycle settings points at (most records):
read-only, so sharing it can never leak a write from one record into another."""


def prefer(mine: dict[str, Any] | None, value: dict[str, Any]) -> dict[str, Any]:
    """`mine` when it is an equal, distinct copy of `value`; else `value`."""
    return mine if mine is not None and mine is not value and mine == value else value


class Sharing:
    """Attribute dicts by key (an address, a remote id) that an equal copy gives way to."""

    def __init__(self, known: Mapping[str, dict[str, Any]] = EMPTY) -> None:
        self.known = known

    def share(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        return prefer(self.known.get(key), value)


NO_SHARING = Sharing()


class Repeated:
    """Texts many objects repeat (a group, a privacy URL, a field name) kept once: at 300,000
    purposes, each distinct value is one string object instead of one per purpose."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def values(self, attributes: dict[str, Any]) -> dict[str, Any]:
        return {k: self.texts.setdefault(v, v) if isinstance(v, str) else v
                for k, v in attributes.items()}


key: Callable[[str], str] = sys.intern
"""A name used as a dict key in every object (field names, addresses): interned, so that
300,000 objects share one string per name and dict lookups compare by identity first.
sys.intern itself, not a function calling it (a call more for each of the 70,000 names a
no-op plan of 6,000 objects interns: 2 ms)."""
