"""Run history: every plan, apply and drift is recorded in the state backend, and read back by
`reconciler history` (both backends, real sandboxes over loopback, real PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.history.build import stored
from reconciler.history.local import JsonLinesHistory
from reconciler.history.model import FieldChange, ObjectChange, RunRecord, new_id
from reconciler.history.store import Query
from tests.conftest import Project, state_block

NEWSLETTER = "superoffice.consent_purpose.newsletter"
PURPOSES = """\
outreach:
  call_purposes:
    intro:
      name: Intro
      order: 1
superoffice:
  consent_purposes:
    newsletter:
      name: Newsletter
      key: "#Newsletter"
      consent_text: {text}
      active: true
      rank: 3
"""
RECORDS = """\
webex_campaign:
  datastore_records:
    seed:
      datastore_id: "1466"
      feed_id: "1499"
      records:
        - {msisdn: "+447700900123", firstname: Jane Private, emailid: jane.private@example.com}
"""


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def _commit(root: Path, message: str) -> str:
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)
    return _git(root, "rev-parse", "HEAD")


def _history(project: Project, *args: str) -> list[dict[str, Any]]:
    result = project.cli("history", str(project.root), "--format", "json", *args)
    assert result.code == 0, result.text
    runs: list[dict[str, Any]] = json.loads(result.out)["runs"]
    return runs


def _intro_id(project: Project) -> str:
    return next(str(p["id"]) for p in project.sandbox.outreach_purposes()
                if p["attributes"]["name"] == "Intro")


@pytest.fixture
def tracked(project: Project, backend_kind: str, request: pytest.FixtureRequest) -> Project:
    """Outreach + SuperOffice on the chosen backend, the manifests in a git repository on
    branch `main`, run by GITHUB_ACTOR=alice."""
    project.configure(("outreach", "superoffice"), state_block(backend_kind, request))
    (project.root / ".gitignore").write_text("state/\n")
    project.write("purposes.yaml", PURPOSES.format(text="Monthly news"))
    _git(project.root, "init", "-q", "-b", "main")
    return project


ALICE = {"GITHUB_ACTOR": "alice"}


def test_plan_apply_drift_are_recorded_with_counts_and_fields(tracked: Project) -> None:
    project = tracked
    first = _commit(project.root, "first")
    assert project.plan(env=ALICE).code == 2
    assert project.apply(env=ALICE).code == 0
    intro = _intro_id(project)
    body = {"data": {"type": "callPurpose", "id": int(intro), "attributes": {"order": 7}}}
    assert project.sandbox.outreach("PATCH", f"/callPurposes/{intro}", body).status_code == 200
    assert project.cli("drift", str(project.root), env=ALICE).code == 2

    runs = _history(project)
    assert [r["kind"] for r in runs] == ["drift", "apply", "plan"]  # newest first
    drift, apply, plan = runs
    for run in runs:
        assert run["actor"] == "alice" and run["commit"] == first and run["branch"] == "main"
        assert run["environment"] == "default"
        assert run["started_at"] <= run["finished_at"] and run["started_at"].endswith("+00:00")
    assert plan["outcome"] == "changes" and plan["counts"]["create"] == 2
    assert apply["outcome"] == "ok" and apply["counts"]["create"] == 2
    assert {c["status"] for c in apply["changes"]} == {"applied"}
    assert (drift["outcome"], drift["drifted"], drift["missing"], drift["unmanaged"]) == ("drift", 1, 0, 0)
    [changed] = drift["changes"]
    assert changed["address"] == "outreach.call_purpose.intro" and changed["status"] == "changed"
    assert changed["fields"] == [{"field": "order", "before": 1, "after": 7}]
    created = {c["address"]: c for c in apply["changes"]}[NEWSLETTER]
    assert {"field": "consent_text", "before": None, "after": "Monthly news"} in created["fields"]


def test_history_address_answers_every_change_with_who_and_which_commit(tracked: Project) -> None:
    project = tracked
    first = _commit(project.root, "first")
    assert project.apply(env=ALICE).code == 0
    project.write("purposes.yaml", PURPOSES.format(text="Weekly news").replace("order: 1", "order: 2"))
    second = _commit(project.root, "weekly")
    assert project.plan(env={"GITHUB_ACTOR": "bob"}).code == 2
    assert project.apply(env={"GITHUB_ACTOR": "bob"}).code == 0
    assert project.cli("drift", str(project.root)).code == 0  # touches nothing: not listed

    runs = _history(project, "--address", NEWSLETTER, "--since", "2000-01-01")
    assert [(r["kind"], r["actor"], r["commit"]) for r in runs] == [
        ("apply", "bob", second), ("plan", "bob", second), ("apply", "alice", first)]
    assert all(c["address"] == NEWSLETTER for r in runs for c in r["changes"])
    assert runs[0]["changes"][0]["fields"] == [
        {"field": "consent_text", "before": "Monthly news", "after": "Weekly news"}]
    assert _history(project, "--address", NEWSLETTER, "--kind", "apply", "--limit", "1")[0]["commit"] == second
    assert _history(project, "--address", NEWSLETTER, "--since", "1h")  # a duration back from now
    assert _history(project, "--address", "superoffice.consent_purpose.absent") == []

    table = list(csv.DictReader(io.StringIO(project.cli(
        "history", str(project.root), "--address", NEWSLETTER, "--format", "csv").out)))
    assert {row["address"] for row in table} == {NEWSLETTER}
    weekly = [row for row in table if row["after"] == '"Weekly news"']
    assert len(weekly) == 2 and {row["commit"] for row in weekly} == {second}
    assert {row["actor"] for row in weekly} == {"bob"}
    text = project.cli("history", str(project.root), "--address", NEWSLETTER).out
    assert 'consent_text: "Monthly news" -> "Weekly news"' in text and "by bob" in text


def test_credentials_and_datastore_records_never_reach_the_history(project: Project) -> None:
    project.configure(("outreach", "webex_campaign"))
    project.write("records.yaml", RECORDS)
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro}\n")
    assert project.apply().code == 0
    token = project.sandbox.overrides["outreach"]["token"]
    intro = _intro_id(project)
    body = {"data": {"type": "callPurpose", "id": int(intro), "attributes": {"name": f"Leak {token}"}}}
    assert project.sandbox.outreach("PATCH", f"/callPurposes/{intro}", body).status_code == 200
    assert project.cli("drift", str(project.root)).code == 2

    raw = (project.root / "state" / "default.history.jsonl").read_text()
    assert token not in raw and "Leak ***" in raw
    for personal in ("+447700900123", "Jane Private", "jane.private@example.com"):
        assert personal not in raw
    [push] = [c for r in _history(project) for c in r["changes"]
              if c["address"] == "webex_campaign.datastore_records.seed"]
    values = {f["field"]: f["after"] for f in push["fields"]}
    assert values["record_count"] == 1 and values["records_digest"].startswith("sha256:")


def test_a_history_that_cannot_be_written_is_a_warning_not_a_failure(project: Project) -> None:
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro}\n")
    (project.root / "state" / "default.history.jsonl").mkdir(parents=True)  # not a file
    result = project.plan()
    assert result.code == 2 and "Warning: this run was not recorded in the history" in result.err
    assert project.apply().code == 0


def test_disabled_history_records_nothing(project: Project) -> None:
    project.configure(extra="history:\n  enabled: false\n")
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro}\n")
    assert project.apply().code == 0
    assert not (project.root / "state" / "default.history.jsonl").exists()
    assert project.cli("history", str(project.root)).out.strip() == "No runs recorded."


def test_a_torn_last_line_is_skipped_and_the_next_run_starts_a_fresh_line(project: Project) -> None:
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro}\n")
    assert project.apply().code == 0
    path = project.root / "state" / "default.history.jsonl"
    with path.open("a") as handle:
        handle.write('{"id": "0193", "kind": "drift", "started_at": "2026-')  # a crash mid-append
    assert [r["kind"] for r in _history(project)] == ["apply"]
    assert project.cli("drift", str(project.root)).code == 0
    assert [r["kind"] for r in _history(project)] == ["drift", "apply"]
    assert path.read_text().count("\n") == 3  # apply, the torn fragment, drift


def test_sandbox_runs_have_their_own_history(project: Project) -> None:
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro}\n")
    assert project.cli("plan", str(project.root), "--sandbox").code == 0
    runs = json.loads(project.cli("history", str(project.root), "--sandbox", "--format", "json").out)["runs"]
    assert [r["kind"] for r in runs] == ["plan"]
    assert _history(project) == []  # the real history holds only real runs


# ---------------------------------------------------------------- the stores themselves ----

def _run(days_ago: float = 0, environment: str = "default", kind: str = "drift",
         address: str = "outreach.call_purpose.intro", drifted: int = 1) -> RunRecord:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="microseconds")
    return RunRecord(id=new_id(at), kind=kind, started_at=at, finished_at=at, outcome="drift",
                     actor="ci", environment=environment,
                     counts={"drifted": drifted, "missing": 0, "unmanaged": 0},
                     changes=(ObjectChange(address, "drift", "changed", "1",
                                           (FieldChange("order", 1, 2),)),))


def test_local_history_rotates_by_size_and_keeps_n_files(tmp_path: Path) -> None:
    store = JsonLinesHistory(tmp_path / "default.history.jsonl", max_bytes=2_000, keep_files=2)
    for _ in range(40):
        store.append(_run(), retention_days=None)
    files = sorted(p.name for p in tmp_path.glob("default.history.jsonl*") if not p.name.endswith(".lock"))
    assert files == ["default.history.jsonl", "default.history.jsonl.1", "default.history.jsonl.2"]
    assert all(p.stat().st_size <= 2_000 for p in tmp_path.glob("default.history.jsonl*"))
    kept = store.runs(Query())
    assert 0 < len(kept) < 40 and kept == sorted(kept, key=lambda r: r.started_at, reverse=True)


def test_an_append_waits_for_the_holder_of_the_history_lock(tmp_path: Path) -> None:
    """Two processes (or threads) appending at once: the second waits while the first holds
    default.history.jsonl.lock, and the lock file is the owner's alone."""
    import threading

    from filelock import FileLock

    store = JsonLinesHistory(tmp_path / "default.history.jsonl")
    order: list[str] = []
    appending = threading.Thread(target=lambda: (store.append(_run(), None), order.append("appended")))
    with FileLock(tmp_path / "default.history.jsonl.lock", mode=0o600):
        appending.start()
        appending.join(0.3)  # room to append, were the lock not held
        order.append("released")
    appending.join()
    assert order == ["released", "appended"] and len(store.runs(Query())) == 1
    assert (tmp_path / "default.history.jsonl.lock").stat().st_mode & 0o077 == 0


