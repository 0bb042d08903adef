"""Team safety (issue 12): nothing destroyed, duplicated or cross-wired, whatever a team does.

One CLI test over real HTTP per way a team hurt itself: rehearsing in the sandbox, applying
a saved plan elsewhere or later, editing a plan file, renaming a key, pruning, breaking a
live lock, adopting after an ambiguous create. Manifest discovery, atomic files and honest
accounting are in test_team_safety_files.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.plan.model import Plan
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from tests import forked
from tests.conftest import Project, Sandbox, run_cli, state_block


def purposes(**names: str) -> str:
    """An Outreach manifest: key -> name."""
    return "outreach:\n  call_purposes:\n" + "".join(
        f"    {key}: {{name: {name!r}}}\n" for key, name in names.items())


def numbered(count: int, start: int = 0, order: int = 0) -> str:
    return "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: P{i}, order: {i + order}}}\n" for i in range(start, start + count))


def post(sandbox: Sandbox, name: str) -> str:
    body = {"data": {"type": "callPurpose", "attributes": {"name": name}}}
    response = sandbox.outreach("POST", "/callPurposes", body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def patch(sandbox: Sandbox, remote_id: str, **attributes: object) -> None:
    body = {"data": {"type": "callPurpose", "id": int(remote_id), "attributes": attributes}}
    assert sandbox.outreach("PATCH", f"/callPurposes/{remote_id}", body).status_code == 200


def names(sandbox: Sandbox) -> list[str]:
    return sorted(p["attributes"]["name"] for p in sandbox.outreach_purposes())


def state_ids(project: Project) -> dict[str, str]:
    listed = project.cli("state", "list", str(project.root))
    assert listed.code == 0, listed.text
    return dict(line.split("\t") for line in listed.out.splitlines() if "\t" in line)


@pytest.fixture
def team(tmp_path: Path, sandbox: Sandbox, backend_kind: str, request: pytest.FixtureRequest) -> Project:
    """A manifest directory on the local or the PostgreSQL backend."""
    root = tmp_path / "manifests"
    root.mkdir()
    project = Project(root, sandbox)
    project.configure(state=state_block(backend_kind, request))
    return project


# -- a sandbox rehearsal never touches the real state -------------------------------------

def test_sandbox_rehearsal_keeps_its_own_state(team: Project, sandbox: Sandbox) -> None:
    post(sandbox, "Real call purpose 0")  # the real vendor's id 1, unrelated to the manifests
    team.write("p.yaml", purposes(cp_00000="Purpose 0"))
    rehearsal = team.cli("apply", str(team.root), "--sandbox", "--auto-approve")
    assert rehearsal.code == 0, rehearsal.text
    real = team.plan()
    assert "(id 1)" not in real.out, "the real plan would update a real object with a sandbox id"
    assert real.code == 2 and "+ outreach.call_purpose.cp_00000" in real.out, real.text
    assert state_ids(team) == {}, "the rehearsal wrote into the configured state"
    assert (team.root / "state" / "sandbox" / "reconciler-state.json").is_file()
    again = team.cli("plan", str(team.root), "--sandbox", "--detailed-exitcode")
    assert again.code == 0, again.text  # the rehearsal remembers its own objects
    assert sandbox.writes() == 1 and names(sandbox) == ["Real call purpose 0"]


def test_plan_made_against_the_sandbox_never_reaches_the_real_vendors(
        project: Project, sandbox: Sandbox, tmp_path: Path) -> None:
    project.write("p.yaml", purposes(a="Alpha", b="Beta"))
    plan_file = tmp_path / "sandbox.plan"
    made = project.cli("plan", str(project.root), "--sandbox", "--out", str(plan_file))
    assert made.code == 0, made.text
    applied = project.cli("apply", str(plan_file))
    assert sandbox.writes() == 0, "a sandbox plan was applied to the real vendors"
    assert applied.code == 1, applied.text
    assert "the plan was made with --sandbox" in applied.err, applied.err
    assert f"reconciler apply {plan_file} --sandbox" in made.err
    rehearsed = project.cli("apply", str(plan_file), "--sandbox")
    assert rehearsed.code == 0, rehearsed.text


# -- a saved plan is bound to its target and re-checked before the first write ------------

def test_saved_plan_applies_only_to_its_target_and_manifests(tmp_path: Path, sandbox: Sandbox) -> None:
    projects = {}
    for env in ("stage", "prod"):
        root = tmp_path / env / "proj"
        root.mkdir(parents=True)
        projects[env] = Project(root, sandbox)
        projects[env].configure()
        projects[env].write("p.yaml", purposes(a=f"{env} A"))
    stage, prod = projects["stage"], projects["prod"]
    plan_file = tmp_path / "stage.plan"
    made = run_cli("plan", "proj", "--out", str(plan_file), env=sandbox.env(), cwd=tmp_path / "stage")
    assert made.code == 0, made.text
    assert json.loads(plan_file.read_text())["target"]["directory"] == str(stage.root)
    applied = run_cli("apply", str(plan_file), env=sandbox.env(), cwd=tmp_path / "prod")
    assert applied.code == 0, applied.text
    assert not (prod.root / "state" / "default.json").exists(), "stage's plan wrote prod's state"
    assert names(sandbox) == ["stage A"]

    stage.write("p.yaml", purposes(a="stage A", b="stage B"))
    assert stage.cli("plan", str(stage.root), "--out", str(plan_file)).code == 0
    with RunningSandbox(SandboxSettings(superoffice_builtins=False)) as running:
        other = Sandbox(running)  # prod's tenant: another endpoint
        refused = run_cli("apply", str(plan_file), env=other.env())
        assert refused.code == 1, refused.text
        assert "endpoints.outreach.base_url" in refused.err
        assert str(sandbox.running.port) in refused.err and str(running.port) in refused.err
        assert other.writes() == 0
    stage.write("p.yaml", purposes(a="stage A", b="stage B2"))
    changed = stage.cli("apply", str(plan_file))
    assert changed.code == 1 and "manifests" in changed.err and "changed" in changed.err, changed.text
    assert names(sandbox) == ["stage A"]
    scoped = stage.cli("apply", str(plan_file), "--target", "outreach.*")
    assert scoped.code == 1 and "--target/--exclude" in scoped.err, scoped.text


def test_saved_plan_rechecks_every_object_and_is_refused_whole(
        project: Project, sandbox: Sandbox, tmp_path: Path) -> None:
    project.write("p.yaml", numbered(2))
    assert project.apply().code == 0
    ids = state_ids(project)
    project.write("p.yaml", numbered(2, order=10) + "    c: {name: Charlie}\n")
    plan_file = tmp_path / "p.plan"
    assert project.cli("plan", str(project.root), "--out", str(plan_file)).code == 0
    post(sandbox, "Charlie")  # someone creates it meanwhile...
    patch(sandbox, ids["outreach.call_purpose.p1"], order=99)  # ...and edits the last update
    writes = sandbox.writes()
    applied = project.cli("apply", str(plan_file))
    assert applied.code == 1, applied.text
    assert "nothing was applied" in applied.err
    assert "outreach.call_purpose.c: planned create, now adopt" in applied.err
    assert "outreach.call_purpose.p1: the remote object changed" in applied.err
    assert sandbox.writes() == writes, "a partial apply"
    assert names(sandbox).count("Charlie") == 1
    orders = {p["attributes"]["name"]: p["attributes"]["order"] for p in sandbox.outreach_purposes()}
    assert orders["P0"] == 0, "the first update was written before the plan was refused"


def _forge(plan_file: Path, edit: object) -> None:
    """Edit a plan file and recompute its checksum, as anyone can."""
    data = json.loads(plan_file.read_text())
    edit(data)  # type: ignore[operator]
    data["checksum"] = Plan.from_dict(data).checksum()
    plan_file.write_text(json.dumps(data))


def _lift(data: dict[str, object]) -> None:
    for change in data["changes"]:  # type: ignore[attr-defined]
        change["refused"], change["safety"] = None, "ok"
    data["safety"], data["refusals"] = [], []


def test_edited_plan_file_cannot_lift_a_safety_rail(project: Project, sandbox: Sandbox, tmp_path: Path) -> None:
    project.write("p.yaml", numbered(10) + "    keep: {name: Keep, prevent_destroy: true}\n")
    assert project.apply().code == 0
    project.write("p.yaml", numbered(10))
    plan_file = tmp_path / "p.plan"
    planned = project.cli("plan", str(project.root), "--out", str(plan_file))
    assert "blocked: prevent_destroy" in planned.out or "prevent_destroy" in planned.out
    _forge(plan_file, _lift)
    writes = sandbox.writes()
    applied = project.cli("apply", str(plan_file))
    assert applied.code == 3 and "prevent_destroy" in applied.err, applied.text
    assert sandbox.writes() == writes and "Keep" in names(sandbox)

    project.write("p.yaml", numbered(10, order=5) + "    keep: {name: Keep, prevent_destroy: true}\n")
    assert project.cli("plan", str(project.root), "--out", str(plan_file)).code == 0
    _forge(plan_file, _lift)  # 10 updates of 11 managed: over the 30% threshold
    blocked = project.cli("apply", str(plan_file))
    assert blocked.code == 3 and "blocked" in blocked.err, blocked.text
    assert sandbox.writes() == writes
    forced = project.cli("apply", str(plan_file), "--force")
    assert forced.code == 0, forced.text


# -- renames are moves; recorded ids are identity-checked ---------------------------------

def test_renamed_key_is_a_move_without_vendor_call_outreach(project: Project, sandbox: Sandbox) -> None:
    project.write("p.yaml", purposes(initial="Initial Contact"))
    assert project.apply().code == 0
    before = state_ids(project)["outreach.call_purpose.initial"]
    project.write("p.yaml", purposes(first_touch="Initial Contact"))
    planned = project.plan()
    assert planned.code == 2, planned.text
    assert "outreach.call_purpose.initial -> outreach.call_purpose.first_touch" in planned.out
    assert "1 to move" in planned.out and "0 to add" in planned.out and "0 to destroy" in planned.out
    writes = sandbox.writes()
    applied = project.apply()
    assert applied.code == 0 and "1 moved" in applied.out, applied.text
    assert sandbox.writes() == writes, "a move sent a request"
    assert state_ids(project) == {"outreach.call_purpose.first_touch": before}
    assert project.plan().code == 0


SUPEROFFICE = """\
superoffice:
  consent_purposes:
    {key}:
      name: Newsletter
      key: "#Newsletter"
      consent_text: I want news
