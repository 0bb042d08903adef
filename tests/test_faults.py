"""Under injected 429s, 5xx and dropped connections, one apply converges with no duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from reconciler.sandbox.common import Faults
from tests.conftest import Project, Sandbox, _get_through_faults

FAULTS = Faults(rate_429=0.2, rate_500=0.05, rate_503=0.05, rate_drop=0.05, retry_after_s=0.01, seed=11)
VENDORS = ("outreach", "webex_campaign", "superoffice")


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[Project]:
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "d", faults=FAULTS,
                                        superoffice_builtins=False)) as running:
        root = tmp_path / "m"
        root.mkdir()
        project = Project(root, Sandbox(running))
        project.extra_provider_settings = {v: "    max_attempts: 14\n" for v in VENDORS}
        project.configure(vendors=VENDORS)
        yield project


def manifests(count: int) -> str:
    per = count // 3
    return (
        "outreach:\n  call_purposes:\n"
        + "".join(f"    o{i}: {{name: Outreach {i}, order: {i}}}\n" for i in range(per))
        + "webex_campaign:\n  purposes:\n"
        + "".join(f"    w{i}: {{name: Webex_{i}, description: purpose {i}}}\n" for i in range(per))
        + "superoffice:\n  consent_purposes:\n"
        + "".join(f"    s{i}: {{name: Consent {i}, key: '#K{i}', rank: {i}}}\n"
                  for i in range(count - 2 * per)))


def remote_names(sandbox: Sandbox) -> dict[str, list[str]]:
    env = sandbox.env()
    webex = _get_through_faults(env["WEBEX_CAMPAIGN_BASE_URL"] + "/purposes",
                                {"Authorization": f"Bearer {env['WEBEX_CAMPAIGN_TOKEN']}"})
    superoffice: list[dict[str, Any]] = _get_through_faults(
        env["SUPEROFFICE_BASE_URL"] + "/List/ConsentPurpose/Items",
        {"Authorization": f"Bearer {env['SUPEROFFICE_TOKEN']}", "Accept": "application/json"})
    return {"outreach": [p["attributes"]["name"] for p in sandbox.outreach_purposes()],
            "webex_campaign": [p["name"] for p in webex],
            "superoffice": [p["Name"] for p in superoffice if not p["Deleted"]]}


def test_apply_of_200_purposes_across_vendors_converges_under_faults(faulty: Project) -> None:
    faulty.write("p.yaml", manifests(200))
    result = faulty.apply()
    assert result.code == 0, result.text
    names = remote_names(faulty.sandbox)
    for vendor, count in (("outreach", 66), ("webex_campaign", 66), ("superoffice", 68)):
        assert len(names[vendor]) == count, vendor
        assert len(set(names[vendor])) == count, f"duplicates at {vendor}"
    state = faulty.state()["resources"]
    assert len(state) == 200 and faulty.state()["pending"] == {}
    assert faulty.plan().code == 0