def test_local_retention_prunes_old_runs_and_old_rotated_files(tmp_path: Path) -> None:
    store = JsonLinesHistory(tmp_path / "default.history.jsonl", keep_files=3)
    old_file = store.rotated(1)
    old_file.write_text(json.dumps(_run(days_ago=500).to_dict()) + "\n")
    os.utime(old_file, (0, (datetime.now(UTC) - timedelta(days=500)).timestamp()))
    store.append(_run(days_ago=450), retention_days=None)
    store.append(_run(days_ago=10), retention_days=None)
    assert len(store.runs(Query())) == 3
    store.append(_run(), retention_days=400)
    assert not old_file.exists()
    ages = [datetime.now(UTC) - datetime.fromisoformat(r.started_at) for r in store.runs(Query())]
    assert len(ages) == 2 and all(a < timedelta(days=400) for a in ages)


def test_stored_values_lose_records_and_credentials() -> None:
    from reconciler.redact import register

    register(["s3cr3t-history-token"])
    value = stored({"name": "a s3cr3t-history-token b", "records": [{"msisdn": "+4470"}]})
    assert value["name"] == "a *** b"
    assert value["records"]["count"] == 1 and value["records"]["digest"].startswith("sha256:")
    assert "+4470" not in json.dumps(value)


@pytest.fixture
def pg_store(postgres_url: str, request: pytest.FixtureRequest) -> Any:
    from reconciler.history.postgres import PostgresHistory

    return PostgresHistory(postgres_url, "h" + str(abs(hash(request.node.nodeid))))


