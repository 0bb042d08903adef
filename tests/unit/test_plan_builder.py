"""The pure planner, table-driven: Desired x State x Observed -> the action per address.

Each row builds its inputs in memory with the in-memory vendor's kinds and states what
the plan must do to each address, in a compact label:

    create | adopt | update | delete[hard|soft|deactivate|unsupported] | forget | push
    | move<-OLDKEY      plus "+revive" (a soft-deleted/inactive twin brought back),
    " state-only" (no vendor call), " first" (a delete ordered before the writes because
    it frees a natural key a create needs), and a "REFUSED " prefix (never applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.manifest.loader import DesiredObject, Lifecycle
from reconciler.plan.builder import Observed, PlanOptions, make_plan
from reconciler.plan.model import Action, Change, Plan
from reconciler.providers.base import DeleteMode, RemoteStatus
from reconciler.state import StateDoc
from tests.unit.factories import desired, interrupted, rec, remote, state, want
from tests.unit.memory_provider import KINDS, NoteKind

G, P, T, N = "memory.gadget", "memory.plaque", "memory.toggle", "memory.note"
DELETED, INACTIVE = RemoteStatus.DELETED, RemoteStatus.INACTIVE


@dataclass
class Case:
    name: str
    want: list[DesiredObject]
    state: StateDoc
    observed: Observed
    expect: dict[str, str]  # address -> label; every change of the plan is listed
    options: PlanOptions = field(default_factory=PlanOptions)
    why: dict[str, str] = field(default_factory=dict)  # address -> text in its reason/refusal
    diffs: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)  # field: (before, after)
    ids: dict[str, str] = field(default_factory=dict)  # address -> remote id acted on
    unchanged: int | None = None
    skipped: int | None = None
    unmanaged: list[str] | None = None  # labels reported as never managed (all vendors)
    warning: str | None = None


def label(change: Change) -> str:
    text = str(change.action)
    if change.action is Action.DELETE:
        text += f"[{change.delete_mode}]"
    if change.revive:
        text += "+revive"
    if change.moved_from:
        text += "<-" + change.moved_from.rsplit(".", 1)[1]
    if change.state_only:
        text += " state-only"
    if change.phase == 0:
        text += " first"
    return f"REFUSED {text}" if change.refused else text


A_RED = {"name": "A", "colour": "red"}
RED_1 = rec(G, "1", **A_RED)
ON = {"key": "K", "label": "Consent", "active": True}
NOTE_X = NoteKind.state_attributes({"feed": "F", "lines": ["x"]})

CASES = [
    # ------------------------------------------------------------------ create
    Case("create: nothing matches",
         [want(f"{G}.a", **A_RED)], state(), {G: [remote("9", name="B", colour="red")]},
         {f"{G}.a": "create"}, why={f"{G}.a": "no remote object"},
         unmanaged=[f"{G} id=9 'B'"]),
    Case("create: recorded, but deleted outside reconciler",
         [want(f"{G}.a", **A_RED)], state({f"{G}.a": RED_1}), {G: []},
         {f"{G}.a": "create"}, why={f"{G}.a": "gone remotely"}),
    # ------------------------------------------------------------------ adopt
    Case("adopt: an unmanaged remote object has the natural key",
         [want(f"{G}.a", **A_RED)], state(), {G: [remote("9", name="A", colour="blue")]},
         {f"{G}.a": "adopt"}, diffs={f"{G}.a": {"colour": ("blue", "red")}}, ids={f"{G}.a": "9"},
         unmanaged=[]),
    Case("adopt: an equal remote object, nothing to write",
         [want(f"{G}.a", **A_RED)], state(), {G: [remote("9", **A_RED)]},
         {f"{G}.a": "adopt"}, diffs={f"{G}.a": {}}),
    Case("adopt: a twin already managed under another address is not taken twice",
         [want(f"{G}.a", **A_RED), want(f"{G}.b", name="B", colour="red")],
         state({f"{G}.b": rec(G, "9", **A_RED)}), {G: [remote("9", **A_RED)]},
         {f"{G}.a": "create", f"{G}.b": "update"}, ids={f"{G}.b": "9"},
         diffs={f"{G}.b": {"name": ("A", "B")}}),
    Case("adopt: ignore_changes applies to an adoption too",
         [want(f"{G}.a", Lifecycle(ignore_changes=("colour",)), **A_RED)], state(),
         {G: [remote("9", name="A", colour="blue")]},
         {f"{G}.a": "adopt"}, diffs={f"{G}.a": {}}),
    # ------------------------------------------------------------------ update / no-op
    Case("update: fields differ from the remote object (not from the state)",
         [want(f"{G}.a", name="A", colour="green")], state({f"{G}.a": RED_1}),
         {G: [remote("1", name="A", colour="blue")]},
         {f"{G}.a": "update"}, diffs={f"{G}.a": {"colour": ("blue", "green")}}, ids={f"{G}.a": "1"},
         why={f"{G}.a": "fields differ"}),
    Case("update: a value of another type is a change ('1' is not 1)",
         [want(f"{G}.a", size=1, **A_RED)], state({f"{G}.a": RED_1}),
         {G: [remote("1", size="1", **A_RED)]},
         {f"{G}.a": "update"}, diffs={f"{G}.a": {"size": ("1", 1)}}),
    Case("no-op: the remote object equals the manifest",
         [want(f"{G}.a", **A_RED)], state({f"{G}.a": RED_1}), {G: [remote("1", **A_RED)]},
         {}, unchanged=1, unmanaged=[]),
    Case("no-op: remote fields the manifest does not declare are not diffed",
         [want(f"{G}.a", **A_RED)], state({f"{G}.a": RED_1}), {G: [remote("1", size=3, **A_RED)]},
         {}, unchanged=1),
    Case("update: lifecycle settings changed, state only",
         [want(f"{G}.a", Lifecycle(prevent_destroy=True), **A_RED)], state({f"{G}.a": RED_1}),
         {G: [remote("1", **A_RED)]},
         {f"{G}.a": "update state-only"}, why={f"{G}.a": "lifecycle settings changed"}),
    # ------------------------------------------------------------------ ignore_changes
    Case("ignore_changes (manifest): the field owned elsewhere is not diffed",
         [want(f"{G}.a", Lifecycle(ignore_changes=("colour",)), **A_RED)],
         state({f"{G}.a": rec(G, "1", meta={"ignore_changes": ["colour"]}, **A_RED)}),
         {G: [remote("1", name="A", colour="blue")]},
         {}, unchanged=1),
    Case("ignore_changes (manifest): only the fields named",
         [want(f"{G}.a", Lifecycle(ignore_changes=("colour",)), size=2, **A_RED)],
         state({f"{G}.a": rec(G, "1", meta={"ignore_changes": ["colour"]}, **A_RED)}),
         {G: [remote("1", name="A", colour="blue", size=1)]},
         {f"{G}.a": "update"}, diffs={f"{G}.a": {"size": (1, 2)}}),
    Case("ignore_changes (provider settings): the field is not diffed",
         [want(f"{G}.a", **A_RED)], state({f"{G}.a": RED_1}),
         {G: [remote("1", name="A", colour="blue")]},
         {}, options=PlanOptions(ignore={G: ("colour",)}), unchanged=1),
    # ------------------------------------------------------------------ delete / prevent_destroy
    Case("delete: removed from the manifests",
         [], state({f"{G}.a": RED_1}), {G: [remote("1", **A_RED)]},
         {f"{G}.a": "delete[hard]"}, ids={f"{G}.a": "1"}, why={f"{G}.a": "removed from the manifests"}),
    Case("forget: removed, and already gone remotely",
         [], state({f"{G}.a": RED_1}), {G: []},
         {f"{G}.a": "forget"}, why={f"{G}.a": "already gone"}),
    Case("forget: removed, and already soft-deleted remotely",
         [], state({f"{G}.a": RED_1}), {G: [remote("1", DELETED, **A_RED)]},
         {f"{G}.a": "forget"}),
    Case("prevent_destroy kept in the state refuses the delete",
         [], state({f"{G}.a": rec(G, "1", meta={"prevent_destroy": True}, **A_RED)}),
         {G: [remote("1", **A_RED)]},
         {f"{G}.a": "REFUSED delete[hard]"}, why={f"{G}.a": "prevent_destroy is set"}),
    Case("prevent_destroy as the record's flag refuses the delete",
         [], state({f"{G}.a": rec(G, "1", prevent_destroy=True, **A_RED)}),
         {G: [remote("1", **A_RED)]},
         {f"{G}.a": "REFUSED delete[hard]"}, why={f"{G}.a": "prevent_destroy"}),
    Case("prevent_destroy does not stop an update",
         [want(f"{G}.a", Lifecycle(prevent_destroy=True), name="A", colour="green")],
         state({f"{G}.a": rec(G, "1", meta={"prevent_destroy": True}, **A_RED)}),
         {G: [remote("1", **A_RED)]},
         {f"{G}.a": "update"}),
    # ------------------------------------------------------------------ targets / excludes
    Case("--target: only the matching address is planned",
         [want(f"{G}.a", **A_RED), want(f"{G}.b", name="B", colour="red")], state(), {G: []},
         {f"{G}.a": "create"}, options=PlanOptions(targets=[f"{G}.a"]), skipped=1),
    Case("--target: a glob selects a kind",
         [want(f"{G}.a", **A_RED), want(f"{T}.t", **ON)], state(), {G: [], T: []},
         {f"{G}.a": "create"}, options=PlanOptions(targets=["memory.gadget.*"]), skipped=1),
    Case("--exclude: the matching address is left out",
         [want(f"{G}.a", **A_RED), want(f"{G}.b", name="B", colour="red")], state(), {G: []},
         {f"{G}.a": "create"}, options=PlanOptions(excludes=[f"{G}.b"]), skipped=1),
    Case("--exclude: a removed address out of scope is not deleted",
         [], state({f"{G}.a": RED_1}), {G: [remote("1", **A_RED)]},
         {}, options=PlanOptions(excludes=[f"{G}.*"]), skipped=1),
    # ------------------------------------------------------------------ prune / unmanaged
    Case("no prune: an unmanaged object is only reported",
         [want(f"{G}.a", **A_RED)], state({f"{G}.a": RED_1}),
         {G: [remote("1", **A_RED), remote("9", name="Rogue", colour="red")]},
         {}, unmanaged=[f"{G} id=9 'Rogue'"]),
    Case("prune: an unmanaged object is deleted",
         [want(f"{G}.a", **A_RED)], state({f"{G}.a": RED_1}),
         {G: [remote("1", **A_RED), remote("9", name="Rogue", colour="red")]},
         {f"{G}.~9": "delete[hard]"}, options=PlanOptions(prune=frozenset({"memory"})),
         why={f"{G}.~9": "prune: true"}, unmanaged=[]),
    Case("prune: a kind with nothing declared or managed is pruned too",
         [], state(), {G: [remote("9", name="Rogue", colour="red")]},
         {f"{G}.~9": "delete[hard]"}, options=PlanOptions(prune=frozenset({"memory"}))),
    Case("prune: --target leaves never-managed objects outside the target alone",
         [want(f"{G}.a", **A_RED)], state(), {G: [remote("9", name="Rogue", colour="red")]},
         {f"{G}.a": "create"}, options=PlanOptions(targets=[f"{G}.a"], prune=frozenset({"memory"}))),
    Case("prune: soft-deleted and inactive objects are not live, so left alone",
         [want(f"{G}.a", **A_RED), want(f"{T}.t", **ON)],
         state({f"{G}.a": RED_1, f"{T}.t": rec(T, "5", **ON)}),
         {G: [remote("1", **A_RED), remote("9", DELETED, name="Old", colour="red")],
          T: [remote("5", **ON), remote("6", INACTIVE, key="Off", label="x", active=False)]},
         {}, options=PlanOptions(prune=frozenset({"memory"})), unmanaged=[]),
    Case("prune: never deletes what the vendor cannot delete",
         [want(f"{P}.p", name="A", text="t")], state({f"{P}.p": rec(P, "1", name="A", text="t")}),
         {P: [remote("1", name="A", text="t"), remote("9", name="Rogue", text="t")]},
         {}, options=PlanOptions(prune=frozenset({"memory"})), unmanaged=[f"{P} id=9 'Rogue'"]),
    Case("ignore_unmanaged: a tenant's built-ins are neither reported nor pruned",
         [want(f"{G}.a", **A_RED)], state({f"{G}.a": RED_1}),
         {G: [remote("1", **A_RED), remote("9", name="Builtin Call", colour="red")]},
         {}, options=PlanOptions(prune=frozenset({"memory"}),
                                 ignore_unmanaged={"memory": ("Builtin*",)}), unmanaged=[]),
    # ------------------------------------------------------------------ no delete API (Webex-like)
    Case("no delete API: removing the object is refused at plan time",
         [], state({f"{P}.p": rec(P, "1", name="A", text="t")}), {P: [remote("1", name="A", text="t")]},
         {f"{P}.p": "REFUSED delete[unsupported]"},
         why={f"{P}.p": f"no delete API); keep it in the manifests, or stop managing it with --forget {P}.p"}),
    Case("no delete API: --forget ADDR stops managing it",
         [], state({f"{P}.p": rec(P, "1", name="A", text="t")}), {P: [remote("1", name="A", text="t")]},
         {f"{P}.p": "forget"}, options=PlanOptions(forget=[f"{P}.*"]),
         why={f"{P}.p": "the remote object stays"}),
    Case("no delete API: forget_undeletable stops managing it",
         [], state({f"{P}.p": rec(P, "1", name="A", text="t")}), {P: [remote("1", name="A", text="t")]},
         {f"{P}.p": "forget"}, options=PlanOptions(forget_undeletable=frozenset({"memory"}))),
    Case("forget options never spare a kind that can be deleted",
         [], state({f"{G}.a": RED_1}), {G: [remote("1", **A_RED)]},
         {f"{G}.a": "delete[hard]"},
         options=PlanOptions(forget=["memory.*"], forget_undeletable=frozenset({"memory"}))),
    # ------------------------------------------------------------------ revive
    Case("revive: a soft-deleted twin is adopted and brought back",
         [want(f"{G}.a", **A_RED)], state(), {G: [remote("9", DELETED, **A_RED)]},
         {f"{G}.a": "adopt+revive"}, why={f"{G}.a": "deleted: it will be revived"}),
    Case("revive: a managed object soft-deleted outside is brought back",
         [want(f"{G}.a", **A_RED)], state({f"{G}.a": RED_1}), {G: [remote("1", DELETED, **A_RED)]},
         {f"{G}.a": "update+revive"}, diffs={f"{G}.a": {}}),
    Case("revive: a live twin is preferred to a soft-deleted one (listed first)",
         [want(f"{G}.a", **A_RED)], state(),
         {G: [remote("8", DELETED, **A_RED), remote("9", **A_RED)]},
         {f"{G}.a": "adopt"}, ids={f"{G}.a": "9"}),
    Case("revive: a live twin is preferred to a soft-deleted one (listed after)",
         [want(f"{G}.a", **A_RED)], state(),
         {G: [remote("9", **A_RED), remote("8", DELETED, **A_RED)]},
         {f"{G}.a": "adopt"}, ids={f"{G}.a": "9"}),
    Case("revive: an inactive twin is switched back on",
         [want(f"{T}.t", **ON)], state(), {T: [remote("5", INACTIVE, **{**ON, "active": False})]},
         {f"{T}.t": "adopt+revive"}, diffs={f"{T}.t": {"active": (False, True)}}),
    Case("revive: not when the manifest wants it inactive",
         [want(f"{T}.t", **{**ON, "active": False})], state(),
         {T: [remote("5", INACTIVE, **{**ON, "active": False})]},
         {f"{T}.t": "adopt"}, diffs={f"{T}.t": {}}),
    # ------------------------------------------------------------------ delete modes
    Case("deactivate: the kind's default delete switches it off",
         [], state({f"{T}.t": rec(T, "5", **ON)}), {T: [remote("5", **ON)]},
         {f"{T}.t": "delete[deactivate]"}),
    Case("deactivate: already inactive, so only forgotten",
         [], state({f"{T}.t": rec(T, "5", **ON)}), {T: [remote("5", INACTIVE, **ON)]},
         {f"{T}.t": "forget"}, why={f"{T}.t": "already inactive"}),
    Case("on_delete: delete picks the vendor's delete over deactivation",
         [], state({f"{T}.t": rec(T, "5", meta={"on_delete": "delete"}, **ON)}), {T: [remote("5", **ON)]},
         {f"{T}.t": "delete[soft]"}),
    Case("the provider's default delete mode applies",
         [], state({f"{T}.t": rec(T, "5", **ON)}), {T: [remote("5", **ON)]},
         {f"{T}.t": "delete[soft]"}, options=PlanOptions(delete_modes={T: DeleteMode.SOFT})),
    # ------------------------------------------------------------------ moves (renamed keys)
    Case("move: a renamed key with the same natural key moves the state entry only",
         [want(f"{G}.new", **A_RED)], state({f"{G}.old": RED_1}), {G: [remote("1", **A_RED)]},
         {f"{G}.new": "move<-old state-only"}, ids={f"{G}.new": "1"},
         why={f"{G}.new": f"key renamed in the manifests ({G}.old -> {G}.new)"}),
    Case("move: with changed fields, moved and updated",
         [want(f"{G}.new", name="A", colour="green")], state({f"{G}.old": RED_1}),
         {G: [remote("1", **A_RED)]},
         {f"{G}.new": "move<-old"}, diffs={f"{G}.new": {"colour": ("red", "green")}},
         why={f"{G}.new": "the fields below are updated"}),
    Case("move: not when the remote object is gone (create, and forget the old entry)",
         [want(f"{G}.new", **A_RED)], state({f"{G}.old": RED_1}), {G: []},
         {f"{G}.new": "create", f"{G}.old": "forget"}),
    Case("move: never across kinds",
         [want(f"{T}.new", key="A", label="x", active=True)], state({f"{G}.old": RED_1}),
         {G: [remote("1", **A_RED)], T: []},
         {f"{T}.new": "create", f"{G}.old": "delete[hard]"}),
    # ------------------------------------------------------------------ identity
    Case("identity: a natural key renamed outside reconciler is drift, renamed back",
         [want(f"{G}.a", name="A", colour="green")], state({f"{G}.a": RED_1}),
         {G: [remote("1", name="Z", colour="red")]},
         {f"{G}.a": "update"}, diffs={f"{G}.a": {"name": ("Z", "A"), "colour": ("red", "green")}}),
    Case("identity: the manifest now asks for the new natural key: the record is refreshed",
         [want(f"{G}.a", name="Z", colour="red")], state({f"{G}.a": RED_1}),
         {G: [remote("1", name="Z", colour="red")]},
         {f"{G}.a": "update state-only"}, why={f"{G}.a": "refresh"}),
    Case("identity: a renamed object no longer declared is deleted (same target: it is ours)",
         [], state({f"{G}.a": RED_1}), {G: [remote("1", name="Z", colour="red")]},
         {f"{G}.a": "delete[hard]"}),
    # ------------------------------------------------------------------ ordering
    Case("a delete that frees the natural key a create needs goes first",
         [want(f"{G}.b", **A_RED)],
         state({f"{G}.old": RED_1, f"{G}.b": rec(G, "2", name="B", colour="red")}),
         {G: [remote("1", **A_RED)]},
         {f"{G}.b": "create", f"{G}.old": "delete[hard] first"}, why={f"{G}.old": "to free name 'A'"}),
    # ------------------------------------------------------------------ interrupted runs
    Case("interrupted create, still declared: the object it made is adopted",
         [want(f"{G}.a", **A_RED)], state(pending={f"{G}.a": interrupted(G, "A")}),
         {G: [remote("9", **A_RED)]},
         {f"{G}.a": "adopt"}, ids={f"{G}.a": "9"}),
    Case("interrupted create, no longer declared: the object it made is deleted",
         [want(f"{G}.b", name="B", colour="red")],
         state({f"{G}.b": rec(G, "2", name="B", colour="red")}, {f"{G}.a": interrupted(G, "A")}),
         {G: [remote("2", name="B", colour="red"), remote("9", **A_RED)]},
         {f"{G}.a": "delete[hard]"}, ids={f"{G}.a": "9"}, why={f"{G}.a": "interrupted run"}),
    Case("interrupted create, no longer declared, the kind's only trace: still deleted",
         [], state(pending={f"{G}.a": interrupted(G, "A")}), {G: [remote("9", **A_RED)]},
         {f"{G}.a": "delete[hard]"}, ids={f"{G}.a": "9"}),
    Case("interrupted create that made nothing: nothing to do",
         [], state(pending={f"{G}.a": interrupted(G, "A")}), {G: []}, {}),
    # ------------------------------------------------------------------ write-only, unknown kinds
    Case("write-only: never pushed, so pushed",
         [want(f"{N}.n", feed="F", lines=["x"])], state(), {},
         {f"{N}.n": "push"}, why={f"{N}.n": "never pushed"}),
    Case("write-only: the same content is not pushed again",
         [want(f"{N}.n", feed="F", lines=["x"])], state({f"{N}.n": rec(N, None, **NOTE_X)}), {},
         {}, unchanged=1),
    Case("write-only: content changed, so pushed again",
         [want(f"{N}.n", feed="F", lines=["y"])], state({f"{N}.n": rec(N, None, **NOTE_X)}), {},
         {f"{N}.n": "push"}, why={f"{N}.n": "content changed since the last push"}),
    Case("write-only: removed, so only forgotten",
         [], state({f"{N}.n": rec(N, None, **NOTE_X)}), {},
         {f"{N}.n": "forget"}, why={f"{N}.n": "write-only API cannot delete"}),
    Case("a kind whose provider is not configured is left alone, with a warning",
         [], state({"other.thing.x": rec("other.thing", "1", name="X")}), {},
         {}, warning="other.thing: in state but its provider is not configured"),
]


def plan_of(case: Case) -> Plan:
    return make_plan(desired(*case.want), case.state, case.observed, KINDS, case.options, "/d")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan(case: Case) -> None:
    plan = plan_of(case)
    changes = {c.address: c for c in plan.changes}
    assert {a: label(c) for a, c in changes.items()} == case.expect
    for address, text in case.why.items():
        assert text in (changes[address].refused or changes[address].reason)
    for address, expected in case.diffs.items():
        assert {d.field: (d.before, d.after) for d in changes[address].diffs} == expected
    for address, remote_id in case.ids.items():
        assert changes[address].remote_id == remote_id
    if case.unchanged is not None:
        assert plan.unchanged == case.unchanged
    if case.skipped is not None:
        assert plan.skipped == case.skipped
    if case.unmanaged is not None:
        assert [u for found in plan.unmanaged.values() for u in found] == case.unmanaged
    if case.warning is not None:
        assert any(case.warning in w for w in plan.warnings)


BUNDLED_REMOVALS = [
    # (kind address, recorded attributes, options, expected label)
    ("outreach.call_purpose", {"name": "X", "order": 1}, PlanOptions(), "delete[hard]"),
    ("superoffice.consent_purpose", {"key": "#X", "name": "X", "active": True}, PlanOptions(),
     "delete[deactivate]"),
    ("webex_campaign.purpose", {"name": "X", "group": "DEFAULT"}, PlanOptions(),
     "REFUSED delete[unsupported]"),
    ("webex_campaign.purpose", {"name": "X", "group": "DEFAULT"},
     PlanOptions(forget_undeletable=frozenset({"webex_campaign"})), "forget"),
    ("webex_campaign.datastore_records", {"feed_id": "1499", "count": 1}, PlanOptions(), "forget"),
]


@pytest.mark.parametrize(("kind_address", "recorded", "options", "expected"), BUNDLED_REMOVALS,
                         ids=[f"{r[0]} -> {r[3]}" for r in BUNDLED_REMOVALS])
def test_bundled_kinds_are_removed_as_their_vendors_allow(
        kind_address: str, recorded: dict[str, Any], options: PlanOptions, expected: str) -> None:
    """The real kinds' declarations (delete modes, observability) drive the same planner."""
    from reconciler.providers.registry import builtin_providers

    kinds = {f"{k.vendor}.{k.name}": k for p in builtin_providers().values() for k in p.kinds}
    address = f"{kind_address}.x"
    plan = make_plan(desired(), state({address: rec(kind_address, "1", **recorded)}),
                     {kind_address: [remote("1", **recorded)]}, kinds, options, "/d")
    assert [(c.address, label(c)) for c in plan.changes] == [(address, expected)]


def test_changes_are_listed_in_the_order_they_run() -> None:
    """Deletes freeing a key, then creates/updates, then the other deletes; by address within."""
    plan = make_plan(
        desired(want(f"{G}.b", **A_RED), want(f"{G}.z", name="Z", colour="red"),
                want(f"{G}.c", name="C", colour="green")),
        state({f"{G}.old": RED_1, f"{G}.b": rec(G, "2", name="B", colour="red"),
               f"{G}.a": rec(G, "3", name="X", colour="red"), f"{G}.c": rec(G, "4", name="C", colour="red")}),
        {G: [remote("1", **A_RED), remote("3", name="X", colour="red"), remote("4", name="C", colour="red")]},
        KINDS, PlanOptions(), "/d")
    assert [(c.phase, c.address, str(c.action)) for c in plan.changes] == [
        (0, f"{G}.old", "delete"), (1, f"{G}.b", "create"), (1, f"{G}.c", "update"),
        (1, f"{G}.z", "create"), (2, f"{G}.a", "delete")]
