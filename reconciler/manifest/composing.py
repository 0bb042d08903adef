"""ruamel.yaml's reading of a file, for the files the plain reader (plain.py) leaves to it.

Imported only when a file first needs it (source.py imports it inside the functions that
compose, convert or locate): importing ruamel.yaml costs 16 ms, which a plan whose
manifests are all in the plain subset never pays.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver

__all__ = ["CollectionEndEvent", "CollectionStartEvent", "MappingNode", "MarkedYAMLError", "Node",
           "ReaderError", "ScalarNode", "SequenceNode", "compose", "safe_yaml"]


class _Resolver(VersionedResolver):
    """ruamel's resolver, minus the cost of finding the YAML version again for every node
    (half of a big plan's parsing time). One YAML() per file, so the version found at the
    first node (after any %YAML directive) holds for the whole document."""

    _per_document: Any = None

    @property
    def versioned_resolver(self) -> Any:
        if self._per_document is None:
            self._per_document = super().versioned_resolver
        return self._per_document


class _SafeYAML(YAML):
    """ruamel's YAML without its search for plug-in packages: a glob of its own folder on
    every instance (2 ms), that is on every file read; a fleet reads thousands."""

    _found: list[str] | None = None

    def official_plug_ins(self) -> list[str]:
        if _SafeYAML._found is None:  # searched once per process
            _SafeYAML._found = list(super().official_plug_ins())
        return _SafeYAML._found


def safe_yaml() -> YAML:
    yaml = _SafeYAML(typ="safe", pure=False)
    yaml.Resolver = _Resolver
    return yaml


def compose(text: str) -> Node | None:
    return safe_yaml().compose(text)  # type: ignore[no-any-return]