def test_postgres_migrations_are_versioned_and_run_once(pg_store: Any, postgres_url: str) -> None:
    import psycopg

    pg_store.append(_run(), retention_days=None)
    type(pg_store)(postgres_url, pg_store.workspace).append(_run(), retention_days=None)
    with psycopg.connect(postgres_url) as conn:
        versions = conn.execute("SELECT version FROM reconciler_history_schema").fetchall()
        indexes = {r[0] for r in conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename LIKE 'reconciler_run%'")}
    assert versions == [(1,)]
    assert any("(environment, started_at)" in i for i in indexes)
    assert any("(address, started_at)" in i for i in indexes)


def test_postgres_retention_prunes_old_runs_with_their_changes(pg_store: Any, postgres_url: str) -> None:
    import psycopg

    old = _run(days_ago=500, environment=pg_store.workspace)
    pg_store.append(old, retention_days=None)
    assert pg_store.run(old.id) is not None
    pg_store.append(_run(environment=pg_store.workspace), retention_days=400)
    assert pg_store.run(old.id) is None
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT count(*) FROM reconciler_run_changes WHERE run_id = %s",
                           (old.id,)).fetchone()
    assert row == (0,)
    assert len(pg_store.runs(Query(environment=pg_store.workspace))) == 1


def test_postgres_dashboard_queries(pg_store: Any) -> None:
    for day in range(3):
        for env in ("prod", "staging"):
            pg_store.append(_run(days_ago=3 - day, environment=env, drifted=day), retention_days=None)
    pg_store.append(_run(environment="prod", kind="plan", address="outreach.call_purpose.x"),
                    retention_days=None)
    latest = pg_store.latest_per_environment()
    assert [(r.environment, r.kind) for r in latest] == [("prod", "plan"), ("staging", "drift")]
    assert [r.kind for r in pg_store.latest_per_environment(kind="drift")] == ["drift", "drift"]
    series = pg_store.drift_series("prod")
    assert [p.drifted for p in series] == [0, 1, 2]
    assert [p.drifted for p in pg_store.drift_series("prod", bucket="day")] == [0, 1, 2]
    assert len(pg_store.drift_series(None, bucket="week")) <= 4  # one point per environment and week
    recent = pg_store.runs(Query(limit=2))
    assert [r.kind for r in recent] == ["plan", "drift"] and recent[0].changes
    touched = pg_store.runs(Query(address="outreach.call_purpose.x"))
    assert len(touched) == 1 and [c.address for c in touched[0].changes] == ["outreach.call_purpose.x"]


