"""SuperOffice as its public references describe it (docs/vendors/superoffice.md), through
the CLI against the sandbox, under every reading of each ambiguity: lists with or without
soft-deleted purposes, unique-index violations answered 400 or 500 and compared with or
without regard to case, a tenant that moved to another host."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.providers.sandboxes import SandboxSettings
from tests.conftest import Project, Sandbox

ITEMS = "/List/ConsentPurpose/Items"
ADMIN = "/_sandbox/superoffice"


@pytest.fixture
def sandbox_settings(tmp_path: Path, request: pytest.FixtureRequest) -> SandboxSettings:
    return SandboxSettings(data_dir=tmp_path / "sandbox-data", superoffice_builtins=False,
                           options={"superoffice": dict(getattr(request, "param", {}))})


@pytest.fixture
def so(project: Project) -> Project:
    project.configure(vendors=("superoffice",))
    return project


def api(sandbox: Sandbox, method: str, path: str = "", body: Any = None,
        **headers: str) -> httpx.Response:
    o = sandbox.overrides["superoffice"]
    return httpx.request(method, o["base_url"] + ITEMS + path, json=body,
                         headers={"Authorization": f"Bearer {o['token']}", **headers})


def stored(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Every purpose held, soft-deleted ones included, as stored."""
    found = httpx.get(sandbox.url + ADMIN + "/purposes").json().values()
    return sorted(found, key=lambda p: p["ConsentPurposeId"])


def summary(sandbox: Sandbox) -> list[tuple[Any, ...]]:
    """(Key, Name, ConsentText, Active, Deleted) of every purpose held, by name."""
    return sorted((p["Key"], p["Name"], p["ConsentText"], p["Active"], p["Deleted"])
                  for p in stored(sandbox))


TWO = """\
superoffice:
  consent_purposes:
    news:
      name: Newsletter
      key: "#News"
      consent_text: {text}
    events:
      name: Events
{events}"""


def manifest(text: str = "Monthly", events: str = "") -> str:
    return TWO.format(text=text, events=events)


@pytest.mark.parametrize("sandbox_settings", [{"list_deleted": True}, {"list_deleted": False}],
                         indirect=True, ids=["list-shows-deleted", "list-hides-deleted"])
def test_apply_noop_update_saved_plan_and_revive(so: Project) -> None:
    """Whether or not the list shows soft-deleted purposes, one deleted by the tool or behind
    its back is revived, never created twice."""
    so.write("purposes.yaml", manifest())
    assert so.apply().code == 0
    assert summary(so.sandbox) == [("", "Events", "", 1, False),
                                   ("#News", "Newsletter", "Monthly", 1, False)]
    assert so.plan().code == 0

    so.write("purposes.yaml", manifest(text="Weekly"))
    plan_file = so.root.parent / "update.plan"
    assert so.plan("--out", str(plan_file)).code == 2
    assert so.cli("apply", str(plan_file)).code == 0
    assert summary(so.sandbox)[1] == ("#News", "Newsletter", "Weekly", 1, False)

    news = next(p["ConsentPurposeId"] for p in stored(so.sandbox) if p["Key"] == "#News")
    assert api(so.sandbox, "DELETE", f"/{news}").status_code == 204  # behind the tool's back
    revive = so.plan()
    assert revive.code == 2 and "revive: remote object is deleted" in revive.out, revive.out
    assert "0 to add" in revive.out
    assert so.apply().code == 0
    assert summary(so.sandbox)[1] == ("#News", "Newsletter", "Weekly", 1, False)

    so.write("purposes.yaml", manifest(events="      on_delete: delete\n"))
    assert so.apply().code == 0
    so.write("purposes.yaml", manifest().replace("    events:\n      name: Events\n", ""))
    assert so.apply().code == 0  # soft-deletes Events and forgets it
    assert summary(so.sandbox)[0] == ("", "Events", "", 1, True)
    so.write("purposes.yaml", manifest())
    back = so.plan()
    assert back.code == 2 and "revive" in back.out and "0 to add" in back.out, back.out
    assert so.apply().code == 0
    assert summary(so.sandbox) == [("", "Events", "", 1, False),
                                   ("#News", "Newsletter", "Monthly", 1, False)]
    assert so.plan().code == 0


@pytest.mark.parametrize("sandbox_settings", [{"list_deleted": False, "mdo_deleted": False}],
                         indirect=True)
def test_a_deleted_purpose_no_call_shows_is_a_clear_error_not_a_loop(so: Project) -> None:
    """The worst reading: neither list shows soft-deleted purposes, and the state no longer
    records one: re-declaring it cannot be revived; the create's refusal says why, once."""
    made = api(so.sandbox, "POST", body={"Name": "Events", "Key": ""}).json()
    assert api(so.sandbox, "DELETE", f"/{made['ConsentPurposeId']}").status_code == 204
    so.write("purposes.yaml", manifest())
    before = so.sandbox.requests().get("superoffice POST", 0)
    applied = so.apply()
    assert applied.code == 1, applied.text
    assert "no listed purpose holds this name or key; if a soft-deleted one does" in applied.text
    assert so.sandbox.requests().get("superoffice POST", 0) - before == 2  # one per purpose
    assert [(p["Name"], p["Deleted"]) for p in stored(so.sandbox)] == [
        ("Events", True), ("Newsletter", False)]


