"""The fleet CI examples (examples/ci/*-fleet*.yml) and the Action's `environments`: both
ways of running a fleet (one job for all, one job per environment through a matrix) are
checked as the other CI examples are: every reconciler command they run exists with its
flags, actionlint and zizmor find nothing, check-jsonschema accepts them against the
GitHub and GitLab schemas, and the matrices `reconciler envs` prints are what they read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import run_cli
from tests.test_ci_examples import (
    ACTION,
    CI,
    all_commands,
    github_scripts,
    gitlab_scripts,
    load,
    problems,
    run_actionlint,
    run_zizmor,
    tool,
)

GITHUB_FLEET = CI / "github-actions-fleet.yml"
GITLAB_FLEET = CI / "gitlab-ci-fleet.yml"
GITLAB_CHILD = CI / "gitlab-fleet-child.yml"


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    binary = tool("check-jsonschema")
    if not binary:
        pytest.skip("check-jsonschema not found: pip install check-jsonschema (in the dev extra)")
    return subprocess.run([binary, "--builtin-schema", schema, *map(str, paths)],
                          capture_output=True, text=True, timeout=300)


def test_every_command_of_the_fleet_examples_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.test_ci_examples as examples

    # envs' own formats, still checked against its --help
    monkeypatch.setattr(examples, "FORMATS", examples.FORMATS | {"github-matrix", "gitlab-matrix"})
    scripts = {**github_scripts(load(GITHUB_FLEET)), **gitlab_scripts(load(GITLAB_FLEET)),
               **{f"child-{k}": v for k, v in gitlab_scripts(load(GITLAB_CHILD)).items()}}
    commands = [c for cs in all_commands(scripts).values() for c in cs]
    assert {c[0] for c in commands} >= {"validate", "plan", "apply", "drift", "envs"}
    assert [p for c in commands for p in problems(c)] == []
    fleet_plans = [c for c in commands if c[0] == "plan"]
    assert fleet_plans and all("--env" in c for c in fleet_plans)


def test_the_fleet_workflows_pass_the_linters_and_the_schemas() -> None:
    assert run_actionlint(GITHUB_FLEET) == []
    assert run_zizmor(GITHUB_FLEET, ACTION) == []
    for schema, paths in (("vendor.github-workflows", [GITHUB_FLEET]),
                          ("vendor.github-actions", [ACTION]),
                          ("vendor.gitlab-ci", [GITLAB_FLEET, GITLAB_CHILD])):
        checked = check_jsonschema(schema, *paths)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_matrices_feed_the_jobs_that_read_them(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    (root / "environments").mkdir(parents=True)
    (root / "reconciler.yaml").write_text(
        "providers:\n  outreach:\n    base_url: https://api.outreach.io/api/v2\n"
        "    token: ${OUTREACH_TOKEN}\nenvironments_dir: environments\n"
        "environments:\n  dev: {}\n")
    for name in ("eu-prod", "us-prod"):
        (root / "environments" / f"{name}.yaml").write_text("variables: {}\n")
    github = run_cli("envs", str(root), "--format", "github-matrix")
    matrix = json.loads(github.out)
    assert matrix == {"environment": ["dev", "eu-prod", "us-prod"]}
    drift = load(GITHUB_FLEET)["jobs"]["drift"]
    assert drift["strategy"]["matrix"] == "${{ fromJSON(needs.environments.outputs.matrix) }}"
    assert drift["env"]["RECONCILER_ENV"] == "${{ matrix.environment }}"
    gitlab = run_cli("envs", str(root), "--format", "gitlab-matrix")
    generated = tmp_path / "environments.yml"
    generated.write_text(gitlab.out)
    child = YAML(typ="safe").load(gitlab.out)
    assert child[".reconciler-environments"]["parallel"]["matrix"] == [
        {"RECONCILER_ENV": ["dev", "eu-prod", "us-prod"]}]
    assert load(GITLAB_CHILD)["reconciler-drift"]["extends"] == ".reconciler-environments"
    merged = tmp_path / "child.yml"
    merged.write_text(gitlab.out + "\n" + GITLAB_CHILD.read_text())
    checked = check_jsonschema("vendor.gitlab-ci", generated, merged)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_action_takes_environments() -> None:
    doc = load(ACTION)
    assert "environments" in doc["inputs"]
    run = next(s for s in doc["runs"]["steps"] if s.get("id") == "run")
    assert run["env"]["RECONCILER_ENV"] == "${{ inputs.environments }}"
    assert shutil.which(sys.executable)


def test_the_component_takes_environments() -> None:
    from tests.test_ci_examples import component, component_jobs

    spec, _ = component()
    assert spec["spec"]["inputs"]["environments"]["default"] == ""
    jobs = component_jobs(environments="eu-*")
    for name in ("reconciler-plan", "reconciler-apply", "reconciler-drift"):
        assert jobs[name]["variables"]["RECONCILER_ENVIRONMENTS"] == "eu-*"
        assert 'export RECONCILER_ENV="${RECONCILER_ENV:-$RECONCILER_ENVIRONMENTS}"' in jobs[name]["before_script"]