def test_a_reader_sees_no_runs_before_the_tables_exist(postgres_url: str) -> None:
    import psycopg

    from reconciler.history.postgres import PostgresHistory

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE history_empty")
    url = postgres_url.rsplit("/", 1)[0] + "/history_empty"
    assert PostgresHistory(url, "x").runs(Query()) == []
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass('reconciler_runs') IS NULL").fetchone()
    assert row == (True,)  # reading ran no DDL


def test_a_role_that_cannot_record_still_plans_and_is_told_why(project: Project, postgres_url: str) -> None:
    """A read-only role (a fork's pull request): the plan stands, the warning names what the
    role lacks; nothing is created."""
    import uuid

    import psycopg

    name, role = "h" + uuid.uuid4().hex[:10], "r" + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    admin = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    project.configure(state=f"state:\n  backend: postgres\n  url: {admin}\n  workspace: w\n")
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro}\n")
    assert project.apply().code == 0
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(f"GRANT SELECT ON reconciler_state, reconciler_journal, reconciler_lock, "
                     f"reconciler_runs, reconciler_run_changes, reconciler_history_schema TO {role}")
    reader = admin.replace("postgres@", f"{role}@")
    project.configure(state=f"state:\n  backend: postgres\n  url: {reader}\n  workspace: w\n")
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro, order: 3}\n")
    result = project.plan()
    assert result.code == 2, result.text
    assert "Warning: this run was not recorded in the history" in result.err
    assert "the role needs" in result.err and "INSERT on reconciler_runs" in result.err
    assert [r["kind"] for r in _history(project)] == ["apply"]  # reading needs SELECT only


