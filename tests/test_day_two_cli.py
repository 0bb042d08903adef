"""Issue 24, the commands a Terraform user reaches for on day two: state commands with
--sandbox, `import ADDR ID [DIR]`, `state pull` / `state push` (both backends)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project, run_cli, state_block

ONE = """\
outreach:
  call_purposes:
    intro: {name: Intro, order: 1}
    outro: {name: Outro, order: 2}
"""


def test_state_commands_take_sandbox_and_an_empty_state_says_where(project: Project) -> None:
    project.write("p.yaml", ONE)
    root = str(project.root)
    applied = project.cli("apply", root, "--sandbox", "--auto-approve")
    assert applied.code == 0, applied.text
    listed = project.cli("state", "list", root, "--sandbox")
    assert listed.code == 0 and "outreach.call_purpose.intro\t" in listed.out, listed.text
    shown = project.cli("state", "show", "outreach.call_purpose.intro", root, "--sandbox")
    assert shown.code == 0 and json.loads(shown.out)["attributes"]["name"] == "Intro"
    empty = project.cli("state", "list", root)
    assert empty.code == 0 and empty.out == "", empty.text
    assert "The state is empty" in empty.err and "state/default.json" in empty.err
    assert "--sandbox" in empty.err
    missing = project.cli("state", "show", "outreach.call_purpose.intro", root)
    assert missing.code == 1 and "state/default.json" in missing.err, missing.text
    unlock = project.cli("force-unlock", "no-such-lock", root, "--sandbox")
    assert "No such option" not in unlock.err, unlock.text


def test_import_takes_terraforms_order_and_keeps_the_old_one(project: Project) -> None:
    project.write("p.yaml", ONE)
    made = [project.sandbox.outreach("POST", "/callPurposes", {"data": {
        "type": "callPurpose", "attributes": {"name": name, "order": 9}}}).json()["data"]["id"]
        for name in ("Intro", "Outro")]
    new_order = project.cli("import", "outreach.call_purpose.intro", str(made[0]), str(project.root))
    assert new_order.code == 0, new_order.text
    old_order = project.cli("import", str(project.root), "outreach.call_purpose.outro", str(made[1]))
    assert old_order.code == 0, old_order.text
    assert {a: r["remote_id"] for a, r in project.state()["resources"].items()} == {
        "outreach.call_purpose.intro": str(made[0]), "outreach.call_purpose.outro": str(made[1])}
    helped = run_cli("import", "-h")
    assert "Usage: reconciler import [OPTIONS] ADDR ID [DIR]" in helped.out, helped.out
    assert "import DIR ADDR ID" in " ".join(helped.out.split())


def test_state_pull_push_checks_lineage_and_serial(
        project: Project, backend_kind: str, request: pytest.FixtureRequest) -> None:
    project.configure(state=state_block(backend_kind, request))
    project.write("p.yaml", ONE)
    root = str(project.root)
    assert project.apply().code == 0
    pulled = project.cli("state", "pull", root)
    assert pulled.code == 0, pulled.text
    document = json.loads(pulled.out)
    assert set(document["resources"]) == {"outreach.call_purpose.intro", "outreach.call_purpose.outro"}
    edited = dict(document, resources={k: v for k, v in document["resources"].items()
                                       if k.endswith("intro")})
    file = project.root.parent / "edited.json"
    file.write_text(json.dumps(edited))
    pushed = project.cli("state", "push", str(file), root)
    assert pushed.code == 0, pushed.text
    listed = project.cli("state", "list", root)
    assert listed.out.splitlines()[0].startswith("outreach.call_purpose.intro\t")
    assert "outro" not in listed.out
    stale = project.cli("state", "push", str(file), root)  # serial moved on since the pull
    assert stale.code == 1 and "older than the state" in stale.err, stale.text
    other = project.root.parent / "other.json"
    other.write_text(json.dumps(dict(json.loads(project.cli("state", "pull", root).out),
                                     lineage="another-lineage")))
    refused = project.cli("state", "push", str(other), root)
    assert refused.code == 1 and "belongs to another state" in refused.err, refused.text


def _checksum(text: str) -> str:
    found = re.findall(r"Plan checksum: (sha256:\w+)", text)
    assert len(found) == 1, text
    return found[0]


def test_same_inputs_same_checksum_for_plan_show_and_apply(project: Project) -> None:
    project.write("p.yaml", ONE)
    root = str(project.root)
    assert project.apply().code == 0
    project.sandbox.outreach("POST", "/callPurposes", {"data": {
        "type": "callPurpose", "attributes": {"name": "Unmanaged", "order": 5}}})
    project.write("p.yaml", ONE.replace("order: 2", "order: 3"))
    saved = project.root.parent / "plan.json"
    planned = project.cli("plan", root, "--out", str(saved))
    shown = project.cli("show", str(saved))
    applied = project.cli("apply", str(saved))
    assert applied.code == 0, applied.text
    assert _checksum(planned.out) == _checksum(shown.out) == _checksum(applied.out)
    project.write("p.yaml", ONE.replace("order: 2", "order: 4"))
    planned = project.cli("plan", root)
    applied = project.cli("apply", root, "--auto-approve")
    assert applied.code == 0, applied.text
    assert _checksum(planned.out) == _checksum(applied.out)


def test_terraforms_single_dash_flags_are_accepted(project: Project) -> None:
    project.write("p.yaml", ONE)
    root = str(project.root)
    saved = project.root.parent / "plan.json"
    planned = project.cli("plan", root, "-target", "outreach.call_purpose.intro", f"-out={saved}",
                          "-detailed-exitcode")
    assert planned.code == 2, planned.text
    assert "Skipped 1 object(s)" in planned.out
    assert project.cli("apply", str(saved)).code == 0
    applied = project.cli("apply", "-auto-approve", root, "-lock-timeout", "5")
    assert applied.code == 0, applied.text
    assert sorted(project.state()["resources"]) == ["outreach.call_purpose.intro",
                                                     "outreach.call_purpose.outro"]


def test_a_nested_project_is_skipped_and_error_lists_are_capped(tmp_path: Path) -> None:
    prod = tmp_path / "mono" / "prod"
    assert run_cli("init", str(prod)).code == 0
    assert run_cli("init", str(prod / "staging")).code == 0
    validated = run_cli("validate", str(prod))
    assert validated.code == 0, validated.text
    assert validated.err.count("another project") == 1 and "staging" in validated.err
    assert "unknown vendor" not in validated.text
    broken = prod / "broken.yaml"
    broken.write_text("outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: P{i}, order: x}}\n" for i in range(120)))
    for fmt in ("text", "github"):
        failed = run_cli("validate", str(prod), "--format", fmt)
        assert failed.code == 1
        assert "... and 70 more problem(s) (50 shown)" in failed.text, failed.text
    annotations = run_cli("validate", str(prod), "--format", "github").out.splitlines()
    assert len([a for a in annotations if a.startswith("::error")]) == 51


def test_smaller_things(project: Project, tmp_path: Path) -> None:
    """An empty collection declares nothing; init --backend postgres ignores state/; every
    --out makes its folder; -v logs no asyncio noise; --version loads no command line app."""
    project.write("p.yaml", "outreach:\n  call_purposes:\n")
    assert project.cli("validate", str(project.root)).code == 0
    saved = project.root.parent / "new" / "folder" / "plan.json"
    planned = project.cli("plan", str(project.root), "--out", str(saved), "-v")
    assert planned.code == 0, planned.text
    assert saved.is_file() and "No changes." in planned.out
    assert "asyncio" not in planned.err and "Using selector" not in planned.err
    made = tmp_path / "pg"
    assert run_cli("init", str(made), "--backend", "postgres").code == 0
    assert "/state/" in (made / ".gitignore").read_text()
    version = subprocess.run([sys.executable, "-X", "importtime", "-m", "reconciler", "--version"],
                             capture_output=True, text=True, check=True)
    assert re.fullmatch(r"reconciler \d+\.\d+\.\d+\n", version.stdout)
    assert "typer" not in version.stderr
