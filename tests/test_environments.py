"""Environments and fleets, end to end: one manifest set, three tenants, one run.

Each environment has its own sandbox (its own tenant) behind a gate that records every
credential it receives and accepts only that environment's own token; the environments
are declared inline (dev) and in environments_dir (stage, prod). Plan, apply, drift,
saved plans, exit codes, credential and failure isolation are checked through the CLI,
with as few runs as the behaviour allows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from reconciler.engine import Workspace
from reconciler.engine.fleet import Fleet, Status, exit_code, plan_row
from reconciler.errors import ConfigError, ManifestError
from reconciler.manifest.loader import load_desired
from reconciler.manifest.settings import load_settings
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings, _PromptServer
from tests.conftest import CliResult, run_cli

NAMES = ("dev", "stage", "prod")
SCHEMAS = Path(__file__).resolve().parent.parent / "schema"


def validate_fleet_document(document: dict[str, Any]) -> None:
    """Against schema/fleet.schema.json, whose environments are plan.schema.json documents."""
    import jsonschema
    from referencing import Registry, Resource

    schemas = [json.loads((SCHEMAS / f"{n}.schema.json").read_text()) for n in ("fleet", "plan")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    jsonschema.Draft202012Validator(schemas[0], registry=registry).validate(document)
WELL_KNOWN = "sandbox-outreach-token"


class Gate:
    """In front of one tenant: records each Authorization it receives; lets through only the
    environment's own token (as the sandbox's well-known one), so a leaked token fails."""

    def __init__(self, app: Any, own: str) -> None:
        self.app, self.own = app, own
        self.seen: set[str] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = []
            for key, value in scope["headers"]:
                if key == b"authorization":
                    self.seen.add(value.decode())
                    if value.decode() == f"Bearer {self.own}":
                        value = f"Bearer {WELL_KNOWN}".encode()
                headers.append((key, value))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


class Tenant(RunningSandbox):
    """One environment's sandbox, served through its Gate."""

    def __init__(self, data: Path, token: str) -> None:
        super().__init__(SandboxSettings(data_dir=data))
        self.gate = Gate(self.app, token)
        # the sandbox's own server (it stops when asked, not at uvicorn's next tick)
        self.server = _PromptServer(uvicorn.Config(self.gate, host="127.0.0.1", port=self.port,
                                                   log_level="critical", access_log=False,
                                                   lifespan="off"))
        self.token = token

    def purposes(self) -> dict[str, dict[str, Any]]:
        url = self.url + "/outreach/api/v2/callPurposes?page[size]=1000"
        body = httpx.get(url, headers={"Authorization": f"Bearer {self.token}"}).json()
        return {p["attributes"]["name"]: p for p in body["data"]}

    def rename(self, old: str, new: str) -> None:
        purpose = self.purposes()[old]
        answer = httpx.patch(
            f"{self.url}/outreach/api/v2/callPurposes/{purpose['id']}",
            json={"data": {"type": "callPurpose", "id": purpose["id"], "attributes": {"name": new}}},
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/vnd.api+json"})
        assert answer.status_code < 300, answer.text


class Fleetdir:
    """The manifest directory, its three tenants, and the CLI run with their tokens."""

    def __init__(self, root: Path, tenants: dict[str, Tenant]) -> None:
        self.root, self.tenants = root, tenants
        self.env = {f"{n.upper()}_TOKEN": t.token for n, t in tenants.items()}
        dev = tenants["dev"].url
        root.mkdir()
        (root / "reconciler.yaml").write_text(
            "state:\n  backend: local\n  path: state/default.json\n"
            "variables: [REGION]\n"
            "providers:\n  outreach:\n    base_url: ${OUTREACH_BASE_URL}\n    token: ${OUTREACH_TOKEN}\n"
            "environments_dir: environments\n"
            "environments:\n  dev:\n    variables:\n      REGION: dev\n    providers:\n"
            f"      outreach:\n        base_url: {dev}/outreach/api/v2\n"
            "        token: ${DEV_TOKEN}\n")
        (root / "environments").mkdir()
        for name in ("stage", "prod"):
            (root / "environments" / f"{name}.yaml").write_text(
                f"variables:\n  REGION: {name}\nproviders:\n  outreach:\n"
                f"    base_url: {tenants[name].url}/outreach/api/v2\n"
                f"    token: ${{{name.upper()}_TOKEN}}\n")
        (root / "purposes.yaml").write_text(
            "outreach:\n  call_purposes:\n    intro:\n      name: Intro ${REGION}\n"
            "    launch:\n      name: Launch\n      environments: [prod]\n")

    def cli(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        return run_cli(*args, env={**self.env, **(env or {})})


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleetdir]:
    tenants = {name: Tenant(tmp_path / f"{name}-data", f"{name}-secret-token-0{i}")
               for i, name in enumerate(NAMES)}
    for tenant in tenants.values():
        tenant.start()
    try:
        yield Fleetdir(tmp_path / "manifests", tenants)
    finally:
        for tenant in tenants.values():
            tenant.stop()


def test_a_fleet_plans_applies_from_one_saved_file_and_reports_drift(fleet: Fleetdir) -> None:
    root = str(fleet.root)
    refused = fleet.cli("plan", root)
    assert refused.code == 1 and "--env" in refused.err and "dev, prod, stage" in refused.err, refused

    planned = fleet.cli("plan", root, "--env", "*", "--out", str(fleet.root.parent / "fleet.plan"),
                        "--detailed-exitcode")
    assert planned.code == 2, planned
    headings = [line for line in planned.out.splitlines() if line.startswith("=== Environment:")]
    assert len(headings) == 3  # each environment whole, under its own heading
    assert "Fleet: 3 environments, 3 with changes, 0 failed." in planned.out
    summary = planned.out.split("Fleet summary:")[1]
    assert [line.split()[:5] for line in summary.splitlines()[2:5]] == [
        ["dev", "1", "0", "0", "0"], ["prod", "2", "0", "0", "0"], ["stage", "1", "0", "0", "0"]]
    assert fleet.tenants["dev"].purposes() == {}  # plan wrote nothing

    applied = fleet.cli("apply", str(fleet.root.parent / "fleet.plan"))
    assert applied.code == 0, applied
    assert set(fleet.tenants["dev"].purposes()) == {"Intro dev"}
    assert set(fleet.tenants["stage"].purposes()) == {"Intro stage"}
    assert set(fleet.tenants["prod"].purposes()) == {"Intro prod", "Launch"}
    for name in NAMES:  # each its own state, apart by default
        assert (fleet.root / "state" / name / "default.json").is_file()

    fleet.tenants["stage"].rename("Intro stage", "Renamed behind our back")
    drifted = fleet.cli("drift", root, "-e", "*", "--format", "json")
    assert drifted.code == 2, drifted
    document = json.loads(drifted.out)
    assert list(document["environments"]) == ["dev", "prod", "stage"]  # inline, then files
    assert document["environments"]["stage"]["drifted"] == 1
    assert document["environments"]["dev"]["drifted"] == 0
    validate_fleet_document(document)

    # credential isolation: each tenant received its own token, and no other
    for name, tenant in fleet.tenants.items():
        assert tenant.gate.seen == {f"Bearer {tenant.token}"}, (name, tenant.gate.seen)


def test_one_failure_never_stops_the_others_and_sets_the_exit_code(fleet: Fleetdir) -> None:
    root = str(fleet.root)
    result = fleet.cli("plan", root, "--env", "*", "--detailed-exitcode",
                       env={"STAGE_TOKEN": "not-the-stage-token"})
    assert result.code == 1, result
    assert "Fleet: 3 environments, 2 with changes, 1 failed." in result.out
    assert "+ outreach.call_purpose.launch" in result.out  # prod planned all the same
    as_json = fleet.cli("plan", root, "--env", "*", "--format", "json",
                        env={"STAGE_TOKEN": "not-the-stage-token"})
    document = json.loads(as_json.out)
    assert as_json.code == 1 and document["environments"]["stage"]["status"] == "failed"
    assert document["environments"]["prod"]["resource_changes"]
    validate_fleet_document(document)
    stage = result.out.split("=== Environment: stage")[1].split("=== Environment:")[0]
    assert "Error:" in stage and "401" in stage, stage
    assert fleet.tenants["stage"].gate.seen == {"Bearer not-the-stage-token"}

    fail_fast = fleet.cli("plan", root, "--env", "*", "--parallel", "1", "--fail-fast",
                          env={"DEV_TOKEN": "not-the-dev-token"})
    assert fail_fast.code == 1 and "2 not started" in fail_fast.out, fail_fast


def test_saved_plans_stay_bound_per_environment(fleet: Fleetdir) -> None:
    """A fleet plan file is applied with every check of a single saved plan, per
    environment: one whose state moved on since is refused; the others are applied."""
    saved = fleet.root.parent / "fleet.plan"
    planned = fleet.cli("plan", str(fleet.root), "--env", "dev", "--env", "stage", "--out", str(saved))
    assert planned.code == 0, planned
    shown = fleet.cli("show", str(saved), "--format", "json")
    assert shown.code == 0 and list(json.loads(shown.out)["environments"]) == ["dev", "stage"], shown
    validate_fleet_document(json.loads(shown.out))
    first = fleet.cli("apply", str(fleet.root), "--env", "stage", "--auto-approve")
    assert first.code == 0 and "=== Environment" not in first.out, first  # one env: plain output
    applied = fleet.cli("apply", str(saved))
    assert applied.code == 1, applied
    assert "Fleet: 2 environments, 1 with changes, 1 failed." in applied.out
    stage = applied.out.split("=== Environment: stage")[1].split("=== Environment:")[0]
    assert "Error:" in stage and "a state was written since" in stage, stage
    assert set(fleet.tenants["dev"].purposes()) == {"Intro dev"}
    assert set(fleet.tenants["stage"].purposes()) == {"Intro stage"}  # once, not twice
    single = fleet.root.parent / "prod.plan"  # one environment named plainly: a plain plan file
    assert fleet.cli("plan", str(fleet.root), "-e", "prod", "--out", str(single)).code == 0
    applied = fleet.cli("apply", str(single))
    assert applied.code == 0 and "Apply complete!" in applied.out, applied
    assert set(fleet.tenants["prod"].purposes()) == {"Intro prod", "Launch"}


def test_the_engine_runs_a_fleet_in_one_loop_with_its_own_states(fleet: Fleetdir) -> None:
    fleet_ = Fleet(fleet.root, list(NAMES), parallel=2)

    async def plans() -> list[Any]:
        return [plan_row(f) async for f in fleet_.plan()]

    import os

    os.environ.update(fleet.env)
    try:
        rows = asyncio.run(plans())
        ws = Workspace.open(fleet.root, environment="prod")
    finally:
        for key in fleet.env:
            os.environ.pop(key, None)
    assert sorted(r.environment for r in rows) == sorted(NAMES)
    assert {r.status for r in rows} == {Status.CHANGES} and exit_code(rows, True) == 2
    assert ws.plan_options() is not None and ws.settings.environment == "prod"
    assert ws.target()["environment"] == "prod"
    assert ws.settings.state_path == (fleet.root / "state" / "prod" / "default.json").resolve()


def test_settings_errors_point_at_the_environment_that_wrote_them(fleet: Fleetdir) -> None:
    env = {"OUTREACH_BASE_URL": "http://127.0.0.1:1", "OUTREACH_TOKEN": "unused-token", **fleet.env}
    (fleet.root / "environments" / "prod.yaml").write_text(
        "providers:\n  outreach:\n    page_size: many\n    tokn: x\n")
    with pytest.raises(ManifestError) as caught:
        load_settings(fleet.root, env=env, environment="prod")
    shown = str(caught.value)
    assert "environments/prod.yaml:3:16" in shown and "page_size" in shown, shown
    assert "environments/prod.yaml:4:5" in shown and "tokn" in shown, shown
    with pytest.raises(ConfigError, match="did you mean 'prod'"):
        load_settings(fleet.root, env=env, environment="prd")
    (fleet.root / "purposes.yaml").write_text(
        "outreach:\n  call_purposes:\n    intro:\n      name: Intro\n      environments: [prodd]\n")
    with pytest.raises(ManifestError, match=r"purposes.yaml:5:22: .*'prodd' matches no declared "
                                            r"environment — did you mean 'prod'"):
        load_desired(load_settings(fleet.root, env=env, environment="dev"), env)


def test_validate_checks_every_environment_and_envs_feeds_a_matrix(fleet: Fleetdir) -> None:
    (fleet.root / "environments" / "stage.yaml").write_text("variables:\n  REGON: x\n")
    result = fleet.cli("validate", str(fleet.root))
    assert result.code == 1, result
    assert "Valid: dev: 1 object(s)" in result.out and "Valid: prod: 2 object(s)" in result.out
    assert "environments/stage.yaml:2:3" in result.err and "did you mean 'REGION'" in result.err
    listed = fleet.cli("envs", str(fleet.root), "--format", "github-matrix")
    assert json.loads(listed.out) == {"environment": ["dev", "prod", "stage"]}
    gitlab = fleet.cli("envs", str(fleet.root), "--format", "gitlab-matrix")
    assert 'RECONCILER_ENV: ["dev", "prod", "stage"]' in gitlab.out


def test_a_directory_without_environments_is_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "reconciler.yaml").write_text("providers:\n  outreach:\n    base_url: https://x.example\n"
                                          "    token: some-token-value\n")
    with pytest.raises(ConfigError, match="declares no environments"):
        Fleet.select(root, ["prod"])
    settings = load_settings(root)
    assert settings.environment is None and settings.environments == ()
    assert settings.state_path == (root / "state" / "default.json").resolve()


