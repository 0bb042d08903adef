"""Drift, import/dump, saved-plan freshness, safety rails, scoping and pipeline outputs (Outreach)."""

from __future__ import annotations

import json

from reconciler.plan.model import Action, Change, FieldDiff, Plan
from reconciler.render.markdown import plan_markdown
from tests.conftest import Project

MANIFEST = """\
# Call purposes of the sales team
outreach:
  call_purposes:
    # first touch
    initial_contact:
      name: Initial Contact
      order: 1

    follow_up:
      name: Follow Up   # keep this comment
      order: 2
"""


def _ids(project: Project) -> dict[str, str]:
    return {a: r["remote_id"] for a, r in project.state()["resources"].items()}


def _patch(project: Project, remote_id: str, **attributes: object) -> None:
    body = {"data": {"type": "callPurpose", "id": int(remote_id), "attributes": attributes}}
    assert project.sandbox.outreach("PATCH", f"/callPurposes/{remote_id}", body).status_code == 200


def test_drift_reports_changed_missing_and_unmanaged_without_writing(project: Project) -> None:
    project.write("p.yaml", MANIFEST)
    assert project.apply().code == 0
    ids = _ids(project)
    assert project.cli("drift", str(project.root)).code == 0
    _patch(project, ids["outreach.call_purpose.follow_up"], order=9)
    project.sandbox.outreach("DELETE", f"/callPurposes/{ids['outreach.call_purpose.initial_contact']}")
    project.sandbox.outreach("POST", "/callPurposes", {"data": {"type": "callPurpose", "attributes": {"name": "Rogue"}}})
    writes = project.sandbox.writes()
    result = project.cli("drift", str(project.root))
    assert result.code == 2, result.text
    assert "~ outreach.call_purpose.follow_up" in result.out and "~ order: 2 -> 9" in result.out
    assert "! outreach.call_purpose.initial_contact" in result.out and "deleted outside reconciler" in result.out
    assert "'Rogue'" in result.out
    body = json.loads(project.cli("drift", str(project.root), "--format", "json").out)
    assert body["format_version"] == "1.2" and body["drifted"] == 2
    assert {d["status"] for d in body["drift_details"].values()} == {"changed", "missing"}
    assert sorted(d["change"]["actions"][0] for d in body["resource_drift"]) == ["delete", "update"]
    assert project.cli("drift", str(project.root), "--format", "markdown").out.startswith("### reconciler drift")
    assert project.sandbox.writes() == writes  # drift sent no write request


def test_drift_accept_records_remote_values(project: Project) -> None:
    project.write("p.yaml", MANIFEST)
    assert project.apply().code == 0
    _patch(project, _ids(project)["outreach.call_purpose.follow_up"], order=9)
    assert project.cli("drift", str(project.root), "--accept").code == 0
    assert project.state()["resources"]["outreach.call_purpose.follow_up"]["attributes"]["order"] == 9
    assert project.cli("drift", str(project.root)).code == 0
    # The manifests still say 2: plan now proposes to put it back.
    assert "~ order: 9 -> 2" in project.plan().out


def test_drift_write_back_keeps_comments(project: Project) -> None:
    path = project.write("p.yaml", MANIFEST)
    assert project.apply().code == 0
    _patch(project, _ids(project)["outreach.call_purpose.follow_up"], order=9)
    assert project.cli("drift", str(project.root), "--write-back").code == 0
    text = path.read_text()
    assert "order: 9" in text and "order: 2" not in text
    for comment in ("# Call purposes of the sales team", "# first touch", "# keep this comment"):
        assert comment in text
    assert project.plan().code == 0
    assert project.cli("drift", str(project.root)).code == 0


def test_import_then_plan_shows_differences(project: Project) -> None:
    created = project.sandbox.outreach("POST", "/callPurposes", {
        "data": {"type": "callPurpose", "attributes": {"name": "Old Name", "order": 4}}}).json()["data"]
    project.write("p.yaml", MANIFEST)
    result = project.cli("import", str(project.root), "outreach.call_purpose.follow_up", str(created["id"]))
    assert result.code == 0, result.text
    assert project.state()["resources"]["outreach.call_purpose.follow_up"]["remote_id"] == str(created["id"])
    plan = project.plan()
    assert "~ outreach.call_purpose.follow_up" in plan.out
    assert '~ name: "Old Name" -> "Follow Up"' in plan.out
    missing = project.cli("import", str(project.root), "outreach.call_purpose.initial_contact", "99999")
    assert missing.code == 1 and "has no call_purpose with id 99999" in missing.err
    undeclared = project.cli("import", str(project.root), "outreach.call_purpose.nope", str(created["id"]))
    assert undeclared.code == 1 and "not declared in the manifests" in undeclared.err


