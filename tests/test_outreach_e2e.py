"""Outreach call purposes end to end: the CLI as a subprocess against the sandbox over loopback."""

from __future__ import annotations

import json

from tests.conftest import Project

PURPOSES = """\
outreach:
  call_purposes:
    initial_contact:
      name: Initial Contact
      order: 1
    follow_up:
      name: Follow Up
      order: 2
"""


def test_plan_apply_plan_converges(project: Project) -> None:
    project.write("purposes/outreach.yaml", PURPOSES)
    first = project.plan()
    assert first.code == 2, first.text
    assert "+ outreach.call_purpose.initial_contact" in first.out
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in first.out

    applied = project.apply()
    assert applied.code == 0, applied.text
    assert "Apply complete! Changes: 2 created" in applied.out
    remote = {p["attributes"]["name"]: p for p in project.sandbox.outreach_purposes()}
    assert set(remote) == {"Initial Contact", "Follow Up"}
    state = project.state()
    assert state["resources"]["outreach.call_purpose.follow_up"]["remote_id"] == str(remote["Follow Up"]["id"])
    assert state["serial"] > 0 and state["lineage"]

    second = project.plan()
    assert second.code == 0, second.text
    assert "No changes." in second.out


def test_update_changes_only_the_changed_field(project: Project) -> None:
    project.write("purposes/outreach.yaml", PURPOSES)
    assert project.apply().code == 0
    before = {p["attributes"]["name"]: p for p in project.sandbox.outreach_purposes()}
    project.write("purposes/outreach.yaml", PURPOSES.replace("order: 2", "order: 7"))
    plan = project.plan()
    assert plan.code == 2
    assert "~ outreach.call_purpose.follow_up" in plan.out
    assert "~ order: 2 -> 7" in plan.out
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.out
    assert project.apply().code == 0
    after = {p["attributes"]["name"]: p for p in project.sandbox.outreach_purposes()}
    assert after["Follow Up"]["attributes"]["order"] == 7
    assert after["Follow Up"]["id"] == before["Follow Up"]["id"]
    assert after["Initial Contact"]["attributes"]["updatedAt"] == before["Initial Contact"]["attributes"]["updatedAt"]
    assert project.plan().code == 0


def test_delete_removes_only_managed_objects(project: Project) -> None:
    project.sandbox.outreach("POST", "/callPurposes", {"data": {"type": "callPurpose", "attributes": {"name": "Hand Made"}}})
    project.write("purposes/outreach.yaml", PURPOSES)
    assert project.apply().code == 0
    project.write("purposes/outreach.yaml", PURPOSES.split("    follow_up:")[0])
    plan = project.plan()
    assert "- outreach.call_purpose.follow_up" in plan.out
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in plan.out
    assert "Unmanaged: 1 outreach object(s)" in plan.out and "'Hand Made'" in plan.out
    assert project.apply().code == 0
    names = sorted(p["attributes"]["name"] for p in project.sandbox.outreach_purposes())
    assert names == ["Hand Made", "Initial Contact"]
    assert "outreach.call_purpose.follow_up" not in project.state()["resources"]


def test_existing_remote_object_is_adopted_not_duplicated(project: Project) -> None:
    created = project.sandbox.outreach("POST", "/callPurposes", {
        "data": {"type": "callPurpose", "attributes": {"name": "Follow Up", "order": 9}}}).json()
    project.write("purposes/outreach.yaml", PURPOSES)
    plan = project.plan()
    assert "<= outreach.call_purpose.follow_up" in plan.out
    assert "~ order: 9 -> 2" in plan.out
    assert "Plan: 1 to import, 1 to add, 0 to change, 0 to destroy." in plan.out
    assert project.apply().code == 0
    remote = project.sandbox.outreach_purposes()
    assert len(remote) == 2
    follow = next(p for p in remote if p["attributes"]["name"] == "Follow Up")
    assert follow["id"] == created["data"]["id"] and follow["attributes"]["order"] == 2
    assert project.plan().code == 0


def test_listing_follows_links_next_across_many_pages(project: Project) -> None:
    project.extra_provider_settings["outreach"] = "    page_size: 2\n"
    project.configure()
    for i in range(9):
        project.sandbox.outreach("POST", "/callPurposes", {"data": {"type": "callPurpose", "attributes": {"name": f"P{i}", "order": i}}})
    project.write("purposes/outreach.yaml", """\
        outreach:
          call_purposes:
            last_one: {name: P8, order: 8}
        """)
    before = project.sandbox.requests().get("outreach GET", 0)
    plan = project.plan("--format", "json")
    assert plan.code == 2, plan.text
    body = json.loads(plan.out)
    [adopted] = body["resource_changes"]
    assert adopted["change"]["actions"] == ["no-op"] and "importing" in adopted["change"]
    assert len([u for u in body["unmanaged"] if u["vendor"] == "outreach"]) == 8
    assert project.sandbox.requests()["outreach GET"] - before == 5  # 9 objects, 2 per page


def test_saved_plan_applies_and_cannot_be_replayed(project: Project) -> None:
    project.write("purposes/outreach.yaml", PURPOSES)
    plan_file = project.root.parent / "plan.json"
    assert project.plan("--out", str(plan_file)).code == 2
    applied = project.cli("apply", str(plan_file))
    assert applied.code == 0, applied.text
    again = project.cli("apply", str(plan_file))
    assert again.code == 1
    assert "a state was written since; run plan again" in again.err
    project.write("purposes/outreach.yaml", PURPOSES.replace("order: 2", "order: 3"))
    assert project.plan("--out", str(plan_file)).code == 2
    project.write("purposes/outreach.yaml", PURPOSES.replace("order: 2", "order: 4"))
    assert project.apply().code == 0
    stale = project.cli("apply", str(plan_file))
    assert stale.code == 1 and "the state changed since the plan was made" in stale.err


def test_formats_json_and_markdown(project: Project) -> None:
    project.write("purposes/outreach.yaml", PURPOSES)
    body = json.loads(project.plan("--format", "json").out)
    assert body["format_version"] == "1.2" and body["checksum"].startswith("sha256:")
    assert body["summary"]["create"] == 2
    markdown = project.plan("--format", "markdown").out
    assert markdown.startswith("### reconciler plan")
    assert "<details>" in markdown and "`outreach.call_purpose.follow_up`" in markdown
