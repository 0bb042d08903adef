"""Every command once as a user starts it, `python -m reconciler` in a process of its own: the
rest of the suite runs the CLI in the test process (tests/inprocess.py), so this is where a
command that only works after something else imported its modules, or that leaves output
unflushed at exit, would show."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from tests.conftest import Project, Sandbox

ADDRESS = "outreach.call_purpose.intro"


def test_every_command_runs_as_a_process(project: Project, sandbox: Sandbox, tmp_path: Path) -> None:
    def cli(*args: str) -> str:
        result = project.cli(*args, process=True)
        assert result.code == 0, (args, result.text)
        assert "Traceback" not in result.text, result.text
        return result.out

    project.write("p.yaml", """\
        outreach:
          call_purposes:
            intro: {name: Intro}
        """)
    root, saved = str(project.root), str(tmp_path / "plan.bin")
    cli("validate", root)
    planned = project.cli("plan", root, "--out", saved, "--detailed-exitcode", process=True)
    assert planned.code == 2 and f"+ {ADDRESS}" in planned.out, planned.text
    assert ADDRESS in cli("show", saved)
    assert "Apply complete!" in cli("apply", saved)
    cli("drift", root)
    assert ADDRESS in cli("state", "list", root)
    assert "Intro" in cli("state", "show", ADDRESS, root)
    cli("state", "mv", ADDRESS, "outreach.call_purpose.moved", root)
    cli("state", "rm", "outreach.call_purpose.moved", root)
    remote_id = next(p["id"] for p in sandbox.outreach_purposes() if p["attributes"]["name"] == "Intro")
    cli("import", root, ADDRESS, str(remote_id))
    assert project.plan(process=True).code == 0
    assert "Intro" in cli("dump", root, "--vendor", "outreach")
    cli("fmt", root)
    assert json.loads(cli("schema"))
    assert "call_purposes" in cli("docs")
    cli("init", str(tmp_path / "new"), "--vendor", "outreach")
    unlocked = project.cli("force-unlock", "no-such-lock", root, process=True)
    assert unlocked.code == 1 and re.search(r"no(t| such)? lock|not locked", unlocked.err, re.I), \
        unlocked.text
    with socket.socket() as busy:  # the sandbox stops right after binding fails
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        served = project.cli("sandbox", "--port", str(port), process=True)
    assert served.code == 1 and f"cannot listen on 127.0.0.1:{port}" in served.err, served.text
