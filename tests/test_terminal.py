"""What a person reads at a real terminal (a pty, colours on): never style names, always the plan."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import REPO, Project
from tests.terminal import STYLE_WORDS, TerminalRun


def test_quickstart_plan_is_readable_in_colour(tmp_path: Path) -> None:
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
    assert "Plan: " in screen and " to create" in screen


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
    run.type("yes\n")
    assert run.finish() == 0, run.screen()
    assert "Apply complete!" in run.screen()
