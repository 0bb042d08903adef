"""Team safety (issue 12), continued: adoption by exact natural key, manifests that never
silently vanish, files never half-written, and plan accounting that says what happens."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from reconciler.providers.sandboxes import SandboxSettings, free_port
from reconciler.sandbox.common import DroppedConnection
from tests import forked
from tests.conftest import REPO, CliResult, Project, Sandbox
from tests.test_team_safety import names, numbered, patch, post, purposes, state_ids


class UntrustedVendor:
    """The sandbox behind a loopback proxy that behaves as real networks and vendors do:
    `mode="drop"` loses the answer to the first POST after the sandbox made the object;
    `mode="twice"` sends the first POST twice (a retry after a lost answer), so that the
    vendor answers 409; and `filter[name]` is read as Outreach reads it, `,` separating a
    list of names, so a search may return a near miss."""

    def __init__(self, upstream: str, mode: str) -> None:
        self.upstream, self.mode, self.posts = upstream, mode, 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="critical",
                                lifespan="off", interface="asgi3")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        params = httpx.QueryParams(scope["query_string"].decode())
        wanted = params.get("filter[name]")
        if wanted and "," in wanted:
            params = params.remove("filter[name]")
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in (
            b"authorization", b"content-type", b"accept")}
        async with httpx.AsyncClient() as client:
            async def forward() -> httpx.Response:
                return await client.request(scope["method"], self.upstream + scope["path"],
                                            params=params, content=body, headers=headers)
            answer = await forward()
            first_post = scope["method"] == "POST" and self.posts == 0
            self.posts += scope["method"] == "POST"
            if first_post and self.mode == "twice":
                answer = await forward()
        content = answer.content
        if wanted and "," in wanted:
            data = answer.json()
            data["data"] = [d for d in data["data"] if d["attributes"]["name"] in wanted.split(",")]
            content = json.dumps(data).encode()
        start = {"type": "http.response.start", "status": answer.status_code, "headers": [
            (b"content-type", answer.headers.get("content-type", "application/json").encode()),
            (b"content-length", str(100_000 if first_post and self.mode == "drop" else len(content)).encode())]}
        await send(start)
        if first_post and self.mode == "drop":
            raise DroppedConnection("the answer to the create is lost")
        await send({"type": "http.response.body", "body": content})

    def base(self, sandbox: Sandbox, vendor: str) -> str:
        """The vendor's base URL, through this proxy."""
        return str(sandbox.overrides[vendor]["base_url"]).replace(sandbox.url, self.url)

    def __enter__(self) -> UntrustedVendor:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


# -- adoption takes only an exact natural-key match -----------------------------------------

def test_adoption_after_an_ambiguous_create_takes_only_an_exact_match(
        project: Project, sandbox: Sandbox) -> None:
    unrelated = post(sandbox, "Sales")
    project.write("p.yaml", purposes(sales_emea="Sales,EMEA"))
    with UntrustedVendor(sandbox.url, "drop") as vendor:
        env = {"OUTREACH_BASE_URL": vendor.base(sandbox, "outreach")}
        applied = project.apply(env=env)
        assert project.plan(env=env).code == 0  # the state is bound to the address it used
    assert applied.code == 0, applied.text
    assert names(sandbox) == ["Sales", "Sales,EMEA"], "a near miss was adopted and renamed"
    assert state_ids(project)["outreach.call_purpose.sales_emea"] != unrelated
    assert "0 created" in applied.out and "1 adopted" in applied.out


WEBEX = """\
webex_campaign:
  purposes:
    marketing:
      name: Marketing_Purpose
      description: Marketing purpose
"""


def test_create_answered_409_is_reported_as_adopted(project: Project, sandbox: Sandbox) -> None:
    project.configure(vendors=("webex_campaign",))
    project.write("p.yaml", WEBEX)
    with UntrustedVendor(sandbox.url, "twice") as vendor:
        env = {"WEBEX_CAMPAIGN_BASE_URL": vendor.base(sandbox, "webex_campaign")}
        applied = project.apply(env=env)
        assert project.plan(env=env).code == 0  # the state is bound to the address it used
    assert applied.code == 0, applied.text
    assert "0 created" in applied.out and "1 adopted" in applied.out


# -- manifests never silently vanish ---------------------------------------------------------

