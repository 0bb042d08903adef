"""Vendors by name, through the `reconciler.providers` entry-point group, the bundled ones
included (pyproject.toml registers them like any third party's). An entry point names a
`Vendor` (or, as before, a `Provider` class). A bundled name is never taken by another
distribution; a source tree run without installed metadata still finds the bundled ones."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.entrypoints import group
from reconciler.providers.plugin import Vendor

if TYPE_CHECKING:  # start-up: `--help` lists the vendors' options without the provider contract
    from reconciler.providers.base import Kind, Provider

BUNDLED = ("reconciler.providers.outreach", "reconciler.providers.superoffice",
           "reconciler.providers.webex_campaign")
"""Packages of the bundled vendors; each defines VENDOR."""


@functools.cache
def vendors() -> dict[str, Vendor]:
    entries = sorted(group("reconciler.providers"),
                     key=lambda e: (e.value.partition(":")[0] not in BUNDLED, e.name))
    found: dict[str, Vendor] = {}
    for entry in entries:  # the bundled first: their names are theirs
        if entry.name not in found:
            declared = entry.load()
            found[entry.name] = declared if isinstance(declared, Vendor) else Vendor(entry.name, declared)
    for package in BUNDLED:  # not installed (a bare source tree): found by package
        vendor: Vendor = importlib.import_module(package).VENDOR
        found.setdefault(vendor.name, vendor)
    return dict(sorted(found.items(), key=lambda item: (item[0] not in _BUNDLED_NAMES, item[0])))


_BUNDLED_NAMES = tuple(package.rpartition(".")[2] for package in BUNDLED)  # package = vendor name


class _Providers(Mapping[str, "type[Provider]"]):
    """Provider classes by vendor name, each imported on first use: a directory configuring
    one vendor never loads the others' HTTP code (start-up)."""

    def __init__(self, found: dict[str, Vendor]) -> None:
        self._vendors = found
        self._loaded: dict[str, type[Provider]] = {}

    def __getitem__(self, name: str) -> type[Provider]:
        if name not in self._loaded:
            self._loaded[name] = self._vendors[name].load_provider()
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._vendors)

    def __len__(self) -> int:
        return len(self._vendors)


def providers() -> Mapping[str, type[Provider]]:
    return _Providers(vendors())


def kinds_by_collection(provider: type[Provider]) -> dict[str, type[Kind]]:
    return {kind.collection: kind for kind in provider.kinds}


def builtin_providers() -> dict[str, type[Provider]]:
    """The bundled vendors only (what the committed reference and schemas describe)."""
    bundled = {importlib.import_module(package).VENDOR.name for package in BUNDLED}
    return {name: vendor.load_provider() for name, vendor in vendors().items() if name in bundled}


def __getattr__(name: str) -> Any:
    if name == "BUILTIN":  # the bundled providers by name, imported on first use
        return builtin_providers()
    raise AttributeError(name)
