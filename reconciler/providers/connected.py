"""Live provider instances for one command, and the observer that lists what the vendors hold."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.perf import paused_gc
from reconciler.providers.base import Kind, Provider, RemoteObject


class Providers:
    """Live provider instances (with open HTTP clients) for one command."""

    def __init__(self, by_name: dict[str, Provider],
                 declared: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> None:
        """`declared`: kind address -> the attributes this run's manifests declare (Kind.declared);
        None when the caller does not know them (drift, import): kinds then assume nothing."""
        self.by_name = by_name
        for vendor, provider in by_name.items():
            for name, kind in provider.kind_objects.items():
                kind.declared = None if declared is None else declared.get(f"{vendor}.{name}", ())

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
    """The kind's objects, each equal to its record sharing the record's dict: the bundled
    kinds do it as they list (Kind.shared); for the others it is done here."""
    kind.recorded = recorded
    listed = await kind.list()
    if not recorded:
        return listed
    return [obj if (mine := recorded.get(obj.remote_id)) is None or mine is obj.attributes
            else kind.shared(obj) for obj in listed]  # shared already: no call per object