def test_manifests_never_silently_vanish(project: Project, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # one repository: links are followed inside it (issue 21)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "a.yaml").write_text(purposes(a="Alpha"))
    (project.root / "purposes").symlink_to(shared, target_is_directory=True)
    (project.root / ".pre-commit-config.yaml").write_text("repos:\n  - repo: local\n")
    (project.root / ".github").mkdir()
    (project.root / ".github" / "ci.yml").write_text("on: [push]\n")
    valid = project.cli("validate", str(project.root))
    assert valid.code == 0 and "Valid: 1 object(s) in 1 file(s)" in valid.out, valid.text

    (shared / "loop").symlink_to(shared, target_is_directory=True)
    looped = project.cli("validate", str(project.root))
    assert looped.code == 1 and "symlink loop" in looped.err, looped.text
    (shared / "loop").unlink()

    project.configure(state="state:\n  backend: local\n  path: purposes/state.json\n")
    hidden = project.cli("validate", str(project.root))
    assert hidden.code == 1 and "holds manifests" in hidden.err, hidden.text
    project.configure(state="state:\n  backend: local\n  path: state.json\n")
    at_root = project.cli("validate", str(project.root))
    assert at_root.code == 1 and "manifest directory itself" in at_root.err, at_root.text
    project.configure()

    os.mkfifo(project.root / "pipe.yaml")
    fifo = project.cli("validate", str(project.root))
    assert fifo.code == 1 and "pipe.yaml: not a regular file (a FIFO)" in fifo.err, fifo.text
    (project.root / "pipe.yaml").unlink()
    (project.root / "broken.yaml").symlink_to(tmp_path / "nowhere.yaml")
    broken = project.cli("validate", str(project.root))
    assert broken.code == 1 and "broken.yaml: cannot read it" in broken.err, broken.text


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_manifest_is_a_clear_error(project: Project) -> None:
    path = project.write("p.yaml", purposes(a="Alpha"))
    path.chmod(0)
    result = project.cli("validate", str(project.root))
    assert result.code == 1 and "p.yaml: not readable" in result.err, result.text


# -- files are written whole or not at all ---------------------------------------------------

def run_limited(project: Project, limit: int, *args: str) -> CliResult:
    """The CLI with files limited to `limit` bytes: a full disk, as the writer sees it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "WEBEX_"))}
    proc = forked.run([sys.executable, "-m", "reconciler", *args], capture_output=True,
                      text=True, cwd=REPO, timeout=120,  # EFBIG, not a kill: Python ignores SIGXFSZ
                      rlimits={resource.RLIMIT_FSIZE: (limit, limit)},
                      env={**env, **project.sandbox.env(), "NO_COLOR": "1"})
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_write_back_under_a_full_disk_keeps_the_manifest(project: Project, sandbox: Sandbox) -> None:
    path = project.write("p.yaml", numbered(100))
    assert project.apply().code == 0
    patch(sandbox, state_ids(project)["outreach.call_purpose.p99"], order=1000)
    before = path.read_bytes()
    result = run_limited(project, 2000, "drift", str(project.root), "--write-back")
    assert path.read_bytes() == before, "the manifest was half-written"
    assert result.code == 1 and "p.yaml" in result.err and "unchanged" in result.err, result.text
    after = project.plan()  # the drift only: nothing would be deleted
    assert after.code == 2 and "1 to change, 0 to destroy" in after.out, after.text
    path.chmod(0o640)
    written = project.cli("drift", str(project.root), "--write-back")
    assert written.code == 0, written.text
    assert "order: 1000" in path.read_text() and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_plan_file_is_private_and_atomic_and_state_keeps_its_mode(
        project: Project, tmp_path: Path) -> None:
    project.write("p.yaml", purposes(a="Alpha"))
    plan_file = tmp_path / "p.plan"
    assert project.cli("plan", str(project.root), "--out", str(plan_file)).code == 0
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    before = plan_file.read_bytes()
    project.write("p.yaml", numbered(200))
    limited = run_limited(project, len(before) + 100, "plan", str(project.root), "--out", str(plan_file))
    assert limited.code == 1 and "cannot write the plan file" in limited.err, limited.text
    assert plan_file.read_bytes() == before, "the plan file was half-written"

    assert project.apply().code == 0
    state = project.root / "state" / "default.json"
    state.chmod(0o640)  # the team's group may read it
    project.write("p.yaml", numbered(201))
    assert project.apply().code == 0
    assert stat.S_IMODE(state.stat().st_mode) == 0o640


def test_dump_under_a_full_disk_keeps_the_old_file(project: Project, sandbox: Sandbox, tmp_path: Path) -> None:
    project.write("p.yaml", numbered(3))
    assert project.apply().code == 0
    dump = tmp_path / "dump.yaml"
    assert project.cli("dump", str(project.root), "--vendor", "outreach", "--out", str(dump)).code == 0
    dump.chmod(0o640)
    before = dump.read_bytes()
    for i in range(60):
        post(sandbox, f"Extra {i}")  # the next dump is larger than the disk allows
    limited = run_limited(project, len(before) + 50, "dump", str(project.root), "--vendor", "outreach",
                          "--out", str(dump))
    assert dump.read_bytes() == before, "the dump was half-written"
    assert limited.code == 1 and "cannot write the dump" in limited.err, limited.text
    assert project.cli("dump", str(project.root), "--vendor", "outreach", "--out", str(dump)).code == 0
    assert b"Extra 59" in dump.read_bytes() and stat.S_IMODE(dump.stat().st_mode) == 0o640


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None, "the apply finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_torn_journal_line_loses_no_later_entry(
        project: Project, sandbox: Sandbox, sandbox_settings: SandboxSettings) -> None:
    project.extra_provider_settings["outreach"] = "    concurrency: 1\n"
    project.configure()
    project.write("p.yaml", numbered(40))
    sandbox_settings.faults.latency_ms = 40
    journal = project.root / "state" / "default.json.journal"
    command = [sys.executable, "-m", "reconciler", "apply", str(project.root), "--auto-approve"]
    env = {**os.environ, **sandbox.env()}

    def lines() -> int:
        return journal.read_bytes().count(b"\n") if journal.exists() else 0

    _kill_when(forked.Popen(command, env=env, stderr=subprocess.DEVNULL), lambda: lines() >= 11)
    with journal.open("a") as handle:  # a crash in the middle of an append
        handle.write('{"op":"put","address":"outreach.call_purpose.p3","resource":{"ven')
    torn = lines()
    _kill_when(forked.Popen(command, env=env, stderr=subprocess.DEVNULL), lambda: lines() >= torn + 12)
    recorded = state_ids(project)
    remote = {str(p["id"]) for p in sandbox.outreach_purposes()}
    assert set(recorded.values()) <= remote
    assert len(remote - set(recorded.values())) <= 1, "entries after the torn line were lost"
    sandbox_settings.faults.latency_ms = 0
    assert project.apply().code == 0
    assert names(sandbox) == sorted(f"P{i}" for i in range(40))


# -- plan accounting says what will happen ---------------------------------------------------

def test_plan_accounting_is_honest(project: Project, sandbox: Sandbox) -> None:
    project.write("p.yaml", numbered(10) + "    keep: {name: Keep, prevent_destroy: true}\n")
    assert project.apply().code == 0
    protected = "".join(f"    p{i}: {{name: P{i}, order: {i}, prevent_destroy: true}}\n" for i in range(6))
    rest = "".join(f"    p{i}: {{name: P{i}, order: {i}}}\n" for i in range(6, 10))
    keep = "    keep: {name: Keep, prevent_destroy: true}\n"
    project.write("p.yaml", "outreach:\n  call_purposes:\n" + protected + rest + keep)
    planned = project.plan()  # 6 lifecycle-only edits of 11 managed: no vendor call, no threshold
    assert planned.code == 2, planned.text
    assert "0 to change" in planned.out and "6 state-only" in planned.out
    assert "threshold" not in planned.out
    writes = sandbox.writes()
    applied = project.apply()
    assert applied.code == 0, applied.text
    assert sandbox.writes() == writes
    project.write("p.yaml", "outreach:\n  call_purposes:\n" + protected + rest)
    removal = project.plan()  # the protected one removed: refused, not counted as a delete
    assert "0 to destroy" in removal.out and "1 refused" in removal.out, removal.text
    refused = project.apply()
    assert refused.code == 3 and "prevent_destroy" in refused.err, refused.text
    assert sandbox.writes() == writes and "Keep" in names(sandbox)


def test_deactivation_is_reported_as_such(project: Project, sandbox: Sandbox) -> None:
    project.configure(vendors=("superoffice",))
    project.write("p.yaml", "superoffice:\n  consent_purposes:\n    news: {name: News, key: '#News'}\n")
    assert project.apply().code == 0
    project.write("p.yaml", "superoffice: {}\n")
    planned = project.plan()
    assert "1 to destroy" in planned.out and "1 of the destroys deactivate" in planned.out, planned.text
    applied = project.apply()
    assert applied.code == 0 and "0 deleted" in applied.out and "1 deactivated" in applied.out, applied.text
