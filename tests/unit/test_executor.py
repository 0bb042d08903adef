"""The executor against the in-memory vendor, with the real planner and local state backend.

What it must guarantee (DESIGN.md, "Behaviour every part keeps"): creates and updates
before deletes, except a delete that frees a key a create needs; the state written after
every successful call; a lost answer to a create adopted by natural key, never duplicated;
a failure stopping the vendor's remaining changes with the state still telling the truth,
so that the next run converges.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.manifest.loader import Desired, Lifecycle
from reconciler.plan.builder import PlanOptions
from reconciler.plan.model import Action, Change, Phase
from reconciler.providers.base import RemoteObject, RemoteStatus
from reconciler.state import StateDoc
from tests.unit.conftest import Pipeline
from tests.unit.factories import desired, want
from tests.unit.memory_provider import KINDS, Killed, MemoryStore

G, P, T, N = "memory.gadget", "memory.plaque", "memory.toggle", "memory.note"


def gadgets(**colours: str) -> Desired:
    """memory.gadget.<key> named after its key in upper case: gadgets(a="red") -> A, red."""
    return desired(*(want(f"{G}.{key}", name=key.upper(), colour=c) for key, c in colours.items()))


def actions(pipeline: Pipeline, wanted: Desired, options: PlanOptions | None = None) -> dict[str, str]:
    return {c.address: str(c.action) for c in pipeline.plan(wanted, options).changes}


def assert_consistent(store: MemoryStore, doc: StateDoc) -> None:
    """The state tells the truth: each record names a distinct remote object that exists and
    holds what the record says; no half-finished create is left unresolved."""
    seen: set[tuple[str, str]] = set()
    for address, resource in doc.resources.items():
        kind_address = f"{resource.vendor}.{resource.kind}"
        if not KINDS[kind_address].observable:
            continue
        assert resource.remote_id is not None, address
        assert (kind_address, resource.remote_id) not in seen, f"{address}: id recorded twice"
        seen.add((kind_address, resource.remote_id))
        obj = store.of(kind_address).get(resource.remote_id)
        assert obj is not None, f"{address}: records {resource.remote_id}, which does not exist"
        assert obj.attributes == resource.attributes, address


def live(store: MemoryStore, kind_address: str, name: str) -> list[RemoteObject]:
    return [o for o in store.named(kind_address, name) if o.status is RemoteStatus.PRESENT]


# -- order ---------------------------------------------------------------------------------

def test_creates_and_updates_run_before_deletes(pipeline: Pipeline, store: MemoryStore) -> None:
    assert pipeline.converge(gadgets(a="red", b="red", c="red"))[1].ok
    a_id = pipeline.state().resources[f"{G}.a"].remote_id
    c_id = pipeline.state().resources[f"{G}.c"].remote_id
    store.calls.clear()

    wanted = gadgets(a="green", b="red", d="red", e="red")  # c removed, a changed
    plan = pipeline.plan(wanted)
    plan = replace(plan, changes=plan.changes[::-1])  # the delete first: order comes from phases
    result = pipeline.apply(plan, wanted)
    assert result.ok and result.tally()["created"] == 2 and result.tally()["deleted"] == 1
    assert store.writes()[-1] == ("delete:hard", c_id)
    assert sorted(store.writes()[:-1]) == [("create", "D"), ("create", "E"), ("update", a_id)]
    doc = pipeline.state()
    assert set(doc.resources) == {f"{G}.a", f"{G}.b", f"{G}.d", f"{G}.e"} and not doc.pending
    assert doc.resources[f"{G}.a"].attributes == {"name": "A", "colour": "green"}
    assert_consistent(store, doc)
    assert actions(pipeline, wanted) == {}


def _freeing_a_name(pipeline: Pipeline, store: MemoryStore) -> Desired:
    """`old` holds name A; `b` was deleted outside and is now declared with name A, and `old`
    is removed: the vendor refuses a second A, so the delete must go first."""
    store.unique.add(G)
    assert pipeline.converge(gadgets(old="red", b="red"))[1].ok
    del store.of(G)[pipeline.state().resources[f"{G}.b"].remote_id or ""]
    return desired(want(f"{G}.b", name="OLD", colour="red"))


def test_a_delete_that_frees_a_name_runs_before_the_create(pipeline: Pipeline,
                                                           store: MemoryStore) -> None:
    wanted = _freeing_a_name(pipeline, store)
    old_id = pipeline.state().resources[f"{G}.old"].remote_id
    store.calls.clear()
    plan, result = pipeline.converge(wanted)
    assert {c.address: (str(c.action), c.phase) for c in plan.changes} == {
        f"{G}.b": ("create", 1), f"{G}.old": ("delete", 0)}
    assert result.ok and not result.adopted
    assert store.writes() == [("delete:hard", old_id), ("create", "OLD")]
    (survivor,) = live(store, G, "OLD")
    assert pipeline.state().resources[f"{G}.b"].remote_id == survivor.remote_id != old_id
    assert_consistent(store, pipeline.state())
    assert actions(pipeline, wanted) == {}


def test_the_same_plan_in_the_wrong_order_would_lose_the_object(pipeline: Pipeline,
                                                                store: MemoryStore) -> None:
    """Control for the test above: it can fail. Deleting last, the create meets the taken
    name (409) and finds the object about to be deleted, which another address records:
    that is refused (one remote object is never two addresses), so nothing is adopted and
    lost; the object stays, still recorded under its own address."""
    wanted = _freeing_a_name(pipeline, store)
    old_id = pipeline.state().resources[f"{G}.old"].remote_id
    plan = pipeline.plan(wanted)
    plan = replace(plan, changes=tuple(
        replace(c, phase=Phase.DELETE if c.action is Action.DELETE else Phase.WRITE)
        for c in plan.changes))
    result = pipeline.apply(plan, wanted)
    assert not result.ok and "cannot be two addresses" in str(result.errors[0])
    (survivor,) = live(store, G, "OLD")
    assert survivor.remote_id == old_id
    assert pipeline.state().resources[f"{G}.old"].remote_id == old_id
    assert pipeline.state().resources[f"{G}.b"].remote_id != old_id  # its old record, never old's id


# -- durability ----------------------------------------------------------------------------

def test_the_state_holds_each_change_as_soon_as_it_is_reported(pipeline: Pipeline,
                                                               store: MemoryStore) -> None:
    """Read back by another reader (document + journal) after every change, mid-apply."""
    assert pipeline.converge(gadgets(a="red", b="red"))[1].ok
    wanted = gadgets(a="green", c="red")
    seen: list[str] = []

    def progress(change: Change, error: str | None) -> None:
        assert error is None
        recorded = pipeline.state().resources.get(change.address)
        if change.action is Action.DELETE:
            assert recorded is None, change.address
        else:
            assert recorded is not None and recorded.attributes == change.attributes, change.address
        seen.append(change.address)

    assert pipeline.apply(pipeline.plan(wanted), wanted, progress=progress).ok
    assert sorted(seen) == [f"{G}.a", f"{G}.b", f"{G}.c"]


# -- lost answers --------------------------------------------------------------------------

def test_a_create_whose_answer_was_lost_is_adopted_not_duplicated(pipeline: Pipeline,
                                                                  store: MemoryStore) -> None:
    store.lose_create["A"] = "after"  # the vendor wrote it; the connection broke before the answer
    wanted = gadgets(a="red")
    result = pipeline.converge(wanted)[1]
    assert result.ok and result.adopted == {f"{G}.a"} and result.tally()["adopted"] == 1
    (made,) = store.named(G, "A")
    doc = pipeline.state()
    assert doc.resources[f"{G}.a"].remote_id == made.remote_id and not doc.pending
    assert_consistent(store, doc)
    assert actions(pipeline, wanted) == {}


def test_a_create_lost_before_the_vendor_wrote_it_is_sent_again(pipeline: Pipeline,
                                                               store: MemoryStore) -> None:
    store.lose_create["A"] = "before"
    result = pipeline.converge(gadgets(a="red"))[1]
    assert result.ok and not result.adopted
    assert store.writes() == [("create", "A")] and len(store.named(G, "A")) == 1
    assert_consistent(store, pipeline.state())


def test_a_taken_name_is_adopted_when_the_vendor_says_409(pipeline: Pipeline,
                                                          store: MemoryStore) -> None:
    """Someone made it between plan and apply: the vendor refuses a second one; adopted."""
    wanted = desired(want(f"{P}.p", name="Hello", text="t"))
    plan = pipeline.plan(wanted)
    assert [str(c.action) for c in plan.changes] == ["create"]
    store.seed(P, "7", name="Hello", text="other")
    result = pipeline.apply(plan, wanted)
    assert result.ok and result.adopted == {f"{P}.p"}
    assert store.of(P)["7"].attributes == {"name": "Hello", "text": "t"}  # then updated
    assert pipeline.state().resources[f"{P}.p"].remote_id == "7"
    assert_consistent(store, pipeline.state())


@pytest.mark.parametrize(("declared", "then"), [(True, "adopt"), (False, "delete")],
                         ids=["still declared: adopted", "no longer declared: deleted"])
def test_an_object_created_by_a_killed_run_is_found_by_its_natural_key(
        pipeline: Pipeline, store: MemoryStore, declared: bool, then: str) -> None:
    """Created remotely, never recorded: the intent in the journal makes the next run find it
    again, so it is neither duplicated nor left behind as an orphan."""
    store.kill_after_create.add("A")
    with pytest.raises(Killed):
        pipeline.converge(gadgets(a="red"))
    doc = pipeline.state()
    assert f"{G}.a" not in doc.resources and doc.pending[f"{G}.a"].identity == "A"
    (made,) = store.named(G, "A")

    store.kill_after_create.clear()
    wanted = gadgets(a="red") if declared else desired()
    plan = pipeline.plan(wanted)
    assert [(c.address, str(c.action), c.remote_id) for c in plan.changes] == [
        (f"{G}.a", then, made.remote_id)]
    assert pipeline.apply(plan, wanted).ok
    assert store.named(G, "A") == ([made] if declared else [])
    assert not pipeline.state().pending
    assert_consistent(store, pipeline.state())
    assert actions(pipeline, wanted) == {}


# -- partial failure -----------------------------------------------------------------------

def test_a_failure_stops_the_vendor_and_the_state_still_tells_the_truth(
        pipeline: Pipeline, store: MemoryStore) -> None:
    assert pipeline.converge(gadgets(a="red", b="red", c="red"))[1].ok
    before = pipeline.state()
    store.refuse_update.add("B")
    wanted = gadgets(a="green", b="green", d="red")  # c removed

    plan, result = pipeline.converge(wanted)
    assert not result.ok and len(result.errors) == 1
    assert str(result.errors[0]).startswith(f"{G}.b: memory refused the request (HTTP 422 [invalid])")
    applied = {c.address for c in result.applied}
    assert f"{G}.c" not in applied  # the delete, a later phase, never started
    assert len(applied) + len(result.errors) + result.not_started == len(plan.changes)
    doc = pipeline.state()
    assert f"{G}.c" in doc.resources and (f"{G}.d" in doc.resources) == (f"{G}.d" in applied)
    assert doc.resources[f"{G}.b"] == before.resources[f"{G}.b"] and not doc.pending
    assert_consistent(store, doc)

    store.refuse_update.clear()
    left = {f"{G}.b": "update", f"{G}.c": "delete"} | ({} if f"{G}.d" in applied else {f"{G}.d": "create"})
    assert actions(pipeline, wanted) == left
    assert pipeline.converge(wanted)[1].ok
    assert actions(pipeline, wanted) == {}
    assert_consistent(store, pipeline.state())


def test_an_adoption_whose_update_fails_records_the_object_as_it_is(
        pipeline: Pipeline, store: MemoryStore) -> None:
    """The adopted object is managed from then on; the state holds it as the vendor does, so
    drift and the next plan compare against the truth, not against a fragment of it."""
    store.seed(G, "9", name="A", colour="blue", size=4)
    store.refuse_update.add("A")
    wanted = gadgets(a="red")
    result = pipeline.converge(wanted)[1]
    assert not result.ok
    doc = pipeline.state()
    assert doc.resources[f"{G}.a"].remote_id == "9"
    assert_consistent(store, doc)

    store.refuse_update.clear()
    assert actions(pipeline, wanted) == {f"{G}.a": "update"}
    assert pipeline.converge(wanted)[1].ok and actions(pipeline, wanted) == {}


def test_a_lifecycle_change_records_the_object_as_the_vendor_holds_it(
        pipeline: Pipeline, store: MemoryStore) -> None:
    """prevent_destroy added to an object whose colour is owned elsewhere (ignore_changes):
    a state-only change, which must not record a colour that was never applied."""
    owned = Lifecycle(ignore_changes=("colour",))
    assert pipeline.converge(desired(want(f"{G}.a", owned, name="A", colour="red")))[1].ok
    a_id = pipeline.state().resources[f"{G}.a"].remote_id or ""
    store.seed(G, a_id, name="A", colour="blue")  # changed by its owner, outside reconciler
    wanted = desired(want(f"{G}.a", Lifecycle(ignore_changes=("colour",), prevent_destroy=True),
                          name="A", colour="red"))
    assert actions(pipeline, wanted) == {f"{G}.a": "update"}
    assert pipeline.converge(wanted)[1].ok and store.writes()[-1] == ("create", "A")
    doc = pipeline.state()
    assert doc.resources[f"{G}.a"].prevent_destroy
    assert_consistent(store, doc)


def test_a_refused_create_leaves_an_intent_and_the_next_run_creates_it_once(
        pipeline: Pipeline, store: MemoryStore) -> None:
    store.refuse_create.add("A")
    wanted = gadgets(a="red")
    assert not pipeline.converge(wanted)[1].ok
    doc = pipeline.state()
    assert f"{G}.a" not in doc.resources and doc.pending[f"{G}.a"].identity == "A"
    assert store.named(G, "A") == []

    store.refuse_create.clear()
    assert actions(pipeline, wanted) == {f"{G}.a": "create"}
    assert pipeline.converge(wanted)[1].ok
    assert len(store.named(G, "A")) == 1 and not pipeline.state().pending
    assert_consistent(store, pipeline.state())


def test_one_vendor_failing_does_not_stop_another(pipeline: Pipeline, store: MemoryStore) -> None:
    store.refuse_create.add("A")
    wanted = desired(want(f"{G}.a", name="A", colour="red"), want("spare.gadget.s", name="S", colour="red"))
    result = pipeline.converge(wanted)[1]
    assert [c.address for c in result.applied] == ["spare.gadget.s"] and len(result.errors) == 1
    assert pipeline.state().resources["spare.gadget.s"].remote_id == store.named("spare.gadget", "S")[0].remote_id


def test_verify_refuses_an_object_changed_since_the_plan(pipeline: Pipeline, store: MemoryStore) -> None:
    assert pipeline.converge(gadgets(a="red"))[1].ok
    wanted = gadgets(a="green")
    plan = pipeline.plan(wanted)
    a_id = pipeline.state().resources[f"{G}.a"].remote_id or ""
    store.seed(G, a_id, name="A", colour="blue")  # edited in the vendor's UI meanwhile
    store.calls.clear()
    result = pipeline.apply(plan, wanted, verify=True)
    assert not result.ok
    message = str(result.errors[0])  # the address once, then what and what to do
    assert message.startswith(f"{G}.a: the remote object changed since the plan was made"), message
    assert message.endswith("run plan again and review it")
    assert store.writes() == [] and store.of(G)[a_id].attributes["colour"] == "blue"


# -- kinds that cannot delete, deactivate, move, push ----------------------------------------

def test_an_undeletable_object_is_forgotten_and_left_remotely(pipeline: Pipeline,
                                                              store: MemoryStore) -> None:
    assert pipeline.converge(desired(want(f"{P}.p", name="Hello", text="t")))[1].ok
    store.calls.clear()
    refused = pipeline.plan(desired())
    assert refused.refusals and "no delete API" in refused.refusals[0]
    result = pipeline.converge(desired(), PlanOptions(forget=[f"{P}.p"]))[1]
    assert result.ok and result.tally()["forgotten"] == 1
    assert store.writes() == [] and len(live(store, P, "Hello")) == 1
    assert pipeline.state().resources == {}


def test_a_deactivated_object_declared_again_is_revived(pipeline: Pipeline, store: MemoryStore) -> None:
    wanted = desired(want(f"{T}.t", key="K", label="Consent", active=True))
    assert pipeline.converge(wanted)[1].ok
    result = pipeline.converge(desired())[1]
    assert result.ok and result.tally()["deactivated"] == 1
    (obj,) = store.named(T, "K")
    assert obj.status is RemoteStatus.INACTIVE and pipeline.state().resources == {}

    plan, result = pipeline.converge(wanted)
    assert [(str(c.action), c.revive) for c in plan.changes] == [("adopt", True)] and result.ok
    (obj,) = store.named(T, "K")
    assert obj.status is RemoteStatus.PRESENT and obj.attributes["active"] is True
    assert_consistent(store, pipeline.state())
    assert actions(pipeline, wanted) == {}


def test_a_renamed_key_moves_the_state_without_calling_the_vendor(pipeline: Pipeline,
                                                                  store: MemoryStore) -> None:
    assert pipeline.converge(gadgets(old="red"))[1].ok
    old_id = pipeline.state().resources[f"{G}.old"].remote_id
    store.calls.clear()
    wanted = desired(want(f"{G}.new", name="OLD", colour="red"))
    result = pipeline.converge(wanted)[1]
    assert result.ok and result.tally()["moved"] == 1 and store.writes() == []
    doc = pipeline.state()
    assert set(doc.resources) == {f"{G}.new"} and doc.resources[f"{G}.new"].remote_id == old_id
    assert actions(pipeline, wanted) == {}


def test_write_only_content_is_pushed_and_never_kept_in_the_state(pipeline: Pipeline,
                                                                  store: MemoryStore) -> None:
    wanted = desired(want(f"{N}.n", feed="F", lines=["+44 1", "+44 2"]))
    assert pipeline.converge(wanted)[1].ok
    assert store.pushed == [{"feed": "F", "lines": ["+44 1", "+44 2"]}]
    recorded = pipeline.state().resources[f"{N}.n"]
    assert set(recorded.attributes) == {"feed", "count", "digest"} and recorded.attributes["count"] == 2
    assert "+44" not in str(recorded.to_dict())
    assert actions(pipeline, wanted) == {}


def test_write_only_content_edited_after_the_plan_is_not_pushed(pipeline: Pipeline,
                                                                store: MemoryStore) -> None:
    """The plan holds a count, not the records: the content pushed is the manifests', and
    only if it is still what was planned."""
    planned = desired(want(f"{N}.n", feed="F", lines=["+44 1"]))
    plan = pipeline.plan(planned)
    edited = desired(want(f"{N}.n", feed="F", lines=["+44 9"]))
    result = pipeline.apply(plan, edited)
    assert not result.ok and "changed since the plan was made" in str(result.errors[0])
    assert store.pushed == [] and pipeline.state().resources == {}
