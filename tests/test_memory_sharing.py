"""A large no-op plan keeps one copy of each object's values: the state shares the
declared attribute dicts, and listed vendor objects share the recorded ones, only
when they are equal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from reconciler.perf import Sharing
from reconciler.providers.base import Kind, RemoteObject, Schema
from reconciler.providers.connected import _listed
from reconciler.state.base import NO_META
from reconciler.state.document import parse_document


def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "lineage": "l", "serial": 3, "resources": {
        "outreach.call_purpose.a": {"vendor": "outreach", "kind": "call_purpose", "remote_id": "1",
                                    "attributes": {"name": "A", "order": 1}},
        "outreach.call_purpose.b": {"vendor": "outreach", "kind": "call_purpose", "remote_id": "2",
                                    "attributes": {"name": "B", "order": 2},
                                    "meta": {"prevent_destroy": True}, "prevent_destroy": True},
    }, "pending": {"outreach.call_purpose.c": {"vendor": "outreach", "kind": "call_purpose",
                                               "action": "create", "started_at": "t"}}}))
    return path


def test_state_shares_equal_declared_attributes_only(tmp_path: Path) -> None:
    declared_a = {"name": "A", "order": 1}
    declared_b = {"name": "B", "order": 3}  # changed in the manifests: must not be shared
    doc = parse_document(state_file(tmp_path), "state.json", Sharing(
        {"outreach.call_purpose.a": declared_a, "outreach.call_purpose.b": declared_b}))
    a, b = doc.resources["outreach.call_purpose.a"], doc.resources["outreach.call_purpose.b"]
    assert a.attributes is declared_a
    assert b.attributes == {"name": "B", "order": 2} and b.attributes is not declared_b
    assert a.meta is NO_META and b.meta == {"prevent_destroy": True} and b.prevent_destroy
    assert (doc.lineage, doc.serial, list(doc.pending)) == ("l", 3, ["outreach.call_purpose.c"])


def test_the_same_document_from_bytes_and_from_the_file(tmp_path: Path) -> None:
    path = state_file(tmp_path)
    assert parse_document(path.read_bytes(), "s").model_dump() == parse_document(path, "s").model_dump()


class _Listing(Kind):
    """A vendor double that lists two objects (the observer under test is ours, and real)."""

    vendor, name, collection, schema, natural_key = "v", "thing", "things", Schema, "name"

    async def list(self) -> list[RemoteObject]:
        assert self.recorded, "the observer hands the kind what the state records"
        return [RemoteObject("1", {"name": "A", "order": 1}), RemoteObject("2", {"name": "B", "order": 9})]

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        raise NotImplementedError

    async def update(self, remote_id: str, attributes: dict[str, Any], changed: frozenset[str],
                     current: RemoteObject | None) -> RemoteObject:
        raise NotImplementedError


def test_listed_objects_share_equal_recorded_attributes_only() -> None:
    recorded = {"1": {"name": "A", "order": 1}, "2": {"name": "B", "order": 2}}
    kind = _Listing(None, None)  # type: ignore[arg-type]  # never connects
    same, changed = asyncio.run(_listed(kind, recorded))
    assert same.attributes is recorded["1"]
    assert changed.attributes == {"name": "B", "order": 9}
    assert RemoteObject("1", {"name": "A", "order": 1}).attributes is not recorded["1"]  # no magic