def test_sandbox_gives_each_environment_its_own_data_and_state(fleet: Fleetdir) -> None:
    applied = fleet.cli("apply", str(fleet.root), "--env", "*", "--sandbox", "--auto-approve")
    assert applied.code == 0, applied
    assert "Fleet: 3 environments, 3 with changes, 0 failed." in applied.out
    names = {}
    for name in NAMES:
        data = fleet.root / "state" / name / "sandbox" / name
        assert (data / "reconciler-state.json").is_file(), name
        purposes = json.loads((data / "outreach.json").read_text())["call_purposes"]
        names[name] = {p["name"] for p in purposes.values()}
        assert not (fleet.root / "state" / name / "default.json").exists()  # never the real state
    assert names == {"dev": {"Intro dev"}, "stage": {"Intro stage"}, "prod": {"Intro prod", "Launch"}}
    assert all(tenant.gate.seen == set() for tenant in fleet.tenants.values())  # no real tenant called


def test_a_fleet_holds_at_most_parallel_plans_at_once(tmp_path: Path) -> None:
    """Environments are opened, planned, handed over and released in turn: however many
    there are, no more than `parallel` plans (and the one being printed) exist at once."""
    import gc

    from reconciler.plan.model import Plan

    root = tmp_path / "many"
    (root / "environments").mkdir(parents=True)
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "data")) as running:
        o = running.overrides["outreach"]
        (root / "reconciler.yaml").write_text(
            f"providers:\n  outreach:\n    base_url: {o['base_url']}\n    token: {o['token']}\n"
            "environments_dir: environments\n")
        for i in range(12):
            (root / "environments" / f"t{i:02d}.yaml").write_text("state:\n"
                                                                  f"  path: state/t{i:02d}.json\n")
        (root / "purposes.yaml").write_text("outreach:\n  call_purposes:\n    a:\n      name: A\n")
        fleet_ = Fleet(root, [f"t{i:02d}" for i in range(12)], parallel=3)
        alive: list[int] = []

        async def run() -> list[Any]:
            rows = []
            async for finished in fleet_.plan():
                rows.append(plan_row(finished))
                finished.value = None  # printed and released, as the CLI does
                gc.collect()
                alive.append(sum(isinstance(o, Plan) for o in gc.get_objects()))
            return rows

        rows = asyncio.run(run())
    assert len(rows) == 12 and {r.status for r in rows} == {Status.CHANGES}
    assert max(alive) <= 3, alive


