"""A vendor that is not part of reconciler (tests/plugins/reconciler_widgets), installed
through the entry point, passes the conformance kit and works end to end through the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.testing import ProviderConformance
from tests.conftest import run_cli
from tests.plugin_install import install, installed


@pytest.fixture(autouse=True)
def widgets_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with installed(tmp_path_factory.mktemp("site")):
        yield


class TestWidgets(ProviderConformance):
    vendor = "widgets"


def test_plan_apply_plan_through_the_cli(tmp_path: Path) -> None:
    site = install(tmp_path / "site")
    root = tmp_path / "m"
    (root / "purposes").mkdir(parents=True)
    (root / "reconciler.yaml").write_text(
        "state:\n  backend: local\n  path: state/default.json\n"
        "providers:\n  widgets:\n    base_url: ${WIDGETS_BASE_URL}\n    token: ${WIDGETS_TOKEN}\n")
    (root / "purposes" / "w.yaml").write_text(
        "widgets:\n  widgets:\n    blue:\n      name: Blue\n      colour: blue\n"
        "    red:\n      name: Red\n      colour: red\n      size: 2\n")
    env = {"PYTHONPATH": site}
    first = run_cli("plan", str(root), "--sandbox", "--detailed-exitcode", env=env)
    assert first.code == 2, first.text
    assert "+ widgets.widget.blue" in first.out and "+ widgets.widget.red" in first.out
    applied = run_cli("apply", str(root), "--sandbox", "--auto-approve", env=env)
    assert applied.code == 0, applied.text
    again = run_cli("plan", str(root), "--sandbox", "--detailed-exitcode", env=env)
    assert again.code == 0, again.text
    missing = run_cli("validate", str(root), process=True)  # this process has it installed
    assert missing.code == 1 and "widgets" in missing.text, "without the install, the vendor is unknown"
