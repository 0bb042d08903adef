"""Drift, table-driven: State x Observed -> what changed outside reconciler, per address.

Drift compares the remote objects with the state's last applied attributes (never with
the manifests). Labels: "changed: field: before->after, ..." (recorded -> remote) or
"missing: <note>".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.drift.detect import DriftItem, accept_drift, detect_drift
from reconciler.plan.builder import Observed
from reconciler.providers.base import RemoteStatus
from reconciler.state import StateDoc
from reconciler.state.local import LocalBackend
from tests.unit.factories import rec, remote, state
from tests.unit.memory_provider import KINDS

G, T, N = "memory.gadget", "memory.toggle", "memory.note"
DELETED, INACTIVE = RemoteStatus.DELETED, RemoteStatus.INACTIVE
A_RED = {"name": "A", "colour": "red"}
ON = {"key": "K", "label": "Consent", "active": True}


@dataclass
class Case:
    name: str
    state: StateDoc
    observed: Observed
    expect: dict[str, str]  # address -> label; every drifted address is listed
    ignore: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ignore_unmanaged: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unmanaged: list[str] = field(default_factory=list)
    checked: int | None = None
    not_observable: list[str] = field(default_factory=list)


def label(item: DriftItem) -> str:
    if item.status == "missing":
        return f"missing: {item.note}"
    return "changed: " + ", ".join(f"{d.field}: {d.before!r}->{d.after!r}" for d in item.diffs)


CASES = [
    Case("no drift: the remote object holds what was applied",
         state({f"{G}.a": rec(G, "1", **A_RED)}), {G: [remote("1", **A_RED)]}, {}, checked=1),
    Case("changed: a field edited in the vendor's UI",
         state({f"{G}.a": rec(G, "1", **A_RED)}), {G: [remote("1", name="A", colour="blue")]},
         {f"{G}.a": "changed: colour: 'red'->'blue'"}, checked=1),
    Case("changed: several fields, each reported",
         state({f"{G}.a": rec(G, "1", **A_RED, size=1)}), {G: [remote("1", name="A", colour="blue", size=2)]},
         {f"{G}.a": "changed: colour: 'red'->'blue', size: 1->2"}),
    Case("changed: a value of another type ('1' is not 1)",
         state({f"{G}.a": rec(G, "1", size=1, **A_RED)}), {G: [remote("1", size="1", **A_RED)]},
         {f"{G}.a": "changed: size: 1->'1'"}),
    Case("changed: nested values name the element that changed",
         state({f"{G}.a": rec(G, "1", tags=["x", "y"], **A_RED)}),
         {G: [remote("1", tags=["x", "z"], **A_RED)]},
         {f"{G}.a": "changed: tags[1]: 'y'->'z'"}),
    Case("changed: switched off outside reconciler",
         state({f"{T}.t": rec(T, "5", **ON)}), {T: [remote("5", INACTIVE, **{**ON, "active": False})]},
         {f"{T}.t": "changed: active: True->False"}),
    Case("no drift: remote fields never applied are not compared",
         state({f"{G}.a": rec(G, "1", **A_RED)}), {G: [remote("1", size=9, updatedAt="now", **A_RED)]},
         {}),
    Case("missing: deleted outside reconciler",
         state({f"{G}.a": rec(G, "1", **A_RED)}), {G: []},
         {f"{G}.a": "missing: deleted outside reconciler"}, checked=1),
    Case("missing: soft-deleted outside reconciler",
         state({f"{G}.a": rec(G, "1", **A_RED)}), {G: [remote("1", DELETED, **A_RED)]},
         {f"{G}.a": "missing: soft-deleted outside reconciler"}),
    Case("ignore (provider settings): the field is not compared",
         state({f"{G}.a": rec(G, "1", **A_RED)}), {G: [remote("1", name="A", colour="blue")]},
         {}, ignore={G: ("colour",)}),
    Case("ignore_changes kept in the state: the field is not compared",
         state({f"{G}.a": rec(G, "1", meta={"ignore_changes": ["colour"]}, size=1, **A_RED)}),
         {G: [remote("1", name="A", colour="blue", size=2)]},
         {f"{G}.a": "changed: size: 1->2"}),
    Case("unmanaged: a live object never managed is reported",
         state({f"{G}.a": rec(G, "1", **A_RED)}),
         {G: [remote("1", **A_RED), remote("9", name="Rogue", colour="red")]},
         {}, unmanaged=[f"{G} id=9 'Rogue'"]),
    Case("unmanaged: also in a kind with nothing managed",
         state(), {G: [remote("9", name="Rogue", colour="red")]},
         {}, unmanaged=[f"{G} id=9 'Rogue'"], checked=0),
    Case("unmanaged: soft-deleted objects are not live, so not reported",
         state(), {G: [remote("9", DELETED, name="Old", colour="red")]}, {}),
    Case("unmanaged: ignore_unmanaged hides a tenant's built-ins",
         state(), {G: [remote("8", name="Builtin", colour="red"), remote("9", name="Rogue", colour="red")]},
         {}, ignore_unmanaged={"memory": ("Built*",)}, unmanaged=[f"{G} id=9 'Rogue'"]),
    Case("write-only kinds cannot drift: reported as not observable",
         state({f"{N}.n": rec(N, None, feed="F", count=1)}), {}, {}, checked=0, not_observable=[N]),
    Case("a kind whose provider is not configured is not checked",
         state({"other.thing.x": rec("other.thing", "1", name="X")}), {}, {}, checked=0),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_drift(case: Case) -> None:
    report = detect_drift(case.state, case.observed, KINDS, case.ignore, case.ignore_unmanaged)
    assert {i.address: label(i) for i in report.items} == case.expect
    assert [u for found in report.unmanaged.values() for u in found] == case.unmanaged
    assert report.not_observable == case.not_observable
    assert report.has_drift == bool(case.expect or case.unmanaged)
    if case.checked is not None:
        assert report.checked == case.checked


def test_changed_item_carries_both_sides() -> None:
    """--accept and --write-back read the remote attributes; JSON `before` the recorded ones."""
    report = detect_drift(state({f"{G}.a": rec(G, "1", **A_RED)}),
                          {G: [remote("1", name="A", colour="blue", size=3)]}, KINDS, {})
    (item,) = report.items
    assert item.remote == {"name": "A", "colour": "blue", "size": 3}
    assert item.recorded == A_RED
    assert item.remote_id == "1"


def test_accept_makes_the_state_hold_what_the_vendor_holds(tmp_path: Path) -> None:
    """Refresh-only, through the real local backend: after accepting, nothing drifts."""
    backend = LocalBackend(tmp_path / "state" / "default.json")
    backend.write(state({f"{G}.a": rec(G, "1", **A_RED), f"{G}.b": rec(G, "2", name="B", colour="red"),
                         f"{G}.c": rec(G, "3", name="C", colour="red")}))
    observed = {G: [remote("1", name="A", colour="blue", size=3), remote("3", name="C", colour="red")]}
    before = backend.read()
    report = detect_drift(before, observed, KINDS, {})
    assert {i.address: i.status for i in report.items} == {f"{G}.a": "changed", f"{G}.b": "missing"}

    assert accept_drift(backend, report.items) == 2
    after = backend.read()
    assert after.serial == before.serial + 1 and after.lineage == before.lineage
    assert set(after.resources) == {f"{G}.a", f"{G}.c"}
    # only fields reconciler manages are refreshed: `size` was never applied, so not adopted
    assert after.resources[f"{G}.a"].attributes == {"name": "A", "colour": "blue"}
    assert detect_drift(after, observed, KINDS, {}).items == []