def test_the_fleet_comment_fits_the_limit(tmp_path: Path) -> None:
    """200 environments, each with 300 changes: the table, then collapsed sections as many
    as fit, the rest named; the whole under GitHub's 65,536 characters."""
    from reconciler.engine.fleet import Row
    from reconciler.render.fleet import fleet_markdown, section_share
    from reconciler.render.markdown import plan_markdown

    root = tmp_path / "big"
    root.mkdir()
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "data")) as running:
        o = running.overrides["outreach"]
        (root / "reconciler.yaml").write_text(
            f"providers:\n  outreach:\n    base_url: {o['base_url']}\n    token: {o['token']}\n")
        (root / "purposes.yaml").write_text("outreach:\n  call_purposes:\n" + "".join(
            f"    p{i:03d}:\n      name: Purpose {i} <b>&|\n" for i in range(300)))
        plan = asyncio.run(Workspace.open(root).plan())
    names = [f"customer-{i:03d}" for i in range(200)]
    rows = [Row(n, Status.CHANGES, {"create": 300, "update": 0, "delete": 0, "adopt": 0}) for n in names]
    rows[7] = Row(names[7], Status.FAILED, error="outreach: 401 Unauthorized")
    share = section_share(len(names))
    sections = {n: plan_markdown(plan, share) for n in names}
    sections[names[7]] = "Error: outreach: 401 Unauthorized"
    text = fleet_markdown("plan", rows, sections)
    assert len(text) <= 65_536
    assert text.count("| `customer-") == 200  # every environment in the table
    assert text.index("<details><summary>customer\\-007: failed</summary>") < text.index(
        "<details><summary>customer\\-000: changes</summary>")  # failures first
    assert "environment(s) not shown" in text and "<b>" not in text
    assert "**Fleet: 200 environments, 199 with changes, 1 failed\\.**" in text


