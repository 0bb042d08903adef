"""Two `serve` replicas on one PostgreSQL backend (a real server, tests/pg.py): one
environment's drift never runs on both at once, and when one replica dies the other
takes its environments."""

from __future__ import annotations

import signal
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from reconciler.sandbox.common import Faults
from reconciler.sandbox.server import SandboxSettings
from tests.conftest import Project, state_block
from tests.serving import serving, wait_for

PURPOSES = """\
outreach:
  call_purposes:
    intro: {name: Intro, order: 1}
"""


@pytest.fixture
def sandbox_settings(tmp_path: Path) -> SandboxSettings:
    """Slow vendors: a drift takes long enough for two replicas to collide if they could."""
    return SandboxSettings(data_dir=tmp_path / "sandbox-data", superoffice_builtins=False,
                           faults=Faults(latency_ms=250, seed=5))


def _drifts(log: str) -> int:
    return log.count("[default] drift ")


def test_replicas_never_run_one_environment_at_once_and_survive_a_death(
        project: Project, request: pytest.FixtureRequest) -> None:
    project.configure(("outreach",), state_block("postgres", request))
    project.write("purposes.yaml", PURPOSES)
    assert project.apply().code == 0
    env = project.sandbox.env()
    with serving(project.root, env, "--drift-every", "1s",
                 log_path=project.root.parent / "a.log") as a, \
            serving(project.root, env, "--drift-every", "1s",
                    log_path=project.root.parent / "b.log") as b:
        runs = a.wait_runs(8, timeout=120)
        spans = sorted((datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"]))
                       for r in runs)
        for (_, finished), (started, _) in pairwise(spans):
            assert started >= finished, "two drift runs of one environment overlapped"
        assert _drifts(a.log) + _drifts(b.log) >= 8

        a.process.send_signal(signal.SIGKILL)  # dies mid-schedule: its claims go with its session
        a.process.wait()
        killed_at = max(r["started_at"] for r in b.runs("drift"))
        before = _drifts(b.log)
        wait_for(lambda: _drifts(b.log) >= before + 3, 60, "the survivor to take the environment")
        after = [r for r in b.runs("drift") if r["started_at"] > killed_at]
        assert len(after) >= 3 and all(r["outcome"] == "ok" for r in after)
