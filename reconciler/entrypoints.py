"""Plug-ins installed in this Python, by entry-point group (`reconciler.providers`,
`reconciler.state_backends`), each group scanned once per process."""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points


@functools.cache
def group(name: str) -> tuple[EntryPoint, ...]:
    return tuple(entry_points(group=name))