def test_the_states_and_environments_folders_are_not_manifests(fleet: Fleetdir) -> None:
    env = {"OUTREACH_BASE_URL": "http://127.0.0.1:1", "OUTREACH_TOKEN": "unused-token", **fleet.env}
    settings = load_settings(fleet.root, env=env, environment="stage")
    assert len(load_desired(settings, env).objects) == 1  # environments/*.yaml are not read
    (fleet.root / "state").mkdir()
    (fleet.root / "state" / "lost.yaml").write_text("outreach: {}\n")
    with pytest.raises(ManifestError, match=r"the state folder .* holds manifests"):
        load_desired(load_settings(fleet.root, env=env, environment="stage"), env)
    config = fleet.root / "reconciler.yaml"
    config.write_text(config.read_text().replace("environments_dir: environments", "environments_dir: envs"))
    with pytest.raises(ManifestError, match=r"reconciler.yaml:9:19: environments_dir: 'envs' is not a folder"):
        load_settings(fleet.root, env=env, environment="dev")


def test_a_rail_in_one_environment_is_exit_3_for_the_fleet(fleet: Fleetdir) -> None:
    """prevent_destroy is kept in each environment's own state: moving a purpose from prod
    to stage plans a create in stage and a blocked delete in prod."""
    purposes = fleet.root / "purposes.yaml"
    purposes.write_text(purposes.read_text() + "      prevent_destroy: true\n")
    assert fleet.cli("apply", str(fleet.root), "--env", "*", "--auto-approve").code == 0
    purposes.write_text(purposes.read_text().replace("environments: [prod]", "environments: [stage]"))
    result = fleet.cli("plan", str(fleet.root), "--env", "*", "--detailed-exitcode")
    assert result.code == 3, result
    assert "Fleet: 3 environments, 2 with changes, 1 blocked, 0 failed." in result.out
    rows = {line.split()[0]: line.split() for line in result.out.split("Fleet summary:")[1].splitlines()[2:5]}
    assert rows["prod"][-1] == "blocked"  # its delete refused by the rail
    assert rows["stage"][-1] == "changes" and rows["stage"][1] == "1"
    assert rows["dev"][-1] == "changes"


