"""Tools written for Terraform plans read `plan --format json` unchanged.

Each reader is the real tool from the package registry (pinned in the dev extra; checkov in a
venv of its own, see `checkov`), run on plans made against the sandboxes with every kind of
change: creates, updates, deletes, a deactivation, an adoption, a move, a push and a refusal.

- terrasafe (deletion guard): reports exactly the deletes, never the refused one;
- flatplan: reads every resource of `planned_values` and every provider of `configuration`;
- checkov `--framework terraform_plan`: a custom check on our resource types sees every
  resource the plan leaves in place;
- the document validates against Terraform's plan format (tests/terraform/) and our schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from tests.conftest import Project
from tests.test_plan_json import MANIFESTS, assert_terraform_shape, validate

BIN = Path(sys.executable).parent
CHECKOV = "checkov==3.3.30"  # its pins (packaging<24, networkx<2.7...) conflict with ours

EDITED = {
    "outreach.yaml": """\
        outreach:
          call_purposes:
            keep: {name: Keep, order: 1}
            change_me: {name: Change Me, order: 20}
            found: {name: Found, order: 9}
            added: {name: Added, order: 5}
            renamed: {name: Old Name, order: 4}
        """,
    "superoffice.yaml": "superoffice: {}\n",
    "webex.yaml": """\
        webex_campaign:
          datastore_records:
            contacts:
              datastore_id: "1466"
              feed_id: "1499"
              records:
                - {msisdn: "+442071234501", firstname: Alicia}
        """,
}


@pytest.fixture
def everything(project: Project, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """A plan with every kind of change, as `plan --format json` prints it, and its file."""
    project.configure(("outreach", "superoffice", "webex_campaign"))
    for name, text in MANIFESTS.items():
        project.write(f"purposes/{name}", text)
    project.write("purposes/outreach.yaml", MANIFESTS["outreach.yaml"].rstrip(" ")
                  + "            old_name: {name: Old Name, order: 4}\n")
    assert project.apply().code == 0
    project.sandbox.outreach("POST", "/callPurposes", {"data": {
        "type": "callPurpose", "attributes": {"name": "Found", "order": 9}}})
    for name, text in EDITED.items():
        project.write(f"purposes/{name}", text)
    result = project.plan("--format", "json")
    assert result.code == 3, result.out[-300:]  # the refusal (exit 3, as every refusal): not applicable
    document = json.loads(result.out)
    path = tmp_path / "plan.json"
    path.write_text(result.out)
    return document, path


def by_action(document: dict[str, Any]) -> dict[str, str]:
    return {rc["reconciler_address"]: document["change_details"][rc["reconciler_address"]]["action"]
            + ("!" if document["change_details"][rc["reconciler_address"]]["refused"] else "")
            for rc in document["resource_changes"]}


def test_the_plan_has_every_kind_of_change(everything: tuple[dict[str, Any], Path]) -> None:
    document, _ = everything
    validate(document)
    for rc in document["resource_changes"]:
        assert_terraform_shape(rc)
    assert by_action(document) == {
        "outreach.call_purpose.change_me": "update",
        "outreach.call_purpose.remove_me": "delete",
        "outreach.call_purpose.found": "adopt",
        "outreach.call_purpose.added": "create",
        "outreach.call_purpose.renamed": "move",
        "superoffice.consent_purpose.newsletter": "delete",  # a deactivation
        "webex_campaign.datastore_records.contacts": "push",
        "webex_campaign.purpose.marketing": "delete!",  # no delete API: refused
    }
    assert document["change_details"]["superoffice.consent_purpose.newsletter"]["delete_mode"] == "deactivate"
    assert document["change_details"]["webex_campaign.purpose.marketing"]["delete_mode"] == "unsupported"
    refused = next(rc for rc in document["resource_changes"] if rc["name"] == "marketing")
    assert refused["change"]["actions"] == ["no-op"]  # never ["delete"]
    assert document["applyable"] is False


def deletes(document: dict[str, Any]) -> set[str]:
    return {rc["address"] for rc in document["resource_changes"] if "delete" in rc["change"]["actions"]}


def test_terrasafe_reports_the_deletes(everything: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    document, path = everything
    empty = tmp_path / "no-tf-files"  # terrasafe looks for commented-out resources in ./**/*.tf
    empty.mkdir()
    found = subprocess.run([BIN / "terrasafe"], stdin=path.open(), capture_output=True, text=True,
                           cwd=empty, env={**os.environ, "TERRASAFE_ALLOW_DELETION": ""})
    assert found.returncode == 1, found.stdout + found.stderr
    listed = {line.strip()[2:] for line in found.stdout.splitlines() if line.strip().startswith("- ")}
    assert listed == deletes(document) == {"outreach_call_purpose.remove_me",
                                           "superoffice_consent_purpose.newsletter"}
    allowed = subprocess.run([BIN / "terrasafe"], stdin=path.open(), capture_output=True, text=True,
                             cwd=empty, env={**os.environ,
                                             "TERRASAFE_ALLOW_DELETION": ";".join(sorted(listed))})
    assert allowed.returncode == 0 and "0 unauthorized deletion" in allowed.stdout, allowed.stdout


def test_flatplan_reads_every_resource_and_provider(everything: tuple[dict[str, Any], Path],
                                                     tmp_path: Path) -> None:
    document, path = everything
    out = tmp_path / "flat.json"
    ran = subprocess.run([BIN / "flatplan", "--path", str(path), "--output", str(out)],
                         capture_output=True, text=True)
    assert ran.returncode == 0 and "does not have" not in ran.stderr, ran.stderr
    flat = json.loads(out.read_text())
    remaining = {rc["address"] for rc in document["resource_changes"]} - deletes(document)
    assert {r["address"] for r in flat["resources"]} == remaining and len(remaining) == 6
    assert {p["full_name"] for p in flat["providers"]} == {
        "registry.terraform.io/reconciler/outreach", "registry.terraform.io/reconciler/superoffice",
        "registry.terraform.io/reconciler/webex-campaign"}


CUSTOM_CHECK = '''\
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class PurposeIsNamed(BaseResourceCheck):
    def __init__(self):
        super().__init__(name="A purpose has a name", id="CKV_RECON_1",
                         categories=[CheckCategories.GENERAL_SECURITY],
                         supported_resources=["outreach_call_purpose", "superoffice_consent_purpose",
                                              "webex_campaign_purpose",
                                              "webex_campaign_datastore_records"])

    def scan_resource_conf(self, conf):
        if self.entity_type == "webex_campaign_datastore_records":
            return CheckResult.PASSED if conf.get("datastore_id") else CheckResult.FAILED
        return CheckResult.PASSED if conf.get("name") else CheckResult.FAILED


check = PurposeIsNamed()
'''


@pytest.fixture(scope="session")
def checkov() -> Path:
    """checkov in a venv of its own (its pins conflict with ours), installed once from the
    package registry and kept in the user's cache between runs."""
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reconciler-tests"
    home.mkdir(parents=True, exist_ok=True)
    target = home / CHECKOV.replace("==", "-")
    with FileLock(str(home / "checkov.lock")):
        if not (target / "bin" / "checkov").exists():
            venv.create(target, with_pip=True)
            subprocess.run([target / "bin" / "pip", "install", "-q", CHECKOV], check=True,
                           capture_output=True)
    return target / "bin" / "checkov"


def test_checkov_reads_every_resource(everything: tuple[dict[str, Any], Path], tmp_path: Path,
                                      checkov: Path) -> None:
    document, path = everything
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "__init__.py").write_text("")
    (checks / "purpose_is_named.py").write_text(CUSTOM_CHECK)
    ran = subprocess.run([checkov, "-f", str(path), "--framework", "terraform_plan",
                          "--external-checks-dir", str(checks), "--check", "CKV_RECON_1",
                          "-o", "json", "--compact"],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
    assert ran.returncode in (0, 1), ran.stderr
    report = json.loads(ran.stdout)
    results = report["results"]
    seen = {c["resource"] for c in results["passed_checks"] + results["failed_checks"]}
    remaining = {rc["address"] for rc in document["resource_changes"]} - deletes(document)
    assert seen == remaining and not results["failed_checks"], (seen, remaining)
    assert report["summary"]["resource_count"] == len(remaining)