def test_a_blocked_apply_is_recorded_as_blocked(project: Project) -> None:
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro, prevent_destroy: true}\n"
                            "    other: {name: Other}\n")
    assert project.apply().code == 0
    project.write("p.yaml", "outreach:\n  call_purposes:\n    other: {name: Other}\n")
    assert project.apply().code == 3
    blocked = _history(project, "--kind", "apply")[0]
    assert blocked["outcome"] == "blocked" and "prevent_destroy" in blocked["error"]


def test_local_queries_by_address_since_and_kind(tmp_path: Path) -> None:
    store = JsonLinesHistory(tmp_path / "default.history.jsonl", max_bytes=1_500, keep_files=10)
    for days, address in ((30, NEWSLETTER), (20, "outreach.call_purpose.intro"), (10, NEWSLETTER),
                          (1, "outreach.call_purpose.intro")):
        store.append(_run(days_ago=days, address=address), retention_days=None)
    store.append(_run(kind="plan", address=NEWSLETTER), retention_days=None)
    assert len(list(tmp_path.glob("default.history.jsonl.*"))) > 1  # read across rotated files
    recent = store.runs(Query(address=NEWSLETTER, since=datetime.now(UTC) - timedelta(days=15)))
    assert [r.kind for r in recent] == ["plan", "drift"]
    assert all(c.address == NEWSLETTER for r in recent for c in r.changes)
    assert len(store.runs(Query(address=NEWSLETTER, kind="drift"))) == 2


def test_commit_and_branch_from_git_without_git_and_from_ci(tmp_path: Path) -> None:
    from reconciler.history.context import actor, git_revision

    repo = tmp_path / "repo"
    (repo / "manifests").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "manifests" / "reconciler.yaml").write_text("providers: {}\n")
    head = _commit(repo, "one")
    assert git_revision(repo / "manifests", {}) == (head, "main")
    _git(repo, "pack-refs", "--all")  # no loose ref left: read from packed-refs
    assert git_revision(repo / "manifests", {}) == (head, "main")
    _git(repo, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    assert git_revision(tmp_path / "wt" / "manifests", {}) == (head, "feature")
    _git(repo, "checkout", "-q", "--detach")  # a CI's checkout: the branch is in its variables
    assert git_revision(repo, {"GITHUB_HEAD_REF": "pr-branch"}) == (head, "pr-branch")
    assert git_revision(repo, {}) == (head, None)
    assert git_revision(tmp_path / "elsewhere", {"PATH": ""}) == (None, None)  # no repository
    (tmp_path / "odd" / ".git").mkdir(parents=True)  # a broken .git: no commit, no error
    assert git_revision(tmp_path / "odd", {}) == (None, None)
    assert actor({"GITLAB_USER_LOGIN": "gl", "BUILDKITE_BUILD_CREATOR": "bk"}) == "gl"
    assert actor({}).count("@") == 1  # user@host
