"""Under injected 429s, 5xx and dropped connections, one apply converges with no duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sandbox.common import Faults
from reconciler.sandbox.server import RunningSandbox, SandboxSettings
from tests.conftest import Project, Sandbox

FAULTS = Faults(rate_429=0.2, rate_500=0.05, rate_503=0.05, rate_drop=0.05, retry_after_s=0.01, seed=11)


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[Project]:
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "d", faults=FAULTS,
                                        superoffice_builtins=False)) as running:
        root = tmp_path / "m"
        root.mkdir()
        project = Project(root, Sandbox(running))
        project.extra_provider_settings = {v: "    max_attempts: 12\n" for v in ("outreach",)}
        project.configure()
        yield project


def test_outreach_apply_converges_under_faults(faulty: Project) -> None:
    faulty.write("p.yaml", "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: Purpose {i}, order: {i}}}\n" for i in range(200)))
    result = faulty.apply()
    assert result.code == 0, result.text
    remote = faulty.sandbox.outreach_purposes()
    names = [p["attributes"]["name"] for p in remote]
    assert len(names) == 200 and len(set(names)) == 200
    state = faulty.state()["resources"]
    assert {r["remote_id"] for r in state.values()} == {str(p["id"]) for p in remote}
    assert faulty.plan().code == 0
