"""`plan --format json`, `show --format json` and `drift --format json` as policy tools read them.

Checked against real plans made over HTTP with the sandboxes: the published JSON Schema
(schema/plan.schema.json), a JSON Schema of Terraform's plan format written from Terraform's
"JSON Output Format" documentation (tests/terraform/plan-format-1.schema.json), the field list
Terraform documents for `resource_changes`, and the meaning of each action. The readers
written for Terraform plans (terrasafe, flatplan, checkov) run in tests/test_terraform_readers.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler import SCHEMA_BASE_URL
from reconciler.render.json import ACTION_REASONS, FORMAT_VERSION
from tests.conftest import REPO, Project, run_cli

SCHEMA = json.loads((REPO / "schema" / "plan.schema.json").read_text())
TERRAFORM_SCHEMA = json.loads((REPO / "tests" / "terraform" / "plan-format-1.schema.json").read_text())

# developer.hashicorp.com/terraform/internals/json-format, "Plan Representation": the keys of
# one element of resource_changes (and resource_drift, "the same object structure").
TF_RESOURCE_CHANGE_KEYS = {"address", "previous_address", "module_address", "mode", "type", "name",
                           "index", "deposed", "change", "action_reason", "provider_name"}
TF_REQUIRED = {"address", "mode", "type", "name", "provider_name", "change"}
TF_ACTION_REASONS = set(TERRAFORM_SCHEMA["$defs"]["resource_change"]["properties"]["action_reason"]["enum"])
# "Change Representation": the keys of `change` (importing and generated_config since 1.5).
TF_CHANGE_KEYS = {"actions", "before", "after", "after_unknown", "before_sensitive", "after_sensitive",
                  "replace_paths", "importing", "generated_config"}
# "Valid actions values are" (["forget"] since Terraform 1.7).
TF_ACTIONS = [["no-op"], ["create"], ["read"], ["update"], ["delete", "create"],
              ["create", "delete"], ["delete"], ["forget"], ["create", "forget"]]

MANIFESTS = {
    "outreach.yaml": """\
        outreach:
          call_purposes:
            keep: {name: Keep, order: 1}
            change_me: {name: Change Me, order: 2}
            remove_me: {name: Remove Me, order: 3}
        """,
    "superoffice.yaml": """\
        superoffice:
          consent_purposes:
            newsletter: {name: Newsletter, key: "#Newsletter", rank: 3}
        """,
    "webex.yaml": """\
        webex_campaign:
          purposes:
            marketing: {name: Marketing_Purpose, group: DEFAULT}
          datastore_records:
            contacts:
              datastore_id: "1466"
              feed_id: "1499"
              records:
                - {msisdn: "+442071234501", firstname: Alice}
        """,
}


def assert_terraform_shape(rc: dict[str, Any]) -> None:
    ours = {k for k in rc if k.startswith("reconciler_")}
    assert set(rc) - ours <= TF_RESOURCE_CHANGE_KEYS, set(rc) - ours - TF_RESOURCE_CHANGE_KEYS
    assert set(rc) >= TF_REQUIRED
    assert set(rc["change"]) <= TF_CHANGE_KEYS, set(rc["change"]) - TF_CHANGE_KEYS
    assert rc["change"]["actions"] in TF_ACTIONS
    assert rc["address"] == f"{rc['type']}.{rc['name']}" and rc["mode"] == "managed"  # Terraform's form
    assert rc["type"] == rc["reconciler_address"].rsplit(".", 1)[0].replace(".", "_")
    vendor = rc["reconciler_address"].split(".", 1)[0]
    assert rc["provider_name"] == "registry.terraform.io/reconciler/" + vendor.replace("_", "-")
    assert rc.get("action_reason", "delete_because_no_resource_config") in TF_ACTION_REASONS
    change = rc["change"]
    if change["actions"] == ["create"]:
        assert change["before"] is None and change["after"] is not None
    if change["actions"] in (["delete"], ["forget"]):
        assert change["before"] and change["after"] is None


def validate(document: dict[str, Any]) -> None:
    """Our published schema, and Terraform's format as its documentation describes it."""
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    jsonschema.Draft202012Validator(TERRAFORM_SCHEMA).validate(document)


