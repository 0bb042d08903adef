"""One manifest directory opened for work: settings, desired objects, state backend, providers.

Every verb (plan, apply, drift, import, ...) starts from a Workspace; the CLI
builds it and the verbs read from it, so no verb re-implements loading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.config import Settings, load_settings
from reconciler.errors import StateError
from reconciler.gcpause import paused_gc
from reconciler.manifest import Desired, load_desired
from reconciler.providers.base import RECORDED, Kind, Provider, RemoteObject
from reconciler.providers.registry import providers as provider_registry
from reconciler.state.base import StateBackend, StateDoc
from reconciler.state.local import LocalBackend


@dataclass
class Workspace:
    settings: Settings
    backend: StateBackend

    @classmethod
    def open(cls, directory: Path, overrides: Mapping[str, Mapping[str, Any]] | None = None,
             env: Mapping[str, str] | None = None, offline: bool = False) -> Workspace:
        settings = load_settings(directory, overrides, env, offline)
        return cls(settings, open_backend(settings))

    def desired(self, env: Mapping[str, str] | None = None) -> Desired:
        return load_desired(self.settings, env)

    def state(self, desired: Desired) -> StateDoc:
        """The state, sharing the declared attribute dicts where nothing changed."""
        return self.backend.read({a: o.attributes for a, o in desired.objects.items()})

    def kinds(self) -> dict[str, type[Kind]]:
        """Kind classes of every configured provider, by kind address."""
        registry = provider_registry()
        return {f"{kind.vendor}.{kind.name}": kind
                for name in self.settings.providers for kind in registry[name].kinds}

    def connect(self) -> Providers:
        registry = provider_registry()
        return Providers({name: registry[name](settings)
                          for name, settings in self.settings.providers.items()})


def open_backend(settings: Settings) -> StateBackend:
    if settings.state.backend == "local":
        return LocalBackend(settings.state_path)
    from reconciler.state.postgres import PostgresBackend

    if not settings.state.url:
        raise StateError("state.url: required with backend: postgres")
    return PostgresBackend(settings.state.url, settings.state.workspace)


class Providers:
    """Live provider instances (with open HTTP clients) for one command."""

    def __init__(self, by_name: dict[str, Provider]) -> None:
        self.by_name = by_name

    def kind(self, vendor: str, name: str) -> Kind:
        return self.by_name[vendor].kind_objects[name]

    async def observe(self, kind_addresses: set[str],
                      recorded: Mapping[str, Mapping[str, dict[str, Any]]] | None = None,
                      ) -> dict[str, list[RemoteObject]]:
        """List every observable kind asked for, all vendors and kinds concurrently.
        `recorded` (kind address -> remote id -> attributes in the state) lets listed
        objects share what the state holds when they are equal."""
        jobs: dict[str, Any] = {}
        for address in sorted(kind_addresses):
            vendor, name = address.split(".", 1)
            provider = self.by_name.get(vendor)
            if provider is None or name not in provider.kind_objects:
                continue
            kind = provider.kind_objects[name]
            if kind.observable:
                jobs[address] = _listed(kind, (recorded or {}).get(address, {}))
        with paused_gc():
            results = await asyncio.gather(*jobs.values())
        return dict(zip(jobs, results, strict=True))

    async def aclose(self) -> None:
        await asyncio.gather(*(p.aclose() for p in self.by_name.values()))

    async def __aenter__(self) -> Providers:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


async def _listed(kind: Kind, recorded: Mapping[str, dict[str, Any]]) -> list[RemoteObject]:
    RECORDED.set(recorded)  # gather runs this in its own task, with its own context
    return await kind.list()
