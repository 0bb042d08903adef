"""What the package registry gets: a valid pyproject, declared imports, a clean sdist and
wheel that `twine check --strict` passes, typing information, absolute README links, and a
conformance kit importable without pytest. Each check is the tool's own, run on a real build."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent


def run(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd)


def test_pyproject_is_valid() -> None:
    checked = run(BIN / "validate-pyproject", REPO / "pyproject.toml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_import_is_declared() -> None:
    checked = run(BIN / "deptry", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_conformance_kit_imports_without_pytest() -> None:
    script = "import sys; sys.modules['pytest'] = None; import reconciler.testing as t; print(t.ProviderConformance)"
    ran = run(sys.executable, "-c", script)
    assert ran.returncode == 0 and "ProviderConformance" in ran.stdout, ran.stderr


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


def test_twine_check_strict(dist: Path) -> None:
    checked = run(BIN / "twine", "check", "--strict", *sorted(dist.iterdir()))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_wheel_is_typed_and_sdist_ships_no_half_test_suite(dist: Path) -> None:
    [wheel] = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "reconciler/py.typed" in archive.namelist()
    [sdist] = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [n.split("/", 1)[1] for n in archive.getnames() if "/" in n]
    assert "reconciler/py.typed" in names and "README.md" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/"))], "tests cannot run from the sdist"


def test_readme_links_work_on_the_registry_page() -> None:
    text = (REPO / "README.md").read_text()
    relative = re.findall(r"\]\((?!https?:|#|mailto:)([^)\s]+)\)", text)
    assert relative == []
    for target in re.findall(r"\]\(https://github\.com/reconciler-dev/reconciler/(?:blob|tree)/main/([^)#\s]+)", text):
        assert (REPO / target).exists(), target
