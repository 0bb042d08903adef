"""Plug-ins installed in this Python, by entry-point group (`reconciler.providers`,
`reconciler.state_backends`): the installed distributions are scanned once per process for
every group (each scan reads every distribution's entry_points.txt: a plan looks up two
groups, 3 ms a scan with 119 distributions installed)."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any


class _Groups:
    """`group(name)`: that group's entry points; `group.cache_clear()` scans again (after
    an install in this process), as functools.cache's does."""

    def __init__(self) -> None:
        self._installed: Any = None  # every installed entry point (EntryPoints or, on 3.11, SelectableGroups)
        self._found: dict[str, tuple[EntryPoint, ...]] = {}

    def __call__(self, name: str) -> tuple[EntryPoint, ...]:
        if name not in self._found:
            if self._installed is None:
                self._installed = entry_points()
            self._found[name] = tuple(self._installed.select(group=name))
        return self._found[name]

    def cache_clear(self) -> None:
        self._installed = None
        self._found.clear()


group = _Groups()
