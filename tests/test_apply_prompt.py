"""Issue 24, item 2: at the apply prompt, Ctrl-C cancels at once (exit 130) and EOF or an
empty answer cancels (exit 1), as Terraform does; the lock is freed and nothing is written."""

from __future__ import annotations

import signal

import pytest

from tests.conftest import Project
from tests.terminal import TerminalRun

ONE = """\
outreach:
  call_purposes:
    intro: {name: Intro, order: 1}
"""


@pytest.mark.parametrize("key, code", [("\x03", 130), ("\x04", 1), ("\n", 1)],
                         ids=["ctrl-c", "eof", "empty"])
def test_the_prompt_cancels_at_once(project: Project, key: str, code: int) -> None:
    project.write("p.yaml", ONE)
    run = TerminalRun("apply", str(project.root), env=project.sandbox.env(), cwd=project.root)
    run.read_until("Only 'yes' will be accepted")
    if key == "\x03":  # what the terminal sends the foreground process on Ctrl-C (the child
        run.proc.send_signal(signal.SIGINT)  # is not in the pty's session: sent by hand)
    else:
        run.type(key)
    assert run.finish(timeout=20) == code, run.screen()
    assert "Apply cancelled." in run.screen()
    assert "Traceback" not in run.screen()
    assert project.sandbox.writes() == 0
    # The lock is free: a run right after takes it at once (no --lock-timeout).
    assert project.plan().code == 2
    assert project.apply().code == 0