"""


def test_renamed_key_is_a_move_without_vendor_call_superoffice(project: Project, sandbox: Sandbox) -> None:
    project.configure(vendors=("superoffice",))
    project.write("p.yaml", SUPEROFFICE.format(key="news"))
    assert project.apply().code == 0
    project.write("p.yaml", SUPEROFFICE.format(key="newsletter"))
    planned = project.plan()
    assert "superoffice.consent_purpose.news -> superoffice.consent_purpose.newsletter" in planned.out
    writes = sandbox.writes()
    assert project.apply().code == 0
    assert sandbox.writes() == writes, "the old purpose was deactivated or a duplicate created"
    assert project.plan().code == 0


def test_state_mv_by_hand(project: Project, sandbox: Sandbox) -> None:
    project.write("p.yaml", purposes(a="Alpha", b="Beta"))
    assert project.apply().code == 0
    ids = state_ids(project)
    taken = project.cli("state", "mv", "outreach.call_purpose.a", "outreach.call_purpose.b", str(project.root))
    assert taken.code == 1 and "already in the state" in taken.err, taken.text
    moved = project.cli("state", "mv", "outreach.call_purpose.a", "outreach.call_purpose.alpha",
                        str(project.root))
    assert moved.code == 0, moved.text
    assert state_ids(project)["outreach.call_purpose.alpha"] == ids["outreach.call_purpose.a"]
    project.write("p.yaml", purposes(alpha="Alpha", b="Beta"))
    assert project.plan().code == 0


def test_renamed_at_the_vendor_is_drift_of_the_same_target(project: Project, sandbox: Sandbox) -> None:
    """The state is bound to its target (issue 24): a recorded id names our object, whatever
    its name now; a rename is reverted, and a removed entry's object is deleted."""
    project.write("p.yaml", purposes(a="Alpha", gone="Gone"))
    assert project.apply().code == 0
    ids = state_ids(project)
    patch(sandbox, ids["outreach.call_purpose.a"], name="Unrelated")
    patch(sandbox, ids["outreach.call_purpose.gone"], name="Someone else's")
    project.write("p.yaml", purposes(a="Alpha"))
    planned = project.plan()
    assert planned.code == 2, planned.text
    assert '~ name: "Unrelated" -> "Alpha"' in planned.out
    assert "1 to change, 1 to destroy" in planned.out
    assert project.apply().code == 0
    assert names(sandbox) == ["Alpha"]


