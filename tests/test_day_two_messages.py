"""Issue 24, items 9, 10 and 12: messages that agree with what is done, one exit code for
every refusal, Terraform's per-object apply lines."""

from __future__ import annotations

import re

from tests.conftest import Project

OUTREACH = """\
outreach:
  call_purposes:
    intro: {name: Intro, order: 1}
"""
NUMBERED = "outreach:\n  call_purposes:\n" + "".join(
    f"    p{i}: {{name: P{i}, order: {i}}}\n" for i in range(12))


def test_apply_lines_name_the_remote_id_and_time_and_a_deactivation(project: Project) -> None:
    project.configure(vendors=("outreach", "superoffice"))
    project.write("p.yaml", OUTREACH + "superoffice:\n  consent_purposes:\n"
                                       "    newsletter: {name: Newsletter, key: NEWS}\n")
    applied = project.apply()
    assert applied.code == 0, applied.text
    assert re.search(r"^outreach\.call_purpose\.intro: Creation complete after \d+\.\ds "
                     r"\[id=\d+\]$", applied.out, re.M), applied.out
    project.write("p.yaml", OUTREACH)
    removed = project.apply()
    assert removed.code == 0, removed.text
    assert re.search(r"^superoffice\.consent_purpose\.newsletter: Deactivation complete after "
                     r"\d+\.\ds \[id=\d+\]$", removed.out, re.M), removed.out
    assert ": deleted" not in removed.out and "1 deactivated" in removed.out


def test_every_refusal_exits_3_and_is_not_headed_as_a_delete(project: Project) -> None:
    project.configure(vendors=("webex_campaign",))
    project.write("p.yaml", "webex_campaign:\n  purposes:\n    a: {name: A_Purpose}\n"
                            "    b: {name: B_Purpose}\n")
    assert project.apply().code == 0
    project.write("p.yaml", "webex_campaign:\n  purposes:\n    a: {name: A_Purpose}\n")
    planned = project.plan()
    assert planned.code == 3, planned.text
    assert "webex_campaign.purpose.b is refused" in planned.out
    assert "webex_campaign.purpose.b will be deleted" not in planned.out
    assert project.apply().code == 3

    project.configure(vendors=("outreach",))
    project.write("p.yaml", OUTREACH.replace("order: 1}", "order: 1, prevent_destroy: true}"))
    assert project.apply().code == 0
    project.write("p.yaml", "outreach:\n  call_purposes:\n    other: {name: Other, order: 2}\n")
    planned = project.plan()
    assert planned.code == 3, planned.text
    assert project.apply().code == 3


def test_forced_threshold_is_not_shown_as_blocked(project: Project) -> None:
    project.write("p.yaml", NUMBERED)
    assert project.apply().code == 0
    project.write("p.yaml", NUMBERED.replace("order: ", "order: 10"))
    blocked = project.plan()
    assert "apply with --force" in blocked.out  # the plan says how to lift it
    forced = project.apply("--force")
    assert forced.code == 0, forced.text
    assert "apply with --force" not in forced.out and "! blocked" not in forced.out
    assert "applied because --force was given" in forced.out


def test_a_sandbox_plan_applied_without_sandbox_says_so_first(project: Project) -> None:
    project.write("p.yaml", OUTREACH)
    saved = project.root.parent / "plan.json"
    assert project.cli("plan", str(project.root), "--sandbox", "--out", str(saved)).code == 0
    applied = project.cli("apply", str(saved), env={"OUTREACH_TOKEN": "", "OUTREACH_BASE_URL": ""})
    assert applied.code == 1
    assert applied.err.startswith(f"Error: {saved}: the plan was made with --sandbox"), applied.err


def test_hints_name_the_directory_given(project: Project) -> None:
    project.write("p.yaml", OUTREACH)
    typo = project.plan("--target", "outreach.call_purpose.nope")
    assert typo.code == 1
    assert f"reconciler state list {project.root}" in typo.err and " DIR" not in typo.err


def test_replace_recreates_one_object_where_the_vendor_deletes(project: Project) -> None:
    project.configure(vendors=("outreach", "webex_campaign"))
    project.write("p.yaml", OUTREACH + "webex_campaign:\n  purposes:\n    a: {name: A_Purpose}\n")
    assert project.apply().code == 0
    [before] = project.sandbox.outreach_purposes()
    planned = project.plan("-replace", "outreach.call_purpose.intro")
    assert planned.code == 2, planned.text
    assert "-/+ outreach.call_purpose.intro" in planned.out and "1 to replace" in planned.out
    applied = project.apply("-replace", "outreach.call_purpose.intro")
    assert applied.code == 0, applied.text
    assert "outreach.call_purpose.intro: Replacement complete after" in applied.out
    [after] = project.sandbox.outreach_purposes()
    assert after["id"] != before["id"] and after["attributes"]["name"] == "Intro"
    assert project.state()["resources"]["outreach.call_purpose.intro"]["remote_id"] == str(after["id"])
    assert project.plan().code == 0
    refused = project.plan("-replace", "webex_campaign.purpose.a")
    assert refused.code == 3 and "cannot be replaced" in refused.out, refused.text
