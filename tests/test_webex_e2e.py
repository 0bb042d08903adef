"""Webex Campaign purposes and datastore records end to end: the CLI as a subprocess against
the sandbox over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from typing import Any

import httpx
import pytest

from reconciler.engine import Workspace
from reconciler.plan.model import Action, Plan
from tests.conftest import Project, Sandbox

ADMIN = "/_sandbox/webex_campaign"
PURPOSES = """\
webex_campaign:
  purposes:
    marketing:
      name: Marketing_Purpose
      group: Default
      description: Marketing purpose
    product_updates:
      name: Product_Updates
      group: product
"""
RECORDS = [
    {"msisdn": "+442332223424", "firstname": "John Smith", "emailid": "john@example.com"},
    {"msisdn": "+442332223425", "firstname": "Jane Roe", "emailid": "jane@example.com"},
    {"msisdn": "+442332223426", "firstname": "Ann Lee"},
]


def records_yaml(records: list[dict[str, str]]) -> str:
    rows = "".join("        - " + json.dumps(r) + "\n" for r in records)
    return ("webex_campaign:\n  datastore_records:\n    test_contacts:\n"
            "      datastore_id: \"1466\"\n      feed_id: \"1499\"\n      records:\n" + rows)


def hub(sandbox: Sandbox, method: str, path: str, body: Any = None) -> httpx.Response:
    o = sandbox.overrides["webex_campaign"]
    return httpx.request(method, o["base_url"] + path, json=body,
                         headers={"Authorization": f"Bearer {o['token']}"})


def remote_purposes(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """The sandbox's stored purposes by name (admin view: every field, group as stored)."""
    stored = httpx.get(sandbox.url + ADMIN + "/purposes").json()
    return {p["name"]: p for p in stored.values()}


def datastore_rows(sandbox: Sandbox, datastore: str, feed: str, expect: int) -> list[dict[str, Any]]:
    """The rows of one feed once `expect` of them arrived (applied asynchronously), within 2 s."""
    deadline = time.monotonic() + 2.0
    while True:
        rows: list[dict[str, Any]] = httpx.get(sandbox.url + ADMIN + "/datastores").json() \
            .get(datastore, {}).get(feed, [])
        if len(rows) >= expect or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def plan_in_process(project: Project) -> Plan:
    """The plan the CLI would make, without a subprocess."""
    env = {**os.environ, **project.sandbox.env()}
    return asyncio.run(Workspace.open(project.root, env=env).plan())


@pytest.fixture
def webex(project: Project) -> Project:
    project.configure(vendors=("webex_campaign",))
    return project


def test_create_update_noop(webex: Project) -> None:
    webex.write("purposes/webex.yaml", PURPOSES)
    first = webex.plan()
    assert first.code == 2, first.text
    assert "+ webex_campaign.purpose.marketing" in first.out
    groups = re.findall(r'\+ group\s+= "(\w+)"', first.out)
    assert groups == ["Default", "product"]  # sent as declared
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in first.out

    applied = webex.apply()
    assert applied.code == 0, applied.text
    remote = remote_purposes(webex.sandbox)
    assert set(remote) == {"Marketing_Purpose", "Product_Updates"}
    assert remote["Product_Updates"]["group"] == "product"
    assert remote["Marketing_Purpose"]["description"] == "Marketing purpose"
    state = webex.state()["resources"]
    assert state["webex_campaign.purpose.marketing"]["remote_id"] == str(remote["Marketing_Purpose"]["id"])
    assert state["webex_campaign.purpose.marketing"]["attributes"] == {
        "name": "Marketing_Purpose", "group": "Default", "description": "Marketing purpose"}

    second = webex.plan()
    assert second.code == 0, second.text
    assert "No changes." in second.out

    webex.write("purposes/webex.yaml", PURPOSES.replace("description: Marketing purpose",
                                                        "description: Offers and news"))
    update = webex.apply()  # prints its plan first
    assert update.code == 0, update.text
    assert '~ description: "Marketing purpose" -> "Offers and news"' in update.out
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in update.out
    after = remote_purposes(webex.sandbox)
    assert after["Marketing_Purpose"]["description"] == "Offers and news"
    assert after["Marketing_Purpose"]["id"] == remote["Marketing_Purpose"]["id"]
    assert after["Product_Updates"] == remote["Product_Updates"]
    assert webex.plan().code == 0


def test_default_group_in_any_case_is_no_diff(webex: Project) -> None:
    """Remote "Default" (absent from the list, "Default" in GET one) equals declared DEFAULT;
    the saved plan's apply re-reads each object by id, so both GET forms must agree."""
    made = hub(webex.sandbox, "POST", "/purposes",
               {"name": "Newsletter", "group": "Default", "description": "Monthly"}).json()
    hub(webex.sandbox, "POST", "/purposes", {"name": "Webinars", "group": "Events"})
    webex.write("purposes/webex.yaml", """\
        webex_campaign:
          purposes:
            newsletter: {name: Newsletter, group: DEFAULT, description: Monthly}
            webinars: {name: Webinars, group: EVENTS}
        """)
    plan_file = webex.root.parent / "plan.json"
    plan = webex.plan("--format", "json", "--out", str(plan_file))
    assert plan.code == 2, plan.text
    changes = {c["reconciler_address"]: c["change"] for c in json.loads(plan.out)["resource_changes"]}
    assert {a: (c["actions"], "importing" in c) for a, c in changes.items()} == {
        "webex_campaign.purpose.newsletter": (["no-op"], True),
        "webex_campaign.purpose.webinars": (["no-op"], True)}
    applied = webex.cli("apply", str(plan_file))
    assert applied.code == 0, applied.text
    assert webex.state()["resources"]["webex_campaign.purpose.newsletter"]["remote_id"] == made["id"]
    assert webex.plan().code == 0


