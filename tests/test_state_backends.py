"""The same state cases against both backends: local files and a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import StateError
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from reconciler.state.postgres import PostgresBackend
from reconciler.testing import StateBackendConformance
from tests.conftest import Project, Sandbox, state_block


class TestLocalBackend(StateBackendConformance):
    backend = "local"

    def settings(self, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
        return {"backend": "local", "path": str(tmp_path / "state" / "default.json")}


class TestPostgresBackend(StateBackendConformance):
    backend = "postgres"

    def settings(self, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
        return {"backend": "postgres", "url": request.getfixturevalue("postgres_url"),
                "workspace": f"w{abs(hash(request.node.nodeid))}"}


def test_postgres_write_is_compare_and_swap(postgres_url: str) -> None:
    backend = PostgresBackend(postgres_url, "cas")
    first = backend.read()
    StateBackendConformance()._record(backend, first, ["a"], checkpoint=True)
    one, two = backend.read(), backend.read()
    StateBackendConformance()._record(backend, one, ["b"], checkpoint=True)
    with pytest.raises(StateError, match="changed by another writer"):
        backend.write(two)


def test_postgres_bad_url_is_a_clear_error() -> None:
    backend = PostgresBackend("postgresql://user:hunter2secret@127.0.0.1:1/db", "w")
    with pytest.raises(StateError) as caught:
        backend.read()
    assert "cannot connect to the PostgreSQL state at postgresql://user:***@127.0.0.1:1/db" in str(caught.value)
    assert "hunter2secret" not in str(caught.value)


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Sandbox:
    from reconciler.sandbox.common import Faults

    running = RunningSandbox(SandboxSettings(data_dir=tmp_path / "slow", faults=Faults(latency_ms=40),
                                             superoffice_builtins=False)).start()
    yield Sandbox(running)  # type: ignore[misc]
    running.stop()


def test_two_concurrent_applies_are_serialized(backend_kind: str, tmp_path: Path, slow_sandbox: Sandbox,
                                               request: pytest.FixtureRequest) -> None:
    root = tmp_path / "m"
    root.mkdir()
    project = Project(root, slow_sandbox)
    project.configure(state=state_block(backend_kind, request))
    project.write("p.yaml", "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: P{i}, order: {i}}}\n" for i in range(30)))
    env = {**os.environ, **slow_sandbox.env(), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "reconciler", "apply", str(root), "--auto-approve", "--lock-timeout", "60"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    joined = "".join(o for pair in outputs for o in pair)
    assert joined.count("30 created") == 1 and "No changes." in joined
    names = sorted(p["attributes"]["name"] for p in slow_sandbox.outreach_purposes())
    assert names == sorted(f"P{i}" for i in range(30))
    assert project.plan().code == 0
