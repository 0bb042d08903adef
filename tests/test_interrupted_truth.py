"""Issue 24, item 1: after any interruption and one more successful apply, the state records
exactly what the vendors hold, so `plan` and `drift` both find nothing.

An apply of updates is SIGKILLed at a random moment once its writes started (several fixed
seeds, both backends); updates that reached the vendor but not the state are then recorded
by the next apply as a state-only refresh (the remote objects already equal the manifests).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.engine import Workspace
from reconciler.plan.model import Action, Reason
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from reconciler.sandbox.common import Faults
from tests import forked
from tests.conftest import Project, Sandbox, state_block

COUNT = 100


def manifest(bump: int) -> str:
    return "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: P{i}, order: {i + bump}}}\n" for i in range(COUNT))


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    settings = SandboxSettings(data_dir=tmp_path / "data", faults=Faults(latency_ms=15, seed=3),
                               superoffice_builtins=False)
    with RunningSandbox(settings) as running:
        yield Sandbox(running)


def _engine_checks(root: Path, sandbox: Sandbox) -> tuple[int, int]:
    """(changes planned, drift items) as `plan` and `drift` see them, in-process."""
    ws = Workspace.open(root, env={**os.environ, **sandbox.env()})
    plan = asyncio.run(ws.plan())
    report = asyncio.run(ws.drift())
    return len(plan.changes), len(report.items) + sum(len(v) for v in report.unmanaged.values())


@pytest.mark.parametrize(("stop", "seed"), [
    (signal.SIGKILL, 11), (signal.SIGKILL, 23), (signal.SIGKILL, 37),
    (signal.SIGTERM, 5), (signal.SIGINT, 7)],  # SIGINT: Ctrl-C
    ids=["kill-11", "kill-23", "kill-37", "term-5", "int-7"])
def test_interrupted_update_apply_then_one_apply_leaves_state_true(
        tmp_path: Path, slow_sandbox: Sandbox, backend_kind: str, stop: signal.Signals, seed: int,
        request: pytest.FixtureRequest) -> None:
    root = tmp_path / "m"
    root.mkdir()
    project = Project(root, slow_sandbox)
    project.configure(state=state_block(backend_kind, request))
    project.write("p.yaml", manifest(0))
    ws = Workspace.open(root, env={**os.environ, **slow_sandbox.env()})
    assert asyncio.run(ws.apply(force=True)).result is not None  # set up in-process: faster
    rng = random.Random(seed)
    env = {**os.environ, **slow_sandbox.env(), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "reconciler", "apply", str(root), "--auto-approve", "--force"]
    project.write("p.yaml", manifest(1000))  # every object updated
    writes = slow_sandbox.writes()
    proc = forked.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and slow_sandbox.writes() <= writes:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.4))  # a random moment once the updates are being sent
    proc.send_signal(stop)
    proc.wait(30)
    time.sleep(0.2)  # requests in flight when the client died still land at the vendor
    final = project.apply("--force")  # one more apply, as a person runs it
    assert final.code == 0, final.text
    # What `plan` and `drift` see (their exit codes are these counts being 0), in-process.
    assert _engine_checks(root, slow_sandbox) == (0, 0)


def test_record_behind_remote_is_refreshed_state_only(project: Project) -> None:
    """The unit of the above, deterministic: the vendor holds the manifest's value (an update
    landed), the state the old one. The plan shows a state-only refresh; apply records it."""
    project.write("p.yaml", "outreach:\n  call_purposes:\n    p0: {name: P0, order: 0}\n"
                            "    p1: {name: P1, order: 1}\n")
    assert project.apply().code == 0
    purpose = next(p for p in project.sandbox.outreach_purposes() if p["attributes"]["name"] == "P0")
    project.write("p.yaml", "outreach:\n  call_purposes:\n    p0: {name: P0, order: 500}\n"
                            "    p1: {name: P1, order: 1}\n")
    project.sandbox.outreach("PATCH", f"/callPurposes/{purpose['id']}", {"data": {
        "type": "callPurpose", "id": int(purpose["id"]), "attributes": {"order": 500}}})
    ws = Workspace.open(project.root, env={**os.environ, **project.sandbox.env()})
    plan = asyncio.run(ws.plan())
    [change] = plan.changes
    assert (change.action, change.state_only, change.why) == (
        Action.UPDATE, True, Reason.UPDATE_STATE_REFRESH)
    assert plan.counts()["state_only"] == 1
    shown = project.plan()
    assert shown.code == 2 and "refresh" in shown.out, shown.text
    writes = project.sandbox.writes()
    assert project.apply().code == 0
    assert project.sandbox.writes() == writes, "a refresh sends no write"
    assert project.plan().code == 0
    assert project.cli("drift", str(project.root)).code == 0