def test_a_fleet_parses_a_manifest_once_but_checks_it_for_each(tmp_path: Path) -> None:
    """Within a fleet's run a file is parsed once per distinct text and variable values; each
    environment still gets its own Document, its own values and its own credential check."""
    from reconciler.manifest import source

    path = tmp_path / "p.yaml"
    path.write_text("outreach:\n  call_purposes:\n    a:\n      name: A ${REGION} sk-live-12345678\n")
    parsed = source.Parsed()
    with source.shared_parses(parsed):
        eu = source.load(path, "p.yaml", {"REGION": "eu"}, variables=["REGION"])
        again = source.load(path, "p.yaml", {"REGION": "eu"}, variables=["REGION"])
        us = source.load(path, "p.yaml", {"REGION": "us"}, variables=["REGION"])
        leaked = source.load(path, "p.yaml", {"REGION": "eu"}, variables=["REGION"],
                             credentials=["sk-live-12345678"])
    assert len(parsed) == 2 and again is not eu and again.data is eu.data  # parsed once
    assert us.data["outreach"]["call_purposes"]["a"]["name"] == "A us sk-live-12345678"
    assert leaked.diagnostics and "credential" in leaked.diagnostics[0].message


def test_two_environments_never_share_a_state(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    (root / "reconciler.yaml").write_text(
        "providers:\n  outreach:\n    base_url: https://api.outreach.example/api/v2\n"
        "    token: some-token-value\nenvironments:\n  a:\n    state:\n      path: state/one.json\n"
        "  b:\n    state:\n      path: state/one.json\n  c: {}\n")

    async def run() -> list[Any]:
        async def nothing(ws: Workspace) -> str:
            return ws.backend.describe()

        return [f async for f in Fleet(root, ["a", "b", "c"], parallel=1).each(nothing)]

    done = {f.environment: f for f in asyncio.run(run())}
    assert done["a"].error is None and done["c"].error is None
    assert "keeps its state where 'a' does" in str(done["b"].error)
    assert done["c"].value.endswith("state/c/default.json")  # apart by default