@pytest.fixture
def changed(tmp_path: Path, project: Project) -> Project:
    """Applied, then edited: an update, a delete, a deactivation, an adoption and a push."""
    project.configure(("outreach", "superoffice", "webex_campaign"))
    for name, text in MANIFESTS.items():
        project.write(f"purposes/{name}", text)
    assert project.apply().code == 0
    project.sandbox.outreach("POST", "/callPurposes", {"data": {
        "type": "callPurpose", "attributes": {"name": "Found", "order": 9}}})
    project.write("purposes/outreach.yaml", """\
        outreach:
          call_purposes:
            keep: {name: Keep, order: 1}
            change_me: {name: Change Me, order: 20}
            found: {name: Found, order: 9}
        """)
    project.write("purposes/superoffice.yaml", "superoffice: {}\n")
    project.write("purposes/webex.yaml", MANIFESTS["webex.yaml"].replace("Alice", "Alicia"))
    return project


def test_plan_json_has_terraforms_shape_and_validates(changed: Project) -> None:
    result = changed.plan("--format", "json")
    assert result.code == 2, result.text
    document = json.loads(result.out)
    validate(document)
    assert document["format_version"] == FORMAT_VERSION == "1.2" and document["reconciler_version"]
    assert document["terraform_version"] == document["reconciler_version"]
    changes = {rc["reconciler_address"]: rc for rc in document["resource_changes"]}
    for rc in changes.values():
        assert_terraform_shape(rc)
        assert document["change_details"][rc["reconciler_address"]]["reason_code"] in ACTION_REASONS
    assert changes["outreach.call_purpose.change_me"]["address"] == "outreach_call_purpose.change_me"
    update = changes["outreach.call_purpose.change_me"]["change"]
    assert update["actions"] == ["update"]
    assert update["before"]["order"] == 2 and update["after"]["order"] == 20
    assert update["before"]["name"] == update["after"]["name"] == "Change Me"  # full objects
    delete = changes["outreach.call_purpose.remove_me"]
    assert delete["change"]["actions"] == ["delete"]
    assert delete["change"]["before"]["name"] == "Remove Me" and delete["change"]["before"]["id"]
    assert delete["action_reason"] == "delete_because_no_resource_config"
    deactivate = changes["superoffice.consent_purpose.newsletter"]
    assert deactivate["change"]["actions"] == ["delete"]
    assert document["change_details"][deactivate["reconciler_address"]]["delete_mode"] == "deactivate"
    assert "action_reason" not in changes["outreach.call_purpose.change_me"]  # none of Terraform's fits
    adopt = changes["outreach.call_purpose.found"]["change"]
    assert adopt["importing"] == {"id": adopt["before"]["id"]} and adopt["actions"] == ["no-op"]
    push = changes["webex_campaign.datastore_records.contacts"]["change"]
    assert push["actions"] == ["update"] and push["after"]["records"] is None
    assert push["after_sensitive"] == {"records": True} == push["before_sensitive"]
    assert "Alicia" not in result.out and "+442071234501" not in result.out  # write-only, personal


