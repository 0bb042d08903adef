"""`reconciler serve` as people run it: a real process, a sandbox tenant over loopback, a
local webhook receiver; metrics read with prometheus-client's own parser."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.providers.sandboxes import SandboxSettings
from reconciler.sandbox.common import Faults
from reconciler.state.local import LocalBackend
from tests.conftest import PROVIDERS, Project, run_cli
from tests.serving import Served, serving, wait_for, webhook_receiver

PURPOSES = """\
outreach:
  call_purposes:
    intro: {{name: Intro, order: {intro}}}
    demo: {{name: Demo, order: {demo}}}
"""
TOKEN = "t0ken-" + "x" * 40


@pytest.fixture
def sandbox_settings(tmp_path: Path) -> SandboxSettings:
    """Every vendor answers 429 now and then (fixed seed): retries and errors get counted."""
    return SandboxSettings(data_dir=tmp_path / "sandbox-data", superoffice_builtins=False,
                           faults=Faults(rate_429=0.15, retry_after_s=0.01, seed=11))


def _configure(project: Project) -> None:
    project.configure(("outreach",), extra=(
        "notify:\n  - name: hook\n    url_env: HOOK_URL\n"
        "  - name: chat\n    url_env: CHAT_URL\n    format: slack\n"
        "    events: [drift_found, drift_resolved]\n"))


@pytest.fixture
def tenant(project: Project) -> Project:
    _configure(project)
    project.write("purposes.yaml", PURPOSES.format(intro=1, demo=2))
    assert project.apply().code == 0
    return project


def _intro(project: Project) -> str:
    return next(str(p["id"]) for p in project.sandbox.outreach_purposes()
                if p["attributes"]["name"] == "Intro")


def _set_order(project: Project, order: int) -> None:
    intro = _intro(project)
    body = {"data": {"type": "callPurpose", "id": int(intro), "attributes": {"order": order}}}
    for _ in range(20):  # through the injected 429s
        if project.sandbox.outreach("PATCH", f"/callPurposes/{intro}", body).status_code == 200:
            return
    raise AssertionError("could not change the sandbox")


def _history(project: Project) -> list[dict[str, Any]]:
    result = project.cli("history", str(project.root), "--format", "json")
    assert result.code == 0, result.text
    return json.loads(result.out)["runs"]  # type: ignore[no-any-return]


def _hooks(receiver_url: str) -> dict[str, str]:
    return {"HOOK_URL": receiver_url + "/hook/s3cret-path", "CHAT_URL": receiver_url + "/chat/s3cret-path"}


def _samples(served: Served) -> dict[str, list[Any]]:
    response = served.get("/metrics")
    assert response.status_code == 200
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith("reconciler_"), family.name
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    matching = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert matching, f"{name}{labels} not exported"
    return float(sum(matching))


def test_drift_runs_on_schedule_with_alerts_and_metrics(tenant: Project) -> None:
    with webhook_receiver(fail_first=1) as receiver, serving(
            tenant.root, {**tenant.sandbox.env(), **_hooks(receiver.url)}, "--drift-every", "0.5s") as served:
        served.wait_runs(2)
        _set_order(tenant, 7)
        wait_for(lambda: receiver.bodies("/hook/s3cret-path") and receiver.bodies("/chat/s3cret-path"),
                 60, "the drift_found alerts")
        found = receiver.bodies("/hook/s3cret-path")[0]
        assert found["event"] == "drift_found" and found["environment"] == "default"
        assert found["addresses"] == ["outreach.call_purpose.intro"]
        assert found["run"]["counts"]["drifted"] == 1 and found["run"]["kind"] == "drift"
        assert "7" not in json.dumps(found["addresses"]) and "order" not in json.dumps(found)  # no values
        chat = receiver.bodies("/chat/s3cret-path")[0]
        assert set(chat) == {"text"} and "Drift found in default" in chat["text"]

        _set_order(tenant, 1)
        wait_for(lambda: any(b["event"] == "drift_resolved" for b in receiver.bodies("/hook/s3cret-path")),
                 60, "the drift_resolved alert")
        # found once (the same drift seen again is not news), resolved once
        events = [b["event"] for b in receiver.bodies("/hook/s3cret-path")]
        assert events.count("drift_found") == 1 and events[-1] == "drift_resolved"

        runs = served.runs("drift")
        history = [r for r in _history(tenant) if r["kind"] == "drift"]
        assert [r["id"] for r in runs] == [r["id"] for r in history][:len(runs)] or \
            {r["id"] for r in runs} <= {r["id"] for r in history}
        one = served.json(f"/api/v1/runs/{runs[0]['id']}")
        same = next(r for r in history if r["id"] == one["id"])
        assert one == same  # the API's run is `history --format json`'s run
        for run in runs:
            assert {"id", "kind", "environment", "started_at", "finished_at", "outcome", "actor",
                    "commit", "drifted", "missing", "unmanaged"} <= set(run)
        assert [r["started_at"] for r in runs] == sorted((r["started_at"] for r in runs), reverse=True)

        samples = _samples(served)
        latest = history[0]
        assert _value(samples, "reconciler_drifted_objects", environment="default",
                      vendor="outreach") == latest["drifted"]
        assert _value(samples, "reconciler_runs_total", kind="drift") >= len(
            [r for r in history if r["started_at"] >= history[-1]["started_at"]]) - 1
        assert _value(samples, "reconciler_run_duration_seconds_count", kind="drift") >= 2
        last_ok = next(r for r in history if r["outcome"] != "failed")
        assert abs(_value(samples, "reconciler_last_successful_drift_timestamp_seconds",
                          environment="default")
                   - _epoch(last_ok["started_at"])) < 2
        assert _value(samples, "reconciler_vendor_requests_total", vendor="outreach", status="200") > 0
        assert _value(samples, "reconciler_vendor_requests_total", vendor="outreach", status="429") > 0
        assert _value(samples, "reconciler_vendor_errors_total", vendor="outreach", status="429") > 0
        assert _value(samples, "reconciler_vendor_retries_total", vendor="outreach") > 0

        for path in ("/", "/runs", f"/runs/{runs[0]['id']}", "/api/v1/environments", "/metrics"):
            assert "s3cret-path" not in served.get(path).text
    assert "s3cret-path" not in served.log


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def test_auto_apply_applies_a_change_and_reports_a_blocked_rail(project: Project) -> None:
    project.extra_provider_settings["outreach"] = "    max_changes: 1\n"
    project.configure(("outreach",), extra="notify:\n  - name: hook\n    url_env: HOOK_URL\n")
    project.write("purposes.yaml", PURPOSES.format(intro=1, demo=2))
    assert project.apply().code == 0
    with webhook_receiver() as receiver, serving(
            project.root, {**project.sandbox.env(), "HOOK_URL": receiver.url + "/hook"},
            "--drift-every", "1h", "--auto-apply", "--poll-every", "0.2s") as served:
        before = {r["id"] for r in served.runs("apply")}  # the CLI's apply above

        def new_applies() -> list[dict[str, Any]]:
            return [r for r in served.runs("apply") if r["id"] not in before]

        project.write("purposes.yaml", PURPOSES.format(intro=1, demo=2)
                      + "    extra: {name: Extra, order: 3}\n")
        applied = wait_for(new_applies, 60, "the auto-apply")
        assert applied[0]["outcome"] == "ok" and applied[0]["counts"]["create"] == 1
        assert "Extra" in {p["attributes"]["name"] for p in project.sandbox.outreach_purposes()}

        # two updates where the rail allows one: blocked, reported, never forced
        project.write("purposes.yaml", PURPOSES.format(intro=5, demo=6)
                      + "    extra: {name: Extra, order: 3}\n")
        blocked = wait_for(lambda: [r for r in new_applies() if r["outcome"] == "blocked"],
                           60, "the blocked apply")
        assert "safety rail" in (blocked[0]["error"] or "")
        orders = {p["attributes"]["name"]: p["attributes"]["order"] for p in project.sandbox.outreach_purposes()}
        assert (orders["Intro"], orders["Demo"]) == (1, 2)
        alert = wait_for(lambda: receiver.bodies("/hook"), 30, "the apply_failed alert")[0]
        assert alert["event"] == "apply_failed" and "blocked by a safety rail" in alert["summary"]
        assert "blocked by a safety rail (not forced)" in served.log


def test_a_cli_apply_holding_the_lock_is_waited_for_and_named(tenant: Project) -> None:
    backend = LocalBackend(tenant.root / "state" / "default.json")
    with ExitStack() as apply_running:
        apply_running.enter_context(backend.lock("apply", 0))
        with serving(tenant.root, {**tenant.sandbox.env(), **_hooks("http://127.0.0.1:9")},
                     "--drift-every", "0.5s", "--poll-every", "0.1s") as served:
            wait_for(lambda: "waiting: an apply holds the state lock" in served.log, 30, "the wait")
            assert "running '" in served.log  # who holds it, and what it runs
            time.sleep(1)  # two drift intervals, ten looks at the lock
            assert served.runs("drift") == []  # nothing ran under the apply's lock
            apply_running.close()  # the apply is done
            served.wait_runs(1)
            assert "the state lock is free again" in served.log


def test_beyond_loopback_needs_a_token_and_every_answer_is_locked_down(tenant: Project) -> None:
    env = {**tenant.sandbox.env(), **_hooks("http://127.0.0.1:9")}
    refused = run_cli("serve", str(tenant.root), "--host", "0.0.0.0", env=env)
    assert refused.code == 1 and "--auth-token-env" in refused.err
    short = run_cli("serve", str(tenant.root), "--host", "0.0.0.0", "--auth-token-env", "TOK",
                    env={**env, "TOK": "short"})
    assert short.code == 1 and "shorter than 16" in short.err
    unit = run_cli("serve", str(tenant.root), "--drift-every", "10", env=env)
    assert unit.code == 1 and "30s, 15m, 1h" in unit.err
    poll = run_cli("serve", str(tenant.root), "--poll-every", "0", env=env)
    assert poll.code == 1 and "--poll-every" in poll.err and "30s, 15m, 1h" in poll.err

    with serving(tenant.root, {**env, "TOK": TOKEN}, "--drift-every", "1h", "--auth-token-env", "TOK",
                 host="0.0.0.0", token=TOKEN) as served:
        for path in ("/", "/runs", "/api/v1/runs", "/api/v1/environments", "/metrics"):
            bare = httpx.get(served.url + path)
            assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Bearer")
            wrong = httpx.get(served.url + path, headers={"Authorization": "Bearer " + "y" * 46})
            assert wrong.status_code == 401
            ok = served.get(path)
            assert ok.status_code == 200, path
            assert TOKEN not in ok.text
            for answer in (bare, ok):
                assert answer.headers["content-security-policy"].startswith("default-src 'none'")
                assert answer.headers["x-content-type-options"] == "nosniff"
        assert httpx.get(served.url + "/healthz").status_code == 200  # probes need no token
        posted = httpx.post(served.url + "/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert posted.status_code == 405  # read-only
    assert TOKEN not in served.log
    # SIGTERM: the server and the scheduler stop in order, and the process says so
    assert served.process.returncode == 0 and served.log.rstrip().endswith("stopped")


def test_env_picks_the_environments_served(project: Project) -> None:
    environments = "".join(f"  {n}:\n    variables: {{REGION: {n}}}\n" for n in ("dev", "stage", "prod"))
    (project.root / "reconciler.yaml").write_text(
        f"providers:\n{PROVIDERS['outreach']}variables: [REGION]\nenvironments:\n{environments}")
    project.write("purposes.yaml", "outreach:\n  call_purposes:\n    intro: {name: Intro ${REGION}}\n")
    env = project.sandbox.env()
    wrong = run_cli("serve", str(project.root), "--env", "qa", env=env)
    assert wrong.code == 1 and "qa" in wrong.err and "prod" in wrong.err
    with serving(project.root, env, "--drift-every", "1s", "--env", "st*", "-e", "prod") as served:
        served.wait_runs(2)
        listed = served.json("/api/v1/environments")["environments"]
        assert [e["name"] for e in listed] == ["prod", "stage"]
        assert {r["environment"] for r in served.runs("drift")} <= {"prod", "stage"}
        assert set(listed[0]["vendors"]) == {"outreach"}
        # each keeps its own state and history (state/<environment>/ by default)
        assert (project.root / "state" / "prod").is_dir() and not (project.root / "state" / "dev").exists()


def test_a_vendor_that_cannot_be_reached_shows_as_failing(tenant: Project) -> None:
    env = {**tenant.sandbox.env(), **_hooks("http://127.0.0.1:9")}
    tenant.extra_provider_settings["outreach"] = "    max_attempts: 2\n"  # one retry, not seven
    _configure(tenant)
    tenant.sandbox.running.stop()  # the tenant's own address (the state is bound to it): gone
    with serving(tenant.root, env, "--drift-every", "1s") as served:
        [run] = served.wait_runs(1)[:1]
        assert run["outcome"] == "failed" and "cannot connect" in run["error"]
        [listed] = served.json("/api/v1/environments")["environments"]
        assert listed["vendors"]["outreach"]["state"] == "failing"
        assert _value(_samples(served), "reconciler_environment_failing", environment="default") == 1
        assert _value(_samples(served), "reconciler_vendor_errors_total", vendor="outreach",
                      status="network") > 0
        assert 'data-state="failing"' in served.get("/").text
        assert "drift failed in" in served.log