# -- prune: in the threshold, one by one ---------------------------------------------------

def test_prune_deletes_count_in_the_threshold(project: Project, sandbox: Sandbox) -> None:
    project.extra_provider_settings["outreach"] = "    prune: true\n"
    project.configure()
    project.write("p.yaml", numbered(7))
    assert project.apply().code == 0
    unmanaged = [post(sandbox, f"Unmanaged {i}") for i in range(40)]
    planned = project.plan()
    assert planned.code == 2, planned.text
    assert all(f"- outreach.call_purpose.~{i} " in planned.out for i in unmanaged)
    assert "40 update(s)/delete(s) of 47 object(s)" in planned.out and "blocked" in planned.out
    refused = project.apply()
    assert refused.code == 3, refused.text
    assert len(names(sandbox)) == 47
    forced = project.apply("--force")
    assert forced.code == 0, forced.text
    assert names(sandbox) == [f"P{i}" for i in range(7)]


# -- force-unlock and fencing --------------------------------------------------------------

def test_force_unlock_refuses_a_live_holder_and_fencing_stops_it(
        team: Project, sandbox: Sandbox, sandbox_settings: SandboxSettings, backend_kind: str,
        request: pytest.FixtureRequest) -> None:
    team.extra_provider_settings["outreach"] = "    concurrency: 1\n"
    team.configure(state=state_block(backend_kind, request))
    team.write("p.yaml", numbered(80))
    sandbox_settings.faults.latency_ms = 150  # a long apply (~12 s), one request at a time
    command = [sys.executable, "-m", "reconciler", "apply", str(team.root), "--auto-approve"]
    holder = forked.Popen(command, env=_env(sandbox), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        while sandbox.writes() < 3:
            assert holder.poll() is None, holder.communicate()
        second = team.apply()
        assert second.code == 1 and "locked" in second.err, second.text
        lock_id = re.search(r"force-unlock (\S+) " + re.escape(str(team.root)), second.err).group(1)  # type: ignore[union-attr]
        refused = team.cli("force-unlock", lock_id, str(team.root))
        assert refused.code == 1 and "the holder is alive" in refused.err, refused.text
        assert holder.poll() is None and team.apply().code == 1  # still its lock
        forced = team.cli("force-unlock", lock_id, str(team.root), "--force")
        assert forced.code == 0 and "Warning" in forced.err, forced.text
        _, err = holder.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert holder.returncode == 1 and "taken over" in err, err
    sandbox_settings.faults.latency_ms = 0
    final = team.apply("--lock-timeout", "30")
    assert final.code == 0, final.text
    assert names(sandbox) == sorted(f"P{i}" for i in range(80)), "duplicates or missing objects"
    assert team.plan().code == 0
    assert team.cli("drift", str(team.root)).code == 0  # the state holds what the vendor holds


def _env(sandbox: Sandbox) -> dict[str, str]:
    import os

    return {**{k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "WEBEX_"))},
            **sandbox.env(), "NO_COLOR": "1"}
