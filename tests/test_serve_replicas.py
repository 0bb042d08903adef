"""Two `serve` replicas on one PostgreSQL backend (a real server, tests/pg.py) watching
three environments: they split the runs, one environment's drift never runs on both at
once, and when one replica dies the other takes its environments."""

from __future__ import annotations

import json
import re
import signal
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from reconciler.providers.sandboxes import SandboxSettings
from reconciler.sandbox.common import Faults
from tests.conftest import PROVIDERS, Project
from tests.serving import Served, serving, wait_for

ENVIRONMENTS = ("a", "b", "c")


@pytest.fixture
def sandbox_settings(tmp_path: Path) -> SandboxSettings:
    """Slow vendors: a drift takes long enough for two replicas to collide if they could."""
    return SandboxSettings(data_dir=tmp_path / "sandbox-data", superoffice_builtins=False,
                           faults=Faults(latency_ms=250, seed=5))


def _ran(log: str) -> dict[str, int]:
    """Drift runs a replica's log reports, by environment."""
    found = re.findall(r"\[([a-z]+)\] drift (?:ok|drift|failed) in", log)
    return {name: found.count(name) for name in ENVIRONMENTS}


def _drifts(served: Served, environment: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = served.json(
        f"/api/v1/runs?kind=drift&environment={environment}&limit=1000")["runs"]
    return runs


def test_replicas_split_environments_never_overlap_and_survive_a_death(
        project: Project, postgres_url: str) -> None:
    environments = "".join(f"  {n}:\n    variables: {{REGION: {n}}}\n" for n in ENVIRONMENTS)
    (project.root / "reconciler.yaml").write_text(
        f"state:\n  backend: postgres\n  url: {postgres_url}\n  workspace: replicas\n"
        f"providers:\n{PROVIDERS['outreach']}variables: [REGION]\nenvironments:\n{environments}")
    project.write("purposes.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro ${REGION}}\n")
    env = project.sandbox.env()
    with serving(project.root, env, "--drift-every", "0.5s", ready=False,
                 log_path=project.root.parent / "a.log") as a, \
            serving(project.root, env, "--drift-every", "0.5s", ready=False,
                    log_path=project.root.parent / "b.log") as b:
        a.wait_ready()
        b.wait_ready()
        wait_for(lambda: sum(_ran(a.log).values()) >= 3 and sum(_ran(b.log).values()) >= 3,
                 120, "both replicas to run drifts")  # they split the runs
        for name in ENVIRONMENTS:
            wait_for(lambda name=name: len(_drifts(a, name)) >= 4, 120, f"drift runs of {name}")
        for name in ENVIRONMENTS:
            spans = sorted((datetime.fromisoformat(r["started_at"]),
                            datetime.fromisoformat(r["finished_at"])) for r in _drifts(a, name))
            for (_, finished), (started, _) in pairwise(spans):
                assert started >= finished, f"two drift runs of {name} overlapped"

        a.process.send_signal(signal.SIGKILL)  # dies mid-schedule: its claims go with its session
        a.process.wait()
        killed_at = max(r["started_at"] for name in ENVIRONMENTS for r in _drifts(b, name))
        for name in ENVIRONMENTS:  # the survivor takes every environment
            wait_for(lambda name=name: len([r for r in _drifts(b, name) if r["started_at"] > killed_at]) >= 2,
                     90, f"the survivor to run {name}")
            assert all(r["outcome"] != "failed" for r in _drifts(b, name))


def test_a_shared_database_shows_only_the_served_workspaces(project: Project, postgres_url: str) -> None:
    """Two directories keep their states in one database, both with an environment named
    `default`: each service shows (and schedules by) its own runs only."""
    other = project.root.parent / "other"
    other.mkdir()
    for root, workspace in ((project.root, "team-a"), (other, "team-b")):
        (root / "reconciler.yaml").write_text(
            f"state:\n  backend: postgres\n  url: {postgres_url}\n  workspace: {workspace}\n"
            f"providers:\n{PROVIDERS['outreach']}")
        (root / "purposes.yaml").write_text("outreach:\n  call_purposes:\n    intro: {name: Intro}\n")
    assert project.cli("drift", str(other)).code in (0, 2)
    with serving(project.root, project.sandbox.env(), "--drift-every", "2s") as served:
        mine = served.wait_runs(1)
        assert {r["workspace"] for r in mine} == {"team-a"}
        theirs = project.cli("history", str(other), "--format", "json")
        [their_run] = json.loads(theirs.out)["runs"]
        assert their_run["id"] not in {r["id"] for r in served.runs()}
        assert served.get(f"/api/v1/runs/{their_run['id']}").status_code == 404
        [listed] = served.json("/api/v1/environments")["environments"]
        assert listed["latest_run"]["workspace"] == "team-a"