@pytest.mark.parametrize("sandbox_settings", [
    {"unique_status": 400, "unique_case": "insensitive"},
    {"unique_status": 500, "unique_case": "insensitive"},
    {"unique_status": 400, "unique_case": "sensitive"}], indirect=True,
    ids=["400-ignoring-case", "500-ignoring-case", "400-exact"])
def test_a_create_that_collides_names_the_holder_and_sends_once(
        so: Project, sandbox_settings: SandboxSettings) -> None:
    """SuperOffice's unique index ignores case (issue 21): a create of "NEWSLETTER" beside a
    listed "Newsletter" is refused by the plan, naming the holder, before anything is sent,
    whatever the sandbox's own switch would have answered."""
    made = api(so.sandbox, "POST", body={"Name": "Newsletter", "Key": "#Old"})
    assert made.status_code == 200
    so.write("purposes.yaml", manifest().replace("name: Newsletter", "name: NEWSLETTER"))
    before = so.sandbox.requests().get("superoffice POST", 0)
    applied = so.apply()
    posts = so.sandbox.requests().get("superoffice POST", 0) - before
    assert applied.code == 3, applied.text
    assert f"remote object {made.json()['ConsentPurposeId']} has name 'Newsletter'" in applied.text
    assert "without regard to case" in applied.text, applied.text
    assert posts == 0  # refused whole at plan time: not even the other purpose is sent
    assert sorted(p["Name"] for p in stored(so.sandbox)) == ["Newsletter"]


def test_unique_name_and_key_and_limits_are_checked_while_loading(so: Project) -> None:
    so.write("purposes.yaml", """\
        superoffice:
          consent_purposes:
            a:
              name: Newsletter
              key: "#A"
            b:
              name: newsletter
              key: "#B"
            c:
              name: C
              key: "#a"
            d:
              name: D
              rank: 65536
            e:
              name: E
              tooltip: {long}
        """.replace("{long}", "x" * 4001))
    result = so.plan()
    assert result.code == 1, result.text
    text = result.text
    assert "purposes.yaml:7:" in text and "name 'newsletter' is also declared by the purpose " \
        "with key '#A'" in text
    assert "purposes.yaml:10:" in text and "key '#a' is also declared" in text
    assert "rank" in text and "65535" in text
    assert "tooltip" in text and "4000" in text
    assert so.sandbox.requests().get("superoffice GET", 0) == 0  # nothing was sent


@pytest.mark.parametrize("sandbox_settings", [{"moved": False}, {"moved": True}], indirect=True,
                         ids=["in-place", "moved"])
@pytest.mark.parametrize("with_base_url", [True, False], ids=["base-url", "tenant-only"])
def test_the_tenant_root_is_resolved_and_followed_on_421(
        so: Project, sandbox_settings: SandboxSettings, with_base_url: bool) -> None:
    url = so.sandbox.url
    base = f"    base_url: {url}/superoffice/Cust12345/api/v1\n" if with_base_url else ""
    (so.root / "reconciler.yaml").write_text(
        "state:\n  backend: local\n  path: state/default.json\nproviders:\n  superoffice:\n"
        f"{base}    tenant: Cust12345\n    environment: sandbox\n"
        f"    state_api: {url}/superoffice/api/state/{{tenant}}\n    token: ${{SO_TOKEN}}\n")
    env = {"SO_TOKEN": so.sandbox.overrides["superoffice"]["token"]}
    so.write("purposes.yaml", manifest())
    applied = so.apply(env=env)
    assert applied.code == 0, applied.text
    assert so.plan(env=env).code == 0
    assert sorted(p["Name"] for p in stored(so.sandbox)) == ["Events", "Newsletter"]


@pytest.mark.parametrize("sandbox_settings", [{"links": True}, {"links": False}], indirect=True,
                         ids=["links", "no-links"])
def test_accept_language_and_puts_that_keep_multi_language_values(so: Project) -> None:
    """Read in English (Accept-Language: en); a PUT starts from the item read without it,
    so an unmanaged multi-language tooltip is sent back whole, and echoes no server-owned
    field."""
    ml = 'US:"Our newsletter";GE:"Unser Rundbrief"'
    made = api(so.sandbox, "POST", body={"Name": ml, "Key": "#News", "Tooltip": ml})
    assert made.status_code == 200
    assert api(so.sandbox, "GET", f"/{made.json()['ConsentPurposeId']}",
               **{"Accept-Language": "en"}).json()["Name"] == "Our newsletter"
    so.write("purposes.yaml", manifest().replace("name: Newsletter", "name: Our newsletter"))
    applied = so.apply()
    assert applied.code == 0, applied.text
    news = stored(so.sandbox)[0]
    assert (news["Name"], news["Tooltip"], news["ConsentText"]) == (ml, ml, "Monthly")
    put = httpx.get(so.sandbox.url + ADMIN + "/last_put").json()
    assert not {"_Links", "UpdatedBy", "UpdatedDate", "TableRight", "FieldProperties"} & set(put)
    assert so.plan().code == 0


def test_sandbox_defaults_are_the_references_readings(so: Project) -> None:
    """Items carry no `_Links` unless the switch asks (no response table lists it); the
    state API's answer carries `ValidUntil`."""
    made = api(so.sandbox, "POST", body={"Name": "News", "Key": "#News"})
    assert made.status_code == 200 and "_Links" not in made.json()
    assert all("_Links" not in item for item in api(so.sandbox, "GET").json())
    state = httpx.get(so.sandbox.url + "/superoffice/api/state/Cust12345").json()
    assert state["Api"].endswith("/api") and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", state["ValidUntil"])
