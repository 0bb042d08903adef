"""Shared fixtures: sandboxes over real loopback HTTP, manifest directories, the CLI (in this
process, or as a subprocess where the process is the point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.authoring.scaffold import provider_block
from reconciler.providers.registry import providers
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings, environment
from tests.inprocess import run_in_process

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            stdin: str | None = None, process: bool = False) -> CliResult:
    """`reconciler *args`, in this process (tests/inprocess.py); `process=True` starts
    `python -m reconciler` for a test whose point is a process (start-up, the entry point,
    an interpreter setting such as PYTHONPATH, which also starts one)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "WEBEX_", "SUPEROFFICE_"))}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "200"})
    full_env.update(env or {})
    if not process and not any(k.startswith("PYTHON") for k in env or {}):
        return CliResult(*run_in_process(args, full_env, cwd or REPO, stdin))
    proc = subprocess.run([sys.executable, "-m", "reconciler", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, input=stdin, timeout=300)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _get_through_faults(url: str, headers: dict[str, str]) -> Any:
    """A test's own read of the sandbox, retried past any faults the test injected."""
    for _ in range(50):
        try:
            response = httpx.get(url, headers=headers)
        except httpx.TransportError:
            continue
        if response.status_code == 200:
            return response.json()
    raise AssertionError(f"GET {url} kept failing")


class Sandbox:
    """A running sandbox plus helpers to look at and change vendor data behind the tool's back."""

    def __init__(self, running: RunningSandbox) -> None:
        self.running = running
        self.url = running.url
        self.overrides = running.overrides

    def env(self) -> dict[str, str]:
        """The environment variables the fixtures' reconciler.yaml reads, pointing at this sandbox."""
        return environment(self.url)

    def outreach(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        o = self.overrides["outreach"]
        return httpx.request(method, o["base_url"] + path, json=body, params=params or None,
                             headers={"Authorization": f"Bearer {o['token']}",
                                      "Content-Type": "application/vnd.api+json"})

    def outreach_purposes(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        url: str | None = self.overrides["outreach"]["base_url"] + "/callPurposes?page[size]=1000"
        headers = {"Authorization": f"Bearer {self.overrides['outreach']['token']}"}
        while url:
            body = _get_through_faults(url, headers)
            found.extend(body["data"])
            url = body["links"].get("next")
        return found

    def requests(self) -> dict[str, int]:
        return httpx.get(self.url + "/_sandbox/requests").json()  # type: ignore[no-any-return]

    def writes(self) -> int:
        return sum(v for k, v in self.requests().items() if k.split()[1] in ("POST", "PUT", "PATCH", "DELETE"))


@pytest.fixture
def sandbox_settings(tmp_path: Path) -> SandboxSettings:
    return SandboxSettings(data_dir=tmp_path / "sandbox-data", superoffice_builtins=False)


@pytest.fixture
def sandbox(sandbox_settings: SandboxSettings) -> Iterator[Sandbox]:
    with RunningSandbox(sandbox_settings) as running:
        yield Sandbox(running)


PROVIDERS = {vendor: provider_block(vendor, provider) for vendor, provider in providers().items()}


class Project:
    """A manifest directory in a temporary folder, run against a sandbox."""

    def __init__(self, root: Path, sandbox: Sandbox) -> None:
        self.root = root
        self.sandbox = sandbox
        self.extra_provider_settings: dict[str, str] = {}

    def configure(self, vendors: tuple[str, ...] = ("outreach",), state: str = "", extra: str = "") -> None:
        providers = "".join(PROVIDERS[v] + self.extra_provider_settings.get(v, "") for v in vendors)
        state = state or "state:\n  backend: local\n  path: state/default.json\n"
        (self.root / "reconciler.yaml").write_text(f"{state}providers:\n{providers}{extra}")

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def cli(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            process: bool = False) -> CliResult:
        return run_cli(*args, env={**self.sandbox.env(), **(env or {})}, stdin=stdin, process=process)

    def plan(self, *args: str, env: dict[str, str] | None = None, process: bool = False) -> CliResult:
        return self.cli("plan", str(self.root), "--detailed-exitcode", *args, env=env, process=process)

    def apply(self, *args: str, env: dict[str, str] | None = None, process: bool = False) -> CliResult:
        return self.cli("apply", str(self.root), "--auto-approve", *args, env=env, process=process)

    def state(self) -> dict[str, Any]:
        return json.loads((self.root / "state" / "default.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture
def project(tmp_path: Path, sandbox: Sandbox) -> Project:
    root = tmp_path / "manifests"
    root.mkdir()
    p = Project(root, sandbox)
    p.configure()
    return p


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    from tests.pg import PostgresServer

    server = PostgresServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["local", "postgres"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def state_block(kind: str, request: pytest.FixtureRequest) -> str:
    """reconciler.yaml `state:` for a backend; postgres gets a workspace of its own per test."""
    if kind == "local":
        return "state:\n  backend: local\n  path: state/default.json\n"
    url = request.getfixturevalue("postgres_url")
    workspace = "t" + str(abs(hash(request.node.nodeid)))
    return f"state:\n  backend: postgres\n  url: {url}\n  workspace: {workspace}\n"
