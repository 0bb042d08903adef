"""SuperOffice consent purposes end to end: the CLI as a subprocess against the sandbox over
loopback, checked against what the sandbox really holds afterwards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.providers.superoffice.sandbox import APP_TOKEN as SUPEROFFICE_APP_TOKEN
from reconciler.providers.superoffice.sandbox import READ_ONLY_TOKEN as SUPEROFFICE_READ_ONLY_TOKEN
from reconciler.providers.superoffice.sandbox import TICKET as SUPEROFFICE_TICKET
from reconciler.providers.superoffice.sandbox import USER as SUPEROFFICE_USER
from tests.conftest import REPO, Project, Sandbox, run_cli

ITEMS = "/List/ConsentPurpose/Items"
PURPOSES = """\
superoffice:
  consent_purposes:
    emarketing:
      name: E-marketing
      key: "#Emarketing"
      consent_text: I want to receive newsletters
      form_text: We will send you our newsletter about once a month.
      tooltip: Newsletters and offers
      rank: 2
      privacy_statement_desc: Privacy statement
      privacy_statement_url: https://example.com/privacy
    newsletter:
      name: Newsletter
"""
TWO = """\
superoffice:
  consent_purposes:
    keep_me:
      name: Keep me
      key: "#KeepMe"
    gone:
      name: Gone
      key: "#Gone"
"""


def so(sandbox: Sandbox, method: str, path: str = "", body: Any = None) -> httpx.Response:
    """Talk to the SuperOffice sandbox directly, as someone working behind the tool's back."""
    o = sandbox.overrides["superoffice"]
    return httpx.request(method, o["base_url"] + ITEMS + path, json=body,
                         headers={"Authorization": f"Bearer {o['token']}"})


