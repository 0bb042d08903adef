"""What a person reads at a real terminal (a pty, colours on): never style names, always the plan."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Project
from tests.terminal import ANSI, STYLE_WORDS, TerminalRun


def test_quickstart_plan_is_readable_in_colour(tmp_path: Path) -> None:
    """`make demo` on a terminal: plan, then apply, both --sandbox; then a plan shows no change."""
    target = tmp_path / "examples" / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", target)
    run = TerminalRun("plan", str(target), "--sandbox", env={}, cwd=tmp_path)
    code = run.finish()
    screen = run.screen()
    assert code == 0, screen
    assert "\x1b[" in run.raw.decode(errors="replace"), "a terminal gets colour"
    assert not STYLE_WORDS.search(screen), screen
    for address in ("outreach.call_purpose.initial_contact", "webex_campaign.purpose.marketing",
                    "superoffice.consent_purpose.emarketing"):
        assert f" {address}" in screen
    assert "+ outreach.call_purpose.initial_contact" in screen
    assert "<= superoffice.consent_purpose.emarketing" in screen
    assert "Symbols: + create, <= adopt an existing remote object (not Terraform's read)" in screen
    assert re.search(r"^Plan: 2 to import, \d+ to add, 0 to change, 0 to destroy\.( Also: \d+ to push\.)?$", screen, re.M)
    applied = TerminalRun("apply", str(target), "--sandbox", "--auto-approve", env={}, cwd=tmp_path)
    assert applied.finish() == 0, applied.screen()
    assert "\x1b[" in applied.raw.decode(errors="replace")
    assert not STYLE_WORDS.search(applied.screen()), applied.screen()
    assert re.search(r"^Apply complete! Changes: \d+ created, 0 updated, 0 deleted, 2 adopted",
                     applied.screen(), re.M)
    again = TerminalRun("plan", str(target), "--sandbox", env={}, cwd=tmp_path)
    assert again.finish() == 0
    assert "No changes. The remote objects match the manifests." in again.screen()


def test_apply_prompt_on_a_terminal(project: Project) -> None:
    project.write("p.yaml", """\
        outreach:
          call_purposes:
            intro: {name: Intro, order: 1}
        """)
    run = TerminalRun("apply", str(project.root), env=project.sandbox.env(), cwd=project.root)
    before = run.read_until("Only 'yes' will be accepted")
    assert "+ outreach.call_purpose.intro" in before
    assert not STYLE_WORDS.search(before), before
    assert "Symbols: + create\n" in before
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in before
    run.type("yes\n")
    assert run.finish() == 0, run.screen()
    assert "Apply complete! Changes: 1 created, 0 updated, 0 deleted, 0 adopted." in run.screen()
    assert not STYLE_WORDS.search(run.screen()), run.screen()


def test_drift_on_a_terminal(project: Project) -> None:
    project.write("p.yaml", TWO)
    assert project.apply().code == 0
    follow_up = next(p for p in project.sandbox.outreach_purposes()
                     if p["attributes"]["name"] == "Follow Up")
    project.sandbox.outreach("PATCH", f"/callPurposes/{follow_up['id']}", {"data": {
        "type": "callPurpose", "id": follow_up["id"], "attributes": {"order": 9}}})
    run = TerminalRun("drift", str(project.root), env=project.sandbox.env(), cwd=project.root)
    assert run.finish() == 2, run.screen()
    screen = run.screen()
    assert "\x1b[" in run.raw.decode(errors="replace")
    assert not STYLE_WORDS.search(screen), screen
    assert "~ outreach.call_purpose.follow_up" in screen and "~ order: 2 -> 9" in screen
    assert "outreach.call_purpose.intro" not in screen  # unchanged objects are not listed
    assert "Drift: 1 of 2 managed object(s) changed or missing, 0 unmanaged." in screen


def test_a_150_change_apply_shows_a_progress_bar(project: Project) -> None:
    project.write("p.yaml", many(150))
    run = TerminalRun("apply", str(project.root), "--auto-approve", env=project.sandbox.env(),
                      cwd=project.root)
    assert run.finish() == 0, run.screen()[-2000:]
    screen = run.screen()
    assert not STYLE_WORDS.search(screen), screen
    for i in range(150):
        assert f"+ outreach.call_purpose.p{i:03d} " in screen
    assert "Plan: 150 to add, 0 to change, 0 to destroy." in screen
    assert re.search(r"Applying .*150/150", screen), screen[-2000:]
    assert "Apply complete! Changes: 150 created, 0 updated, 0 deleted, 0 adopted." in screen


@pytest.mark.parametrize("env, args", [
    ({"NO_COLOR": "1"}, ()), ({"TERM": "dumb"}, ()), ({"RECONCILER_NO_COLOR": "1"}, ()),
    ({}, ("--no-color",)), ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, ()),
])
def test_colour_off_on_a_terminal_means_no_escape_codes(project: Project, env: dict[str, str],
                                                        args: tuple[str, ...]) -> None:
    project.write("p.yaml", many(150))
    run = TerminalRun("apply", str(project.root), "--auto-approve", *args,
                      env={**project.sandbox.env(), **env}, cwd=project.root)
    assert run.finish() == 0, run.screen()[-2000:]
    raw = run.raw.decode(errors="replace")
    assert "\x1b" not in raw
    for i in range(150):
        assert f"+ outreach.call_purpose.p{i:03d} " in raw.replace("\r", "")
    assert "... 150/150 changes applied" in raw
    assert "Apply complete! Changes: 150 created, 0 updated, 0 deleted, 0 adopted." in raw


def test_force_color_colours_a_pipe(project: Project) -> None:
    project.write("p.yaml", TWO)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    piped = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(project.root)],
                           env={**env, **project.sandbox.env(), "FORCE_COLOR": "1"},
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" in piped.stdout
    assert "+ outreach.call_purpose.intro" in ANSI.sub("", piped.stdout)
    plain = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(project.root)],
                           env={**env, **project.sandbox.env()}, capture_output=True, text=True,
                           timeout=120)
    assert "\x1b" not in plain.stdout and "+ outreach.call_purpose.intro" in plain.stdout


TWO = """\
outreach:
  call_purposes:
    intro: {name: Intro, order: 1}
    follow_up: {name: Follow Up, order: 2}
"""


def many(count: int) -> str:
    return "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i:03d}: {{name: Purpose {i:03d}, order: {i}}}\n" for i in range(count))