def test_show_renders_the_saved_plan_as_the_same_json(changed: Project, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.bin"
    shown = changed.plan("--format", "json", "--out", str(plan_file))
    again = changed.cli("show", str(plan_file), "--format", "json")
    assert again.code == 0, again.text
    assert json.loads(again.out)["resource_changes"] == json.loads(shown.out)["resource_changes"]
    saved = json.loads(plan_file.read_text())
    assert saved["kind"] == "reconciler-plan" and saved["plan_file_version"] == 2
    assert "resource_changes" not in saved  # its own format, not the display one


def test_display_json_is_refused_as_a_plan_file(changed: Project, tmp_path: Path) -> None:
    display = tmp_path / "plan.json"
    display.write_text(changed.plan("--format", "json").out)
    writes = changed.sandbox.writes()
    result = changed.cli("apply", str(display))
    assert result.code == 1 and "JSON display of a plan" in result.err
    assert "reconciler plan DIR --out FILE" in result.err and "Traceback" not in result.err
    assert changed.sandbox.writes() == writes


def test_newer_plan_file_version_is_refused(changed: Project, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.bin"
    changed.plan("--out", str(plan_file))
    data = json.loads(plan_file.read_text())
    data["plan_file_version"] = 3
    plan_file.write_text(json.dumps(data))
    result = changed.cli("show", str(plan_file))
    assert result.code == 1 and "made by a newer reconciler (plan file version 3" in result.err


def test_drift_json_is_terraforms_resource_drift(project: Project) -> None:
    project.write("p.yaml", MANIFESTS["outreach.yaml"])
    assert project.apply().code == 0
    state = project.state()["resources"]
    ids = {a: r["remote_id"] for a, r in state.items()}
    project.sandbox.outreach("PATCH", f"/callPurposes/{ids['outreach.call_purpose.keep']}", {
        "data": {"type": "callPurpose", "id": int(ids["outreach.call_purpose.keep"]),
                 "attributes": {"order": 7}}})
    project.sandbox.outreach("DELETE", f"/callPurposes/{ids['outreach.call_purpose.remove_me']}")
    result = project.cli("drift", str(project.root), "--format", "json")
    assert result.code == 2, result.text
    document = json.loads(result.out)
    validate(document)
    drift = {rc["reconciler_address"]: rc for rc in document["resource_drift"]}
    for rc in drift.values():
        assert_terraform_shape(rc)
    keep = drift["outreach.call_purpose.keep"]["change"]
    assert keep["actions"] == ["update"] and (keep["before"]["order"], keep["after"]["order"]) == (1, 7)
    assert drift["outreach.call_purpose.remove_me"]["change"]["actions"] == ["delete"]


def test_schema_is_published_and_lists_every_reason() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == SCHEMA_BASE_URL + "plan.schema.json"
    jsonschema.Draft202012Validator.check_schema(TERRAFORM_SCHEMA)
    reasons = SCHEMA["$defs"]["change_details"]["properties"]["reason_code"]["enum"]
    assert sorted(reasons) == sorted(ACTION_REASONS)
    terraform = SCHEMA["$defs"]["resource_change"]["properties"]["action_reason"]["enum"]
    assert set(terraform) == TF_ACTION_REASONS  # Terraform's documented list, no code of ours


def test_validate_github_annotations(tmp_path: Path, project: Project) -> None:
    project.write("purposes/o.yaml", """\
        outreach:
          call_purposes:
            a: {name: A, order: first}
            b: {name: B, "ordr\\n::warning::injected": 1}
        """)
    result = run_cli("validate", "manifests", "--format", "github", cwd=tmp_path)
    assert result.code == 1, result.text
    lines = result.out.splitlines()
    assert lines[0] == ("::error file=manifests/purposes/o.yaml,line=3,col=25,title=reconciler "
                        "validate::call_purposes.a.order: expected an integer, got 'first'")
    assert lines[1].startswith("::error file=manifests/purposes/o.yaml,line=4,col=")
    assert "%0A::warning::injected" in lines[1] and len(lines) == 2  # no second command
    assert "purposes/o.yaml:3:25" in result.err  # the usual message too
    project.write("purposes/o.yaml", "outreach:\n  call_purposes:\n    a: {name: A}\n")
    assert run_cli("validate", "manifests", "--format", "github", cwd=tmp_path).out.startswith("Valid:")


def test_a_renamed_key_is_a_move_with_its_previous_address(project: Project) -> None:
    project.write("p.yaml", MANIFESTS["outreach.yaml"])
    assert project.apply().code == 0
    project.write("p.yaml", MANIFESTS["outreach.yaml"].replace("keep:", "kept:"))
    document = json.loads(project.plan("--format", "json").out)
    validate(document)
    [move] = document["resource_changes"]
    assert_terraform_shape(move)
    assert move["address"] == "outreach_call_purpose.kept"
    assert move["previous_address"] == "outreach_call_purpose.keep"
    assert move["reconciler_address"] == "outreach.call_purpose.kept"
    assert move["reconciler_previous_address"] == "outreach.call_purpose.keep"
    assert move["change"]["actions"] == ["no-op"] and "action_reason" not in move
    assert document["change_details"]["outreach.call_purpose.kept"]["reason_code"] == "move_because_key_renamed"
    assert document["moves"] == [{"from": "outreach.call_purpose.keep",
                                  "to": "outreach.call_purpose.kept",
                                  "remote_id": move["change"]["before"]["id"]}]
