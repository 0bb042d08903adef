"""Live provider instances for one command, and the observer that lists what the vendors hold."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.perf import paused_gc
from reconciler.providers.base import Kind, Provider, RemoteObject

if TYPE_CHECKING:
    from reconciler.manifest.loader import Desired


class Providers:
    """Live provider instances (with open HTTP clients) for one command."""

    def __init__(self, by_name: dict[str, Provider]) -> None:
        self.by_name = by_name

    def kind(self, vendor: str, name: str) -> Kind:
        return self.by_name[vendor].kind_objects[name]

    async def observe(self, kind_addresses: set[str],
                      recorded: Mapping[str, Mapping[str, dict[str, Any]]] | None = None,
                      desired: Desired | None = None) -> dict[str, list[RemoteObject]]:
        """List every observable kind asked for, all vendors and kinds concurrently.
        `recorded` (kind address -> remote id -> attributes in the state) lets listed
        objects share what the state holds when they are equal; `desired` tells each kind
        the natural keys the manifests declare (a kind may then skip a read that can only
        find undeclared objects: SuperOffice's list of soft-deleted purposes)."""
        declared: dict[str, set[str | None]] = {}
        if desired is not None:
            for obj in desired.objects.values():
                owner = self.by_name.get(obj.vendor)
                if owner is not None and obj.kind in owner.kind_objects:
                    declared.setdefault(obj.kind_address, set()).add(
                        owner.kind_objects[obj.kind].identity(obj.attributes))
        jobs: dict[str, Any] = {}
        for address in sorted(kind_addresses):
            vendor, name = address.split(".", 1)
            provider = self.by_name.get(vendor)
            if provider is None or name not in provider.kind_objects:
                continue
            kind = provider.kind_objects[name]
            if kind.observable:
                kind.declared = None if desired is None else frozenset(declared.get(address, ()))
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
    return [kind.shared(obj) for obj in await kind.list()]
