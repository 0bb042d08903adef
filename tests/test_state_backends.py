"""The same state cases against both backends: local files and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.errors import LockError, StateError
from reconciler.sandbox.server import RunningSandbox, SandboxSettings
from reconciler.state import Resource, StateDoc
from reconciler.state.base import StateBackend
from reconciler.state.local import LocalBackend
from reconciler.state.postgres import PostgresBackend
from tests.conftest import Project, Sandbox, state_block


@pytest.fixture
def backend(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> StateBackend:
    if backend_kind == "local":
        return LocalBackend(tmp_path / "state" / "default.json")
    return PostgresBackend(request.getfixturevalue("postgres_url"), f"w{abs(hash(request.node.nodeid))}")


def _resource(remote_id: str) -> Resource:
    return Resource(vendor="outreach", kind="call_purpose", remote_id=remote_id, attributes={"name": remote_id})


async def _record(backend: StateBackend, doc: StateDoc, addresses: list[str], checkpoint: bool) -> None:
    writer = backend.writer(doc)
    await asyncio.gather(*(writer.put(a, _resource(a)) for a in addresses))
    if checkpoint:
        writer.checkpoint()


def test_journal_entries_survive_without_checkpoint(backend: StateBackend) -> None:
    doc = backend.read()
    assert doc.serial == 0 and doc.lineage == ""
    asyncio.run(_record(backend, doc, ["a", "b", "c"], checkpoint=False))
    recovered = backend.read()  # as after a crash: nothing folded in yet
    assert sorted(recovered.resources) == ["a", "b", "c"]
    assert recovered.serial == 3 and recovered.lineage == doc.lineage
    asyncio.run(_record(backend, recovered, ["d"], checkpoint=True))
    final = backend.read()
    assert sorted(final.resources) == ["a", "b", "c", "d"] and final.serial == 4
    assert final.lineage == doc.lineage


def test_whole_document_write_bumps_serial(backend: StateBackend) -> None:
    doc = backend.read()
    asyncio.run(_record(backend, doc, ["a"], checkpoint=True))
    doc = backend.read()
    del doc.resources["a"]
    backend.write(doc)
    again = backend.read()
    assert again.resources == {} and again.serial == 2


def test_lock_names_its_holder_and_force_unlock(backend: StateBackend) -> None:
    with backend.lock("apply", 0) as info:
        with pytest.raises(LockError) as caught, backend.lock("apply", 0.3):
            pass
        message = str(caught.value)
        assert info.id in message and f"pid {os.getpid()}" in message and "'" in message
        holder = backend.lock_holder()
        assert holder is not None and holder.id == info.id
        with pytest.raises(LockError, match="no lock nope to remove"):
            backend.force_unlock("nope")
    assert backend.lock_holder() is None


HOLDER = """
import sys, time
from pathlib import Path
from reconciler.state.local import LocalBackend
from reconciler.state.postgres import PostgresBackend
kind, where, workspace = sys.argv[1], sys.argv[2], sys.argv[3]
backend = LocalBackend(Path(where)) if kind == "local" else PostgresBackend(where, workspace)
with backend.lock("holder", 0) as info:
    print(info.id, flush=True)
    time.sleep(float(sys.argv[4]))
"""


def _holder(backend: StateBackend, seconds: float) -> tuple[subprocess.Popen[str], str]:
    if isinstance(backend, LocalBackend):
        args = ["local", str(backend.path), "-"]
    else:
        assert isinstance(backend, PostgresBackend)
        args = ["postgres", backend.url, backend.workspace]
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, *args, str(seconds)], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).parent.parent)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_second_writer_waits_for_the_lock(backend: StateBackend) -> None:
    proc, lock_id = _holder(backend, 1.0)
    try:
        start = time.monotonic()
        with backend.lock("apply", 20) as info:
            assert info.id != lock_id
        assert time.monotonic() - start > 0.3
    finally:
        proc.wait(10)


def test_lock_of_a_killed_process_is_stale_and_taken_over(backend: StateBackend) -> None:
    proc, lock_id = _holder(backend, 60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    stale = backend.stale_holder()
    while stale is None and time.monotonic() < deadline:  # PostgreSQL notices the closed session
        time.sleep(0.1)
        stale = backend.stale_holder()
    assert stale is not None and stale.id == lock_id and stale.pid == proc.pid
    with backend.lock("apply", 5) as info:
        assert backend.lock_holder() == info


def test_force_unlock_from_elsewhere_frees_a_live_holder(backend: StateBackend) -> None:
    proc, lock_id = _holder(backend, 60)
    try:
        with pytest.raises(LockError, match="the holder is alive"):
            backend.force_unlock(lock_id)  # refused while it runs: two writers duplicate
        released = backend.force_unlock(lock_id, force=True, wait_s=0.2)  # stuck: broken after
        assert released.id == lock_id
        with backend.lock("apply", 5):
            pass
    finally:
        proc.kill()
        proc.wait(10)


def test_postgres_write_is_compare_and_swap(postgres_url: str) -> None:
    backend = PostgresBackend(postgres_url, "cas")
    first = backend.read()
    asyncio.run(_record(backend, first, ["a"], checkpoint=True))
    one, two = backend.read(), backend.read()
    asyncio.run(_record(backend, one, ["b"], checkpoint=True))
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
