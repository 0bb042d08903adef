"""Issue 24, items 3 and 4: the state is bound to its target, so a natural key renamed in a
vendor's UI is drift the plan reverts; objects forgotten with --forget are remembered, so
drift calls them forgotten instead of failing every night."""

from __future__ import annotations

import asyncio
import json
import os

from reconciler.engine import Scope, Workspace
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from tests.conftest import Project, Sandbox

PURPOSES = """\
outreach:
  call_purposes:
    initial_contact:
      name: Initial Contact
      order: 1
"""
WEBEX = """\
webex_campaign:
  purposes:
    marketing:
      name: Marketing_Purpose
      group: Default
    product_updates:
      name: Product_Updates
      group: product
"""


def test_a_name_changed_in_the_vendor_ui_is_planned_back(project: Project) -> None:
    project.write("purposes/outreach.yaml", PURPOSES)
    assert project.apply().code == 0
    [purpose] = project.sandbox.outreach_purposes()
    assert project.sandbox.outreach("PATCH", f"/callPurposes/{purpose['id']}", {"data": {
        "type": "callPurpose", "id": int(purpose["id"]),
        "attributes": {"name": "Renamed in UI"}}}).status_code == 200
    plan = project.plan()
    assert plan.code == 2, plan.text
    assert '~ name: "Renamed in UI" -> "Initial Contact"' in plan.out
    applied = project.apply()
    assert applied.code == 0, applied.text
    [after] = project.sandbox.outreach_purposes()
    assert (after["id"], after["attributes"]["name"]) == (purpose["id"], "Initial Contact")
    assert project.plan().code == 0
    assert project.cli("drift", str(project.root)).code == 0


def test_a_state_used_against_another_target_is_refused_naming_both(project: Project) -> None:
    project.write("purposes/outreach.yaml", PURPOSES)
    assert project.apply().code == 0
    recorded = project.state()["target"]["outreach"]
    assert recorded, "the state records where it was applied"
    other_settings = SandboxSettings(data_dir=project.root.parent / "other-data",
                                     superoffice_builtins=False)
    with RunningSandbox(other_settings) as running:
        other = Sandbox(running)
        for command in ("plan", "drift", "apply"):
            refused = project.cli(command, str(project.root), env=other.env())
            assert refused.code == 1, refused.text
            assert "belongs to another target" in refused.err
            assert project.sandbox.url.split("//")[1] in refused.err  # the state's target
            assert other.url.split("//")[1] in refused.err  # and this run's
        assert other.writes() == 0


def _apply(project: Project, text: str, forget: str | None = None) -> None:
    """Set-up applies in-process (the engine the CLI wires): the CLI is what is checked."""
    project.write("purposes/webex.yaml", text)
    ws = Workspace.open(project.root, env={**os.environ, **project.sandbox.env()})
    applied = asyncio.run(ws.apply(scope=Scope.of(forget=[forget] if forget else None)))
    assert applied.result is None or applied.result.ok


def test_forgotten_objects_are_remembered_not_drift(project: Project) -> None:
    project.configure(vendors=("webex_campaign",))
    address = "webex_campaign.purpose.product_updates"
    _apply(project, WEBEX)
    _apply(project, WEBEX.split("    product_updates:")[0], forget=address)
    drift = project.cli("drift", str(project.root))
    assert drift.code == 0, drift.text
    assert "forgotten" in drift.out and "Product_Updates" in drift.out
    assert "never managed" not in drift.out
    as_json = json.loads(project.cli("drift", str(project.root), "--format", "json").out)
    assert [f.split(" ")[0] for f in as_json["forgotten"]] == [address] and not as_json["unmanaged"]
    plan = project.plan()
    assert plan.code == 0 and "Unmanaged" not in plan.out, plan.text
    listed = project.cli("state", "list", str(project.root))
    assert listed.code == 0 and f"{address}\t" in listed.out and "forgotten" in listed.out
    unforget = project.cli("state", "unforget", address, str(project.root))
    assert unforget.code == 0, unforget.text
    assert project.cli("drift", str(project.root)).code == 2  # unmanaged again, as before
    _apply(project, WEBEX)  # adopted by its natural key
    _apply(project, WEBEX.split("    product_updates:")[0], forget=address)
    assert list(project.state()["forgotten"]) == [address]
    # Declared again while forgotten: adopted, managed, no longer forgotten.
    _apply(project, WEBEX)
    assert address in project.state()["resources"] and not project.state()["forgotten"]


def test_drift_right_after_a_webex_apply_finds_nothing(project: Project) -> None:
    """A group the vendor stores in capitals ("DEFAULT" for a declared "Default") is spelled
    as recorded by drift too, as by plan: no drift right after an apply."""
    project.configure(vendors=("webex_campaign",))
    project.write("purposes/webex.yaml", WEBEX)
    assert project.apply().code == 0
    drift = project.cli("drift", str(project.root))
    assert drift.code == 0, drift.text