def test_dump_round_trip_plans_no_changes(project: Project) -> None:
    for i, name in enumerate(["Initial Contact", "Follow Up", "Demo: Booked!"]):
        project.sandbox.outreach("POST", "/callPurposes", {"data": {"type": "callPurpose", "attributes": {"name": name, "order": i}}})
    dumped = project.root / "dumped.yaml"
    assert project.cli("dump", str(project.root), "--vendor", "outreach", "--out", str(dumped)).code == 0
    text = dumped.read_text()
    assert "demo_booked:" in text and "initial_contact:" in text, text
    plan = json.loads(project.plan("--format", "json").out)
    assert all("importing" in c["change"] and c["change"]["actions"] == ["no-op"]
               for c in plan["resource_changes"])
    assert project.apply().code == 0
    assert project.plan().code == 0
    assert len(project.sandbox.outreach_purposes()) == 3
    again = project.cli("dump", str(project.root), "--vendor", "outreach").out
    assert again == text


def test_saved_plan_refused_after_remote_edit_of_touched_object(project: Project) -> None:
    project.write("p.yaml", MANIFEST)
    assert project.apply().code == 0
    project.write("p.yaml", MANIFEST.replace("order: 2", "order: 3"))
    plan_file = project.root.parent / "p.plan"
    planned = project.plan("--out", str(plan_file))
    checksum = json.loads(plan_file.read_text())["checksum"]
    assert f"Plan checksum: {checksum}" in planned.out
    _patch(project, _ids(project)["outreach.call_purpose.follow_up"], name="Changed Meanwhile")
    result = project.cli("apply", str(plan_file))
    assert result.code == 1
    assert "outreach.call_purpose.follow_up: the remote object changed since the plan was made" in result.err


def test_edited_plan_file_is_refused(project: Project) -> None:
    project.write("p.yaml", MANIFEST)
    plan_file = project.root.parent / "p.plan"
    project.plan("--out", str(plan_file))
    data = json.loads(plan_file.read_text())
    data["changes"][0]["attributes"]["order"] = 42
    plan_file.write_text(json.dumps(data))
    result = project.cli("apply", str(plan_file))
    assert result.code == 1 and "modified after it was made" in result.err
    assert project.sandbox.writes() == 0


def test_threshold_blocks_apply_until_forced(project: Project) -> None:
    project.write("p.yaml", "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: P{i}, order: {i}}}\n" for i in range(10)))
    assert project.apply().code == 0
    project.write("p.yaml", "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: P{i}, order: {i + (100 if i < 4 else 0)}}}\n" for i in range(10)))
    plan = project.plan()
    assert plan.code == 2 and "Safety: outreach: 4 update(s)/delete(s) of 10 managed object(s) (40%" in plan.out
    body = json.loads(project.plan("--format", "json").out)
    assert {d["safety"] for d in body["change_details"].values()} == {"blocked: threshold"}
    blocked = project.apply()
    assert blocked.code == 3 and "a safety rail blocked the apply" in blocked.err
    assert sorted(p["attributes"]["order"] for p in project.sandbox.outreach_purposes()) == list(range(10))
    assert project.apply("--force").code == 0
    assert project.plan().code == 0


def test_prevent_destroy_survives_removal_of_the_entry(project: Project) -> None:
    project.write("p.yaml", MANIFEST.replace("      order: 1\n", "      order: 1\n      prevent_destroy: true\n"))
    assert project.apply().code == 0
    assert project.state()["resources"]["outreach.call_purpose.initial_contact"]["prevent_destroy"] is True
    project.write("p.yaml", "outreach:\n  call_purposes:\n    follow_up: {name: Follow Up, order: 2}\n")
    plan = project.plan()
    assert "prevent_destroy is set on it" in plan.out
    result = project.apply()
    assert result.code == 3 and "initial_contact" in result.err
    assert project.apply("--force").code == 3  # --force does not lift prevent_destroy
    assert len(project.sandbox.outreach_purposes()) == 2


def test_target_and_exclude_count_skipped(project: Project) -> None:
    project.write("p.yaml", MANIFEST)
    targeted = project.plan("--target", "outreach.call_purpose.follow_*")
    assert "Plan: 1 to add" in targeted.out and "Skipped 1 object(s)" in targeted.out
    excluded = project.apply("--exclude", "*.follow_up")
    assert excluded.code == 0 and "1 created" in excluded.out
    assert [p["attributes"]["name"] for p in project.sandbox.outreach_purposes()] == ["Initial Contact"]


def test_markdown_is_cut_below_the_comment_limit() -> None:
    changes = [Change(address=f"outreach.call_purpose.p{i}", vendor="outreach", kind="call_purpose",
                      action=Action.UPDATE, reason="fields differ", diffs=[FieldDiff(("name",), "x" * 50, "y" * 50)])
               for i in range(3000)]
    plan = Plan(changes, 0, "lineage", 1, "digest", ".")
    text = plan_markdown(plan)
    assert len(text) < 65_000
    assert "more change(s) not shown" in text
    assert text.startswith("### reconciler plan") and "3000 to update" in text
