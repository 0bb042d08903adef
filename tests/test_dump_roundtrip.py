"""Files the tool writes pass the tool's own checks as written: `dump` -> `fmt --check` ->
`validate` -> `plan` (adoptions only, no field changes) -> apply -> `plan` (no changes), and
`drift --write-back` keeps a formatted file formatted and valid. Over real HTTP with the
sandboxes; the duplicate natural key and the quoting cases are what broke before."""

from __future__ import annotations

import json

from reconciler import SCHEMA_BASE_URL
from tests.conftest import Project
from tests.test_superoffice_e2e import so

OUTREACH = [("Initial Contact", 1), ("Follow Up", 2), ("Follow Up", 7), ("Demo: Booked!", 3),
            ("Save $5 'now'", 4), ("#hash", 5), ('Say "hi"\nthere', 6)]


def seed(project: Project) -> None:
    for name, order in OUTREACH:
        made = project.sandbox.outreach("POST", "/callPurposes", {"data": {
            "type": "callPurpose", "attributes": {"name": name, "order": order}}})
        assert made.status_code == 201, made.text
    for key, name in (("#Emarketing", "E-marketing: news"), ("#Process", "Process")):
        assert so(project.sandbox, "POST", "", {"Name": name, "Key": key, "Active": 1,
                                                "Rank": 2}).status_code in (200, 201)


def test_dump_fmt_validate_plan_round_trip(project: Project) -> None:
    project.configure(("outreach", "superoffice"))
    seed(project)
    for vendor in ("outreach", "superoffice"):
        dumped = project.cli("dump", str(project.root), "--vendor", vendor,
                             "--out", str(project.root / f"{vendor}.yaml"))
        assert dumped.code == 0, dumped.text
    text = (project.root / "outreach.yaml").read_text()
    assert text.startswith(f"# yaml-language-server: $schema={SCHEMA_BASE_URL}manifest.schema.json")
    assert "'" not in text.replace("\\'", "").split("outreach:", 1)[1].replace("Save $$5 'now'", "")
    assert "id=" in text and "same name" in text  # the second "Follow Up", as a comment

    check = project.cli("fmt", str(project.root), "--check")
    assert check.code == 0, check.text
    valid = project.cli("validate", str(project.root))
    assert valid.code == 0, valid.text
    plan = project.plan("--format", "json")
    assert plan.code == 2, plan.text
    changes = json.loads(plan.out)["resource_changes"]
    assert len(changes) == len(OUTREACH) - 1 + 2
    assert all(c["change"]["actions"] == ["no-op"] and "importing" in c["change"] for c in changes)
    assert project.apply().code == 0
    again = project.plan()
    assert again.code == 0, again.text


def test_write_back_keeps_the_file_formatted_and_valid(project: Project) -> None:
    project.configure(("superoffice",))
    project.write("purposes/so.yaml", """\
        superoffice:
          consent_purposes:
            news:
              name: Newsletter
              key: "#Newsletter"
              rank: 3
              privacy_statement_url: https://example.com/privacy
        """)
    assert project.cli("fmt", str(project.root), "--check").code == 0
    assert project.apply().code == 0
    [item] = [i for i in so(project.sandbox, "GET").json() if i["Key"] == "#Newsletter"]
    changed = so(project.sandbox, "PUT", f"/{item['ConsentPurposeId']}",
                 {**item, "Active": 0, "Tooltip": "Edited: in SuperOffice"})
    assert changed.status_code == 200, changed.text
    result = project.cli("drift", str(project.root), "--write-back")
    assert "Wrote the remote values" in result.err, result.text
    text = (project.root / "purposes" / "so.yaml").read_text()
    assert text.index("active:") < text.index("rank:"), text  # canonical place, not appended
    check = project.cli("fmt", str(project.root), "--check")
    assert check.code == 0, check.text + text
    assert project.cli("validate", str(project.root)).code == 0
    assert project.plan().code == 0