def items(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """Every purpose the sandbox holds (soft-deleted ones too, which its list may hide), by
    Key or else Name."""
    stored = httpx.get(sandbox.url + "/_sandbox/superoffice/purposes").json().values()
    return {i["Key"] or i["Name"]: i for i in stored}


@pytest.fixture
def superoffice(project: Project) -> Project:
    project.configure(vendors=("superoffice",))
    return project


def test_create_update_noop_keeps_unmanaged_fields(superoffice: Project) -> None:
    superoffice.write("purposes/superoffice.yaml", PURPOSES)
    first = superoffice.plan()
    assert first.code == 2, first.text
    assert "+ superoffice.consent_purpose.emarketing" in first.out
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in first.out
    assert superoffice.apply().code == 0
    remote = items(superoffice.sandbox)
    emarketing = remote["#Emarketing"]
    assert emarketing["Name"] == "E-marketing" and emarketing["Active"] == 1
    assert emarketing["ConsentText"] == "I want to receive newsletters" and emarketing["Rank"] == 2
    assert emarketing["PrivacyStatementUrl"] == "https://example.com/privacy"
    assert remote["Newsletter"]["Key"] == "" and remote["Newsletter"]["Active"] == 1
    state = superoffice.state()["resources"]
    assert state["superoffice.consent_purpose.emarketing"]["remote_id"] == str(emarketing["ConsentPurposeId"])
    assert superoffice.plan().code == 0

    # Someone fills in a field the manifest does not manage; our update must not wipe it.
    newsletter = remote["Newsletter"]
    so(superoffice.sandbox, "PUT", f"/{newsletter['ConsentPurposeId']}", {**newsletter, "Tooltip": "Set by hand"})
    superoffice.write("purposes/superoffice.yaml", PURPOSES + "      rank: 9\n")
    plan = superoffice.plan()
    assert "~ superoffice.consent_purpose.newsletter" in plan.out and "~ rank: 0 -> 9" in plan.out
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.out
    assert superoffice.apply().code == 0
    after = items(superoffice.sandbox)
    assert after["Newsletter"]["Rank"] == 9 and after["Newsletter"]["Tooltip"] == "Set by hand"
    assert after["Newsletter"]["ConsentPurposeId"] == newsletter["ConsentPurposeId"]
    assert after["#Emarketing"]["UpdatedDate"] == emarketing["UpdatedDate"]
    final = superoffice.plan()
    assert final.code == 0 and "No changes." in final.out


def test_default_deactivates_per_purpose_delete_soft_deletes_and_both_revive(superoffice: Project) -> None:
    superoffice.write("purposes/superoffice.yaml", TWO + "      on_delete: delete\n")
    assert superoffice.apply().code == 0
    before = items(superoffice.sandbox)
    superoffice.write("purposes/superoffice.yaml", "superoffice:\n  consent_purposes: {}\n")
    plan = superoffice.plan()
    assert "superoffice.consent_purpose.keep_me will be deactivated (kept, switched off)" in plan.out
    assert "superoffice.consent_purpose.gone will be soft-deleted" in plan.out
    assert superoffice.apply().code == 0
    removed = items(superoffice.sandbox)
    assert (removed["#KeepMe"]["Active"], removed["#KeepMe"]["Deleted"]) == (0, False)
    assert (removed["#Gone"]["Active"], removed["#Gone"]["Deleted"]) == (1, True)
    quiet = superoffice.plan()
    assert quiet.code == 0, quiet.text
    assert "Unmanaged" not in quiet.out and superoffice.state()["resources"] == {}

    # Declaring them again revives the same objects: no duplicates.
    superoffice.write("purposes/superoffice.yaml", TWO)
    revive = superoffice.plan()
    assert "<= superoffice.consent_purpose.keep_me" in revive.out and "(inactive: it will be revived)" in revive.out
    assert "~ active: false -> true" in revive.out
    assert "<= superoffice.consent_purpose.gone" in revive.out and "(deleted: it will be revived)" in revive.out
    assert superoffice.apply().code == 0
    revived = items(superoffice.sandbox)
    assert len(revived) == 2
    for key in ("#KeepMe", "#Gone"):
        assert revived[key]["ConsentPurposeId"] == before[key]["ConsentPurposeId"]
        assert (revived[key]["Active"], revived[key]["Deleted"]) == (1, False)
    assert superoffice.plan().code == 0


def test_provider_on_delete_delete_with_a_purpose_that_deactivates(superoffice: Project) -> None:
    superoffice.extra_provider_settings["superoffice"] = "    on_delete: delete\n"
    superoffice.configure(vendors=("superoffice",))
    superoffice.write("purposes/superoffice.yaml", TWO.replace('"#KeepMe"\n', '"#KeepMe"\n      on_delete: deactivate\n'))
    assert superoffice.apply().code == 0
    superoffice.write("purposes/superoffice.yaml", "superoffice: {}\n")
    plan = superoffice.plan()
    assert "superoffice.consent_purpose.gone will be soft-deleted" in plan.out
    assert "superoffice.consent_purpose.keep_me will be deactivated" in plan.out
    assert superoffice.apply().code == 0
    remote = items(superoffice.sandbox)
    assert (remote["#Gone"]["Deleted"], remote["#Gone"]["Active"]) == (True, 1)
    assert (remote["#KeepMe"]["Deleted"], remote["#KeepMe"]["Active"]) == (False, 0)


def test_managed_purpose_soft_deleted_outside_is_revived_in_place(superoffice: Project) -> None:
    superoffice.write("purposes/superoffice.yaml", TWO)
    assert superoffice.apply().code == 0
    gone = items(superoffice.sandbox)["#Gone"]
    assert so(superoffice.sandbox, "DELETE", f"/{gone['ConsentPurposeId']}").status_code == 204
    plan = superoffice.plan()
    assert plan.code == 2
    assert "~ superoffice.consent_purpose.gone" in plan.out and "revive: remote object is deleted" in plan.out
    assert superoffice.apply().code == 0
    after = items(superoffice.sandbox)
    assert len(after) == 2 and after["#Gone"]["ConsentPurposeId"] == gone["ConsentPurposeId"]
    assert (after["#Gone"]["Deleted"], after["#Gone"]["Active"]) == (False, 1)
    assert superoffice.plan().code == 0


def test_adoption_by_key_and_name_without_noise_from_int_active_or_empty_strings(superoffice: Project) -> None:
    sandbox = superoffice.sandbox
    emarketing = so(sandbox, "POST", body={"Key": "#Emarketing", "Name": "E-marketing", "Active": 5,
                                           "Tooltip": "", "Rank": 2}).json()
    newsletter = so(sandbox, "POST", body={"Name": "Newsletter", "Active": 1, "ConsentText": ""}).json()
    writes = sandbox.writes()
    superoffice.write("purposes/superoffice.yaml", """\
        superoffice:
          consent_purposes:
            emarketing: {name: E-marketing, key: "#Emarketing", active: true, tooltip: "", rank: 2}
            newsletter: {name: Newsletter, consent_text: "", active: true}
        """)
    plan = json.loads(superoffice.plan("--format", "json").out)
    assert [(c["change"]["actions"], c["change"]["importing"]["id"])
            for c in plan["resource_changes"]] == [
        (["no-op"], str(emarketing["ConsentPurposeId"])),
        (["no-op"], str(newsletter["ConsentPurposeId"]))]
    assert superoffice.apply().code == 0
    assert sandbox.writes() == writes  # adopting equal objects sends nothing
    assert superoffice.plan().code == 0

    superoffice.write("purposes/superoffice.yaml", """\
        superoffice:
          consent_purposes:
            emarketing: {name: E-marketing, key: "#Emarketing", active: true, tooltip: "", rank: 3}
            newsletter: {name: Newsletter, consent_text: "", active: true}
        """)
    assert superoffice.apply().code == 0
    after = items(sandbox)
    assert len(after) == 2
    assert (after["#Emarketing"]["Rank"], after["#Emarketing"]["Active"]) == (3, 5)  # 5 is kept, not forced to 1
    assert superoffice.plan().code == 0


AUTH_BLOCKS = {
    "bearer": ("    token: ${SUPEROFFICE_TOKEN}\n", {}, "SUPEROFFICE_TOKEN",
               "providers.superoffice.token"),
    "soticket": ("    auth: soticket\n    ticket: ${SO_TICKET}\n    app_token: ${SO_APP}\n",
                 {"SO_TICKET": SUPEROFFICE_TICKET, "SO_APP": SUPEROFFICE_APP_TOKEN}, "SO_APP",
                 "providers.superoffice.ticket and providers.superoffice.app_token"),
    "basic": ("    auth: basic\n    username: ${SO_USER}\n    password: ${SO_PASSWORD}\n",
              {"SO_USER": SUPEROFFICE_USER[0], "SO_PASSWORD": SUPEROFFICE_USER[1]}, "SO_PASSWORD",
              "providers.superoffice.username and providers.superoffice.password"),
}


@pytest.mark.parametrize("scheme", list(AUTH_BLOCKS))
def test_each_auth_scheme_writes_and_a_wrong_credential_is_a_clear_error(project: Project, scheme: str) -> None:
    block, env, wrong_var, settings = AUTH_BLOCKS[scheme]
    (project.root / "reconciler.yaml").write_text(
        "providers:\n  superoffice:\n    base_url: ${SUPEROFFICE_BASE_URL}\n" + block)
    project.write("purposes/superoffice.yaml", "superoffice:\n  consent_purposes:\n    one: {name: One}\n")
    applied = project.apply(env=env)
    assert applied.code == 0, applied.text
    assert items(project.sandbox)["One"]["Active"] == 1

    wrong = "wrong-credential-value-42"
    failed = project.plan(env={**env, wrong_var: wrong})
    assert failed.code == 1
    assert "superoffice refused the request (HTTP 401 [Unauthorized])" in failed.err
    assert f"auth: {scheme} was used; check {settings}" in failed.err
    assert wrong not in failed.text and "Traceback" not in failed.text


def test_a_missing_credential_of_the_chosen_scheme_is_named(project: Project) -> None:
    (project.root / "reconciler.yaml").write_text(
        "providers:\n  superoffice:\n    base_url: https://online.superoffice.com/Cust1/api/v1\n"
        "    auth: soticket\n    ticket: ${SO_TICKET}\n")
    result = project.cli("validate", str(project.root), env={"SO_TICKET": "some-ticket-value"})
    assert result.code == 1
    assert "providers.superoffice.app_token: required with auth: soticket (which needs ticket and app_token)" \
        in result.err
    assert "some-ticket-value" not in result.text


def test_read_only_token_write_is_a_clear_403(superoffice: Project) -> None:
    superoffice.write("purposes/superoffice.yaml", PURPOSES)
    result = superoffice.apply(env={"SUPEROFFICE_TOKEN": SUPEROFFICE_READ_ONLY_TOKEN})
    assert result.code == 1
    assert "superoffice refused the request (HTTP 403 [Forbidden]): This token may only read consent purposes" \
        in result.err
    assert "auth: bearer were accepted but may not do this" in result.err
    assert SUPEROFFICE_READ_ONLY_TOKEN not in result.text and "Traceback" not in result.text
    assert items(superoffice.sandbox) == {}


def test_manifest_mistakes_are_reported_before_any_call(superoffice: Project) -> None:
    superoffice.write("purposes/superoffice.yaml", """\
        superoffice:
          consent_purposes:
            bad:
              name: Bad
              active: 1
              privacy_statement_url: www.example.com/privacy
        """)
    result = superoffice.cli("validate", str(superoffice.root))
    assert result.code == 1
    assert "superoffice.yaml:5:" in result.err and "bad.active: expected true or false, got 1" in result.err
    assert "bad.privacy_statement_url: must be an http(s) URL" in result.err


def test_a_purpose_declared_inactive_converges(superoffice: Project) -> None:
    superoffice.write("purposes/superoffice.yaml", "superoffice:\n  consent_purposes:\n    off: {name: Off, active: false}\n")
    assert superoffice.apply().code == 0
    assert items(superoffice.sandbox)["Off"]["Active"] == 0
    again = superoffice.plan()
    assert again.code == 0, again.out


def test_quickstart_adopts_the_builtin_purposes(tmp_path: Path) -> None:
    copy = tmp_path / "examples" / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", copy)
    applied = run_cli("apply", str(copy), "--sandbox", "--auto-approve")
    assert applied.code == 0, applied.text
    assert "superoffice.consent_purpose.process: Adoption complete after " in applied.out
    assert "superoffice.consent_purpose.emarketing: Adoption complete after " in applied.out
    data = json.loads((tmp_path / "state" / "sandbox" / "superoffice.json").read_text())
    keys = sorted(p["Key"] for p in data["consent_purposes"].values())
    assert keys == ["#Emarketing", "#Newsletter", "#Process", "#SalesAndService"]
    again = run_cli("plan", str(copy), "--sandbox", "--detailed-exitcode")
    assert again.code == 0, again.text
