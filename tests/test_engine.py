"""The engine API in-process: two workspaces side by side in one process share nothing.

Each workspace runs against its own sandbox over loopback HTTP with its own state; the
plans are made concurrently in one event loop, as a fleet or the service makes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.engine import Scope, Workspace
from reconciler.errors import ConfigError
from reconciler.plan.model import Action, Reason
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings, environment
from tests.conftest import PROVIDERS

CONFIG = "state:\n  backend: local\n  path: state/default.json\nproviders:\n" + PROVIDERS["webex_campaign"]


def purposes(group: str) -> str:
    return ("webex_campaign:\n  purposes:\n    news:\n      name: News\n"
            f"      group: {group}\n      description: the newsletter\n")


class Tenant:
    """One manifest directory and the sandbox it runs against."""

    def __init__(self, root: Path, running: RunningSandbox, group: str) -> None:
        self.root = root
        self.running = running
        self.env = environment(running.url)
        root.mkdir()
        (root / "reconciler.yaml").write_text(CONFIG)
        (root / "purposes.yaml").write_text(purposes(group))

    def workspace(self) -> Workspace:
        return Workspace.open(self.root, env=self.env)

    def set_group_behind_our_back(self, group: str) -> None:
        o = self.running.overrides["webex_campaign"]
        headers = {"Authorization": f"Bearer {o['token']}"}
        listed = httpx.get(o["base_url"] + "/purposes", headers=headers).json()
        (news,) = [p for p in listed if p["name"] == "News"]
        body = {"name": "News", "group": group, "description": "the newsletter"}
        answer = httpx.put(f"{o['base_url']}/purposes/{news['id']}", json=body, headers=headers)
        assert answer.status_code < 300, answer.text


@pytest.fixture
def tenants(tmp_path: Path) -> Iterator[tuple[Tenant, Tenant]]:
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "a-data")) as a, \
            RunningSandbox(SandboxSettings(data_dir=tmp_path / "b-data")) as b:
        yield Tenant(tmp_path / "a", a, "Sales"), Tenant(tmp_path / "b", b, "SALES")


def test_two_workspaces_plan_concurrently_without_sharing(tenants: tuple[Tenant, Tenant]) -> None:
    """Each manifest set spells the group its own way; the vendor stores it in a third
    case (groups ignore case). Planned side by side in one loop, each plan reads the
    vendor's value the way its own manifests spell it: no change in either. A table of
    spellings shared by the process (as before) made one of them plan a phantom update."""
    a, b = tenants
    for tenant in tenants:
        applied = asyncio.run(tenant.workspace().apply())
        assert applied.result is not None and applied.result.ok
        tenant.set_group_behind_our_back("sales")
    first, second = a.workspace(), b.workspace()
    first.desired(), second.desired()  # both manifest sets loaded before either plans

    async def both() -> tuple[object, ...]:
        return tuple(await asyncio.gather(first.plan(), second.plan()))

    plan_a, plan_b = asyncio.run(both())
    assert plan_a.changes == () and plan_b.changes == (), (plan_a.changes, plan_b.changes)  # type: ignore[attr-defined]
    assert plan_a.lineage != plan_b.lineage  # type: ignore[attr-defined]
    assert plan_a.target["endpoints"] != plan_b.target["endpoints"]  # type: ignore[attr-defined]


def test_plan_is_frozen_and_typed(tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    plan = asyncio.run(a.workspace().plan())
    (change,) = plan.changes
    assert change.action is Action.CREATE and change.why is Reason.CREATE_NO_REMOTE_OBJECT
    with pytest.raises(AttributeError):
        plan.changes = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        change.reason = "edited"  # type: ignore[misc]


def test_scope_is_an_input_of_building(tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    ws = a.workspace()
    scoped = asyncio.run(ws.plan(Scope.of(excludes=["webex_campaign.purpose.*"])))
    assert scoped.changes == () and scoped.skipped == 1
    assert scoped.scope["excludes"] == ("webex_campaign.purpose.*",)
    with pytest.raises(ConfigError, match="matches no address"):
        asyncio.run(ws.plan(Scope.of(targets=["outreach.*"])))


def test_a_saved_plan_rechecked_by_the_engine(tenants: tuple[Tenant, Tenant]) -> None:
    """apply(saved=...) re-plans before writing; a plan of tenant A is refused by B."""
    a, b = tenants
    saved = asyncio.run(a.workspace().plan())
    with pytest.raises(Exception, match="another target"):
        asyncio.run(b.workspace().apply(saved=saved))
    applied = asyncio.run(a.workspace().apply(saved=saved))
    assert applied.result is not None and applied.result.ok
    assert asyncio.run(a.workspace().plan()).changes == ()


def test_vendor_options_are_offered_by_the_cli_generically(tmp_path: Path) -> None:
    """`--outreach-rate-limit` is declared by the Outreach vendor (Vendor.cli_options), not by
    cli/sandbox.py: the sandbox it starts enforces the given limit."""
    import subprocess
    import sys
    import time

    from reconciler.providers.sandboxes import free_port, provider_overrides
    from tests.conftest import REPO

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "reconciler", "sandbox", "--port", str(port),
                               "--outreach-rate-limit", "2"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        outreach = provider_overrides(f"http://127.0.0.1:{port}")["outreach"]
        headers = {"Authorization": f"Bearer {outreach['token']}"}
        deadline = time.monotonic() + 30
        while True:
            try:
                first = httpx.get(outreach["base_url"] + "/callPurposes", headers=headers)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "sandbox did not start"
                time.sleep(0.1)
        statuses = [first.status_code] + [
            httpx.get(outreach["base_url"] + "/callPurposes", headers=headers).status_code
            for _ in range(2)]
        assert statuses == [200, 200, 429], statuses
    finally:
        server.terminate()
        server.wait(timeout=10)
