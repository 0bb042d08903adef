"""A no-op plan (issue 23) does no work it does not need: where the state and the listing
hold the manifests' own attribute dicts (reconciler/perf.py shares equal ones), no natural key
is computed and nothing is compared; renamed keys, adoption and creates still find their
remote objects by natural key. No timings: what is computed, which is what the time follows."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.manifest.loader import Desired, DesiredObject
from reconciler.plan import builder
from reconciler.plan.builder import PlanOptions, make_plan
from reconciler.plan.model import Action
from reconciler.providers.base import RemoteObject
from reconciler.providers.outreach.provider import CallPurposeKind
from reconciler.state import Resource, StateDoc

KIND = "outreach.call_purpose"


def _inputs(names: dict[str, str]) -> tuple[Desired, StateDoc, dict[str, list[RemoteObject]]]:
    """Each address managed under id i, recorded and listed with the very dict the manifests
    declare (as reconciler/perf.py's sharing leaves them when all are equal)."""
    objects, resources, listed = {}, {}, []
    for i, (key, name) in enumerate(names.items()):
        attributes: dict[str, Any] = {"name": name}
        address = f"{KIND}.{key}"
        objects[address] = DesiredObject(address, "outreach", "call_purpose", attributes,
                                         f"{key}.yaml")  # type: ignore[arg-type]
        resources[address] = Resource("outreach", "call_purpose", str(i))
        resources[address].attributes = attributes  # not a validated copy: the one dict
        listed.append(RemoteObject(str(i), attributes))
    state = StateDoc.model_construct(resources=resources)  # as read: sharing the manifests' dicts
    return Desired(objects=objects, digest="d", documents={}), state, {KIND: listed}


@pytest.fixture
def keys_computed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    computed: list[str] = []
    real = CallPurposeKind.identity

    def counted(cls: type[CallPurposeKind], attributes: dict[str, Any]) -> str | None:
        computed.append(str(attributes.get("name")))
        return real(attributes)

    monkeypatch.setattr(CallPurposeKind, "identity", classmethod(counted))
    return computed


def _plan(desired: Desired, state: StateDoc, observed: dict[str, list[RemoteObject]]) -> Any:
    return make_plan(desired, state, observed, {KIND: CallPurposeKind}, PlanOptions(), "dir")


def test_a_no_op_plan_computes_no_natural_key_and_compares_nothing(
        monkeypatch: pytest.MonkeyPatch, keys_computed: list[str]) -> None:
    compared: list[object] = []
    real_diffs = builder.field_diffs
    monkeypatch.setattr(builder, "field_diffs", lambda *a: compared.append(a) or real_diffs(*a))
    plan = _plan(*_inputs({f"p{i}": f"Purpose {i}" for i in range(50)}))
    assert (plan.changes, plan.unchanged) == ((), 50)
    assert keys_computed == []
    assert compared == []


def test_renamed_keys_adoptions_and_creates_still_use_natural_keys(keys_computed: list[str]) -> None:
    desired, state, observed = _inputs({"a": "Alpha", "b": "Beta"})
    renamed = desired.objects.pop(f"{KIND}.a")
    desired.objects[f"{KIND}.a2"] = DesiredObject(f"{KIND}.a2", "outreach", "call_purpose",
                                                  {"name": "Alpha"}, renamed.source)
    desired.objects[f"{KIND}.c"] = DesiredObject(f"{KIND}.c", "outreach", "call_purpose",
                                                 {"name": "Gamma"}, renamed.source)
    desired.objects[f"{KIND}.d"] = DesiredObject(f"{KIND}.d", "outreach", "call_purpose",
                                                 {"name": "Delta"}, renamed.source)
    observed[KIND].append(RemoteObject("9", {"name": "Delta"}))  # unmanaged: adopted
    plan = _plan(desired, state, observed)
    actions = {c.address: (c.action, c.identity, c.moved_from) for c in plan.changes}
    assert actions == {f"{KIND}.a2": (Action.MOVE, "Alpha", f"{KIND}.a"),
                       f"{KIND}.c": (Action.CREATE, "Gamma", None),
                       f"{KIND}.d": (Action.ADOPT, "Delta", None)}
    assert plan.unchanged == 1
    assert keys_computed


def test_objects_sharing_lifecycle_settings_each_get_their_own_record_of_them() -> None:
    """One state_meta per shared Lifecycle is compared; each change carries its own copy."""
    from reconciler.manifest.loader import Lifecycle

    desired, state, observed = _inputs({"a": "Alpha", "b": "Beta", "c": "Gamma"})
    guarded = Lifecycle(prevent_destroy=True, ignore_changes=("description",))
    for key in ("a", "b"):
        desired.objects[f"{KIND}.{key}"].lifecycle = guarded
    plan = _plan(desired, state, observed)
    assert [(c.address, c.action, c.state_only) for c in plan.changes] == [
        (f"{KIND}.a", Action.UPDATE, True), (f"{KIND}.b", Action.UPDATE, True)]
    first, second = (c.meta for c in plan.changes)
    assert first == second == {"prevent_destroy": True, "on_delete": None,
                               "ignore_changes": ["description"]}
    assert first is not second
    assert plan.unchanged == 1
