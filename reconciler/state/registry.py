"""State backends by name.

`state.backend` in reconciler.yaml picks one; the rest of `state:` is checked by that
backend's own settings model, so `state` is a union discriminated by `backend`. A backend
is one module defining `Settings` (a `BackendSettings` with `backend: Literal[name]`) and
`open_backend(settings, directory)`, registered below with one line, or, shipped as its
own distribution, in the `reconciler.state_backends` entry-point group (`name =
"my_package:BACKEND"`, a BackendType). `init`, the docs and the JSON Schema read this
registry; a backend's module is imported only when used. `reconciler.testing`'s
StateBackendConformance is the suite every backend passes.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.entrypoints import group

if TYPE_CHECKING:  # start-up: the registry itself imports nothing heavy
    from reconciler.state.base import StateBackend
    from reconciler.state.settings import BackendSettings


@dataclass(frozen=True)
class BackendType:
    name: str
    module: str  # defines Settings and open_backend
    about: str  # one line, for `reconciler init --help` and the reference
    init_lines: tuple[str, ...]  # what `reconciler init --backend NAME` writes under `state:`

    def settings_model(self) -> type[BackendSettings]:
        model: type[BackendSettings] = importlib.import_module(self.module).Settings
        return model

    def open(self, settings: BackendSettings, directory: Path) -> StateBackend:
        backend: StateBackend = importlib.import_module(self.module).open_backend(settings, directory)
        return backend


BUNDLED: dict[str, BackendType] = {b.name: b for b in (
    BackendType("local", "reconciler.state.local",
                "a JSON file beside the manifests (one person, or one CI runner at a time)",
                ("backend: local", "path: state/default.json   # relative to this file; git-ignored")),
    BackendType("postgres", "reconciler.state.postgres",
                "one row per workspace in PostgreSQL (teams, several runners)",
                ("backend: postgres", "url: ${RECONCILER_STATE_URL}   # postgresql://user:password@host/db",
                 "workspace: default")),
)}
DEFAULT = "local"


class _Backends(Mapping[str, BackendType]):
    """The bundled backends, then those installed through entry points (read on first use;
    a bundled name is never taken by another distribution)."""

    @functools.cached_property
    def _all(self) -> dict[str, BackendType]:
        found = dict(BUNDLED)
        for entry in group("reconciler.state_backends"):
            declared = entry.load()
            if entry.name not in found and isinstance(declared, BackendType):
                found[entry.name] = declared
        return found

    def __getitem__(self, name: str) -> BackendType:
        return self._all[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def forget(self) -> None:
        """Read the entry points again (a test installing a backend in this process)."""
        self.__dict__.pop("_all", None)


BACKENDS = _Backends()
