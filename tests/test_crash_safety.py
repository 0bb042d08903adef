"""SIGKILL an apply at 20 moments, then re-run it: the sandbox and the state end exact.

No duplicate (an object created but not recorded is adopted by natural key),
no orphan (one created by an interrupted run and no longer declared is deleted),
and the state is readable after every kill.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from reconciler.sandbox.common import Faults
from reconciler.state.local import LocalBackend
from tests import forked
from tests.conftest import Project, Sandbox


def manifest(names: range, bump: int = 0) -> str:
    return "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: P{i}, order: {i + bump}}}\n" for i in names)


VARIANTS = [manifest(range(0, 30)), manifest(range(10, 40), bump=100), manifest(range(0, 40), bump=7)]


@pytest.fixture
def latency_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    settings = SandboxSettings(data_dir=tmp_path / "data", faults=Faults(latency_ms=20, seed=7),
                               superoffice_builtins=False)
    with RunningSandbox(settings) as running:
        yield Sandbox(running)


def test_sigkill_at_random_moments_converges_exactly(tmp_path: Path, latency_sandbox: Sandbox) -> None:
    root = tmp_path / "m"
    root.mkdir()
    project = Project(root, latency_sandbox)
    project.configure()
    backend = LocalBackend(root / "state" / "default.json")
    env = {**os.environ, **latency_sandbox.env(), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "reconciler", "apply", str(root), "--auto-approve", "--lock-timeout", "30",
               "--force"]
    rng = random.Random(20261123)
    killed_mid_apply = 0
    journal = root / "state" / "default.json.journal"
    for round_ in range(20):
        project.write("p.yaml", VARIANTS[round_ % len(VARIANTS)])
        before = journal.stat().st_size if journal.exists() else 0
        proc = forked.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if round_ % 4 == 0:
            # During start-up or planning: a forked run (tests/forked.py) reaches its first
            # write after ~0.15 s and ends by ~0.5 s, where `python -m` took ~0.6 and ~1 s.
            time.sleep(rng.uniform(0.0, 0.6))
        else:  # once the apply is writing, a little later
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline and (
                    not journal.exists() or journal.stat().st_size <= before):
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.1))
        mid_apply = proc.poll() is None and journal.exists() and journal.stat().st_size > before
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_mid_apply += mid_apply
        backend.read()  # readable after every kill (raises if not)
    assert killed_mid_apply >= 5, "the kills should land while changes are being applied"
    project.write("p.yaml", VARIANTS[2])
    final = project.apply("--force")
    assert final.code == 0, final.text
    remote = latency_sandbox.outreach_purposes()
    names = [p["attributes"]["name"] for p in remote]
    assert len(names) == len(set(names)), "duplicates"
    assert sorted(names) == sorted(f"P{i}" for i in range(40)), "orphans or missing objects"
    state = backend.read()
    by_id = {str(p["id"]): p for p in remote}
    assert sorted(state.resources) == sorted(f"outreach.call_purpose.p{i}" for i in range(40))
    for address, resource in state.resources.items():
        assert by_id[resource.remote_id or ""]["attributes"]["name"] == "P" + address.rsplit(".p", 1)[1]
        assert by_id[resource.remote_id or ""]["attributes"]["order"] == int(address.rsplit(".p", 1)[1]) + 7
    assert state.pending == {}
    assert project.plan().code == 0