def test_removal_is_refused_unless_forgotten(webex: Project) -> None:
    webex.write("purposes/webex.yaml", PURPOSES)
    assert webex.apply().code == 0
    webex.write("purposes/webex.yaml", PURPOSES.split("    product_updates:")[0])
    refused = webex.plan()
    assert refused.code == 3, refused.text  # a refusal: one exit code (README)
    assert ("webex_campaign.purpose.product_updates: cannot delete (webex_campaign has no delete "
            "API)") in refused.text
    assert "--forget webex_campaign.purpose.product_updates" in refused.text

    forget = webex.plan("--forget", "webex_campaign.purpose.product_updates")
    assert forget.code == 2, forget.text
    assert "x webex_campaign.purpose.product_updates" in forget.out
    applied = webex.apply("--forget", "webex_campaign.purpose.product_updates")
    assert applied.code == 0, applied.text
    assert "Changes: 0 created, 0 updated, 0 deleted, 0 adopted, 1 forgotten." in applied.out
    assert "webex_campaign.purpose.product_updates" not in webex.state()["resources"]
    assert "Product_Updates" in remote_purposes(webex.sandbox)  # the remote purpose stays
    after = webex.plan()
    assert after.code == 0, after.text
    assert "Unmanaged" not in after.out  # forgotten on purpose: remembered, not unmanaged


def test_forget_undeletable_setting_plans_a_forget(webex: Project) -> None:
    """The provider setting replaces --forget for every purpose (planned in-process: fast)."""
    webex.write("purposes/webex.yaml", PURPOSES)
    assert webex.apply().code == 0
    webex.write("purposes/webex.yaml", PURPOSES.split("    product_updates:")[0])
    assert list(plan_in_process(webex).refusals) == [
        "webex_campaign.purpose.product_updates: cannot delete (webex_campaign has no delete API); "
        "keep it in the manifests, or stop managing it with --forget "
        "webex_campaign.purpose.product_updates (the remote object stays untouched)"]
    webex.extra_provider_settings["webex_campaign"] = "    forget_undeletable: true\n"
    webex.configure(vendors=("webex_campaign",))
    plan = plan_in_process(webex)
    assert not plan.refusals
    assert [(c.address, c.action) for c in plan.changes] == [
        ("webex_campaign.purpose.product_updates", Action.FORGET)]
    assert "webex_campaign has no delete API, so it is only removed from state" in plan.changes[0].reason


def test_conflict_on_create_adopts_by_name(webex: Project) -> None:
    """A purpose created by someone else between plan and apply: the saved plan no longer
    holds and is refused whole before any write (issue 12); applying again adopts it."""
    webex.write("purposes/webex.yaml", PURPOSES)
    plan_file = webex.root.parent / "plan.json"
    assert webex.plan("--out", str(plan_file)).code == 2
    made = hub(webex.sandbox, "POST", "/purposes", {"name": "Marketing_Purpose", "description": "hand made"})
    assert made.status_code == 200
    refused = webex.cli("apply", str(plan_file))
    assert refused.code == 1 and "planned create, now adopt" in refused.err, refused.text
    applied = webex.apply()
    assert applied.code == 0, applied.text
    remote = remote_purposes(webex.sandbox)
    assert sorted(remote) == ["Marketing_Purpose", "Product_Updates"]  # no duplicate
    assert str(remote["Marketing_Purpose"]["id"]) == made.json()["id"]
    assert remote["Marketing_Purpose"]["description"] == "Marketing purpose"
    assert webex.state()["resources"]["webex_campaign.purpose.marketing"]["remote_id"] == made.json()["id"]
    assert webex.plan().code == 0


def test_datastore_records_pushed_on_change_only(webex: Project) -> None:
    webex.write("purposes/webex.yaml", records_yaml(RECORDS))
    plan = webex.plan()
    assert plan.code == 2, plan.text
    assert "> webex_campaign.datastore_records.test_contacts  never pushed" in plan.out
    assert "~ record_count: null -> 3" in plan.out
    assert "john@example.com" not in plan.out  # the plan shows a digest, not personal data
    applied = webex.apply()
    assert applied.code == 0, applied.text
    assert "1 pushed" in applied.out
    assert datastore_rows(webex.sandbox, "1466", "1499", 3) == RECORDS
    entry = webex.state()["resources"]["webex_campaign.datastore_records.test_contacts"]
    assert entry["attributes"]["record_count"] == 3
    assert entry["attributes"]["records_digest"].startswith("sha256:")
    assert len(entry["meta"]["trans_id"]) == 32 and entry["meta"]["correlation_id"]
    assert "john@example.com" not in (webex.root / "state" / "default.json").read_text()

    posts = webex.sandbox.requests().get("webex_campaign POST", 0)
    again = webex.apply()
    assert again.code == 0 and "No changes." in again.out
    assert webex.sandbox.requests().get("webex_campaign POST", 0) == posts

    changed = [*RECORDS[:2], {"msisdn": "+442332223426", "firstname": "Ann Lee-Smith"}]
    webex.write("purposes/webex.yaml", records_yaml(changed))
    repush = webex.apply()  # prints its plan first
    assert repush.code == 0, repush.text
    assert "content changed since the last push" in repush.out
    assert "~ records_digest:" in repush.out and "record_count" not in repush.out
    # the sandbox appends (nothing documents an upsert): the whole entry arrives again
    assert datastore_rows(webex.sandbox, "1466", "1499", 6)[3:] == changed
    assert webex.sandbox.requests().get("webex_campaign POST", 0) == posts + 1
