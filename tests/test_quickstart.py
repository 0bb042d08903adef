"""The quick start as a new user runs it, and one apply touching all three vendors at once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from reconciler.sandbox.common import Faults
from tests.conftest import REPO, Sandbox, run_cli


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A copy laid out like the repository, so its `../../state` lands in tmp_path/state."""
    target = tmp_path / "examples" / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", target)
    return target


def test_plan_apply_plan_with_bundled_sandboxes(quickstart: Path, tmp_path: Path) -> None:
    first = run_cli("plan", str(quickstart), "--sandbox", "--detailed-exitcode")
    assert first.code == 2, first.text
    for address in ("outreach.call_purpose.initial_contact", "webex_campaign.purpose.marketing",
                    "superoffice.consent_purpose.emarketing"):
        assert address in first.out
    applied = run_cli("apply", str(quickstart), "--sandbox", "--auto-approve")
    assert applied.code == 0, applied.text
    assert "Apply complete!" in applied.out
    assert {p.name for p in (tmp_path / "state" / "sandbox").iterdir()} >= {
        "outreach.json", "webex_campaign.json", "superoffice.json"}
    again = run_cli("plan", str(quickstart), "--sandbox", "--detailed-exitcode")
    assert again.code == 0, again.text
    assert "No changes." in again.out


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "d", faults=Faults(latency_ms=30))) as running:
        yield Sandbox(running)


def test_one_apply_touches_all_vendors_in_parallel(quickstart: Path, slow_sandbox: Sandbox) -> None:
    result = run_cli("apply", str(quickstart), "--auto-approve", env=slow_sandbox.env())
    assert result.code == 0, result.text
    writes = {k.split()[0] for k, v in slow_sandbox.requests().items() if k.split()[1] in ("POST", "PUT", "PATCH")}
    assert writes == {"outreach", "webex_campaign", "superoffice"}
    concurrency = httpx.get(slow_sandbox.url + "/_sandbox/concurrency").json()
    assert concurrency["most_vendors_at_once"] >= 2
