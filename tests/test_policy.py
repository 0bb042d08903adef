"""The Rego policies in examples/policy/, evaluated by a real Rego engine (regopy, Microsoft's
rego-cpp) on plans the CLI made against the sandboxes: each catches its violation and lets a
clean plan pass. Written as a team would write them for Terraform plans (conftest's
`package main`, `deny` rules over `resource_changes[].change.actions`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import REPO, Project

regopy = pytest.importorskip("regopy", reason="regopy (the dev extra) evaluates the Rego policies")

POLICY = REPO / "examples" / "policy"
SETTINGS = json.loads((POLICY / "data.json").read_text())


def deny(policy: str, plan: dict[str, Any], data: dict[str, Any] | None = None) -> list[str]:
    """`data.main.deny` of one policy file, as conftest would evaluate it."""
    interpreter = regopy.Interpreter()
    interpreter.add_module(policy, (POLICY / policy).read_text())
    interpreter.add_data_json(json.dumps(data if data is not None else SETTINGS))
    interpreter.set_input(regopy.Input(plan))
    output = interpreter.query("x = data.main.deny")
    assert output.ok(), output
    return sorted(json.loads(output.binding("x").json()))


def plan_json(project: Project) -> dict[str, Any]:
    result = project.plan("--format", "json")
    assert result.code in (0, 2), result.text
    return json.loads(result.out)  # type: ignore[no-any-return]


def outreach(n: int, start: int = 0) -> str:
    return "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: P{i}, order: {i}}}\n" for i in range(start, start + n))


def test_consent_purposes_are_never_removed_in_production(project: Project) -> None:
    project.configure(("superoffice",))
    project.write("so.yaml", """\
        superoffice:
          consent_purposes:
            newsletter: {name: Newsletter, key: "#Newsletter", rank: 3}
            offers: {name: Offers, key: "#Offers", rank: 4}
        """)
    assert project.apply().code == 0
    project.write("so.yaml", """\
        superoffice:
          consent_purposes:
            newsletter: {name: Newsletter, key: "#Newsletter", rank: 5}
        """)
    removal = plan_json(project)
    assert deny("no_consent_deletes.rego", removal) == [
        "superoffice.consent_purpose.offers: consent purposes are never removed in production "
        "(planned: deactivate); keep it in the manifests"]
    staging = {"reconciler": {**SETTINGS["reconciler"], "environment": "staging"}}
    assert deny("no_consent_deletes.rego", removal, staging) == []
    project.write("so.yaml", """\
        superoffice:
          consent_purposes:
            newsletter: {name: Newsletter, key: "#Newsletter", rank: 5}
            offers: {name: Offers, key: "#Offers", rank: 4, consent_text: Yes please}
        """)
    assert deny("no_consent_deletes.rego", plan_json(project)) == []  # an update is fine


def test_webex_purposes_only_in_approved_groups(project: Project) -> None:
    project.configure(("webex_campaign",))
    project.write("wx.yaml", """\
        webex_campaign:
          purposes:
            marketing: {name: Marketing_Purpose, group: marketing}
            sneaky: {name: Sneaky, group: Shadow_Group}
        """)
    assert deny("webex_groups.rego", plan_json(project)) == [
        "webex_campaign.purpose.sneaky: group 'SHADOW_GROUP' is not an approved Webex Campaign "
        "group (approved: DEFAULT, EVENTS, MARKETING, PRODUCT)"]
    project.write("wx.yaml", """\
        webex_campaign:
          purposes:
            marketing: {name: Marketing_Purpose, group: marketing}
            events: {name: Events}
        """)
    assert deny("webex_groups.rego", plan_json(project)) == []


def test_no_more_than_n_changes_without_the_label(project: Project) -> None:
    project.write("p.yaml", outreach(25))
    big = plan_json(project)
    assert len(big["resource_changes"]) == 25
    assert deny("change_budget.rego", big) == [
        "25 changes, more than 20: add the 'large-change-approved' label to the pull request "
        "once reviewed"]
    labelled = {**SETTINGS, "pull_request": {"labels": ["large-change-approved"]}}
    assert deny("change_budget.rego", big, labelled) == []
    # GitHub's pull_request event gives label objects: the event's pull_request passes as is
    event = {**SETTINGS, "pull_request": {"number": 7, "labels": [
        {"id": 1, "name": "bug", "color": "d73a4a"}, {"id": 2, "name": "large-change-approved"}]}}
    assert deny("change_budget.rego", big, event) == []
    other = {**SETTINGS, "pull_request": {"labels": [{"id": 1, "name": "bug"}]}}
    assert deny("change_budget.rego", big, other) != []
    project.write("p.yaml", outreach(5))
    assert deny("change_budget.rego", plan_json(project)) == []


def test_adoptions_as_they_are_do_not_count(project: Project) -> None:
    for i in range(25):
        project.sandbox.outreach("POST", "/callPurposes", {"data": {
            "type": "callPurpose", "attributes": {"name": f"P{i}", "order": i}}})
    project.write("p.yaml", outreach(25))
    adoptions = plan_json(project)
    assert all("importing" in rc["change"] for rc in adoptions["resource_changes"])
    assert deny("change_budget.rego", adoptions) == []
