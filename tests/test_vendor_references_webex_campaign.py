"""Webex Campaign as its public references describe it (docs/vendors/webex_campaign.md),
through the CLI against the sandbox, under every reading of each ambiguity: reads by id
that answer an object or a one-element array, success as 200 or 201, groups stored as sent
or upper-cased, body codes with HTTP 200 or 500, duplicate names compared exactly or
ignoring case, records appended or upserted, tokens that expire."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.providers.sandboxes import SandboxSettings
from tests.conftest import Project, Sandbox

ADMIN = "/_sandbox/webex_campaign"
CLIENT = ("sandbox-client", "sandbox-client-secret", "sandbox-auth-key")


@pytest.fixture
def sandbox_settings(tmp_path: Path, request: pytest.FixtureRequest) -> SandboxSettings:
    """The sandbox under the switches a test is parametrised with."""
    return SandboxSettings(data_dir=tmp_path / "sandbox-data", superoffice_builtins=False,
                           options={"webex_campaign": dict(getattr(request, "param", {}))})


@pytest.fixture
def webex(project: Project) -> Project:
    project.configure(vendors=("webex_campaign",))
    return project


def hub(sandbox: Sandbox, method: str, path: str, body: Any = None) -> httpx.Response:
    o = sandbox.overrides["webex_campaign"]
    return httpx.request(method, o["base_url"] + path, json=body,
                         headers={"Authorization": f"Bearer {o['token']}"})


def stored(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Every purpose the vendor holds, as stored (admin view)."""
    return sorted(httpx.get(sandbox.url + ADMIN + "/purposes").json().values(),
                  key=lambda p: int(p["id"]))


def rows(sandbox: Sandbox, expect: int) -> list[dict[str, Any]]:
    """Feed 1499's rows once `expect` of them are applied (the API inserts later)."""
    deadline = time.monotonic() + 2.0
    while True:
        found: list[dict[str, Any]] = httpx.get(sandbox.url + ADMIN + "/datastores").json() \
            .get("1466", {}).get("1499", [])
        if len(found) >= expect or time.monotonic() > deadline:
            time.sleep(0.1)  # and nothing more arrives
            return httpx.get(sandbox.url + ADMIN + "/datastores").json() \
                .get("1466", {}).get("1499", [])
        time.sleep(0.05)


def posts(sandbox: Sandbox) -> int:
    return sandbox.requests().get("webex_campaign POST", 0)


PURPOSES = """\
webex_campaign:
  purposes:
    alpha:
      name: Alpha
      group: Sales
      description: {alpha}
    beta:
      name: Beta
{beta}"""


def manifest(alpha: str = "first", beta: str = "") -> str:
    return PURPOSES.format(alpha=alpha, beta=beta)


READINGS = [
    {"by_id": "object", "success_status": 200, "group_case": "as_sent"},
    {"by_id": "array", "success_status": 201, "group_case": "upper"},
    {"by_id": "array", "success_status": 200, "group_case": "as_sent"},
    {"by_id": "object", "success_status": 201, "group_case": "upper"},
]


@pytest.mark.parametrize("sandbox_settings", READINGS, indirect=True,
                         ids=lambda r: "-".join(str(v) for v in r.values()))
def test_purposes_apply_noop_update_and_saved_plan(webex: Project,
                                                   sandbox_settings: SandboxSettings) -> None:
    """Create, adopt without moving the group, no-op, update through a saved plan: the
    vendor holds exactly the manifests, whatever the read shape, success status or case."""
    upper = sandbox_settings.options["webex_campaign"]["group_case"] == "upper"
    made = hub(webex.sandbox, "POST", "/purposes", {"name": "Beta", "group": "Marketing"})
    assert made.status_code in (200, 201), made.text
    webex.write("purposes/webex.yaml", manifest())

    applied = webex.apply()
    assert applied.code == 0, applied.text
    assert "Apply complete" in applied.out or "applied" in applied.out.lower(), applied.out
    sales, marketing = ("SALES", "MARKETING") if upper else ("Sales", "Marketing")
    assert [(p["name"], p["group"], p["description"]) for p in stored(webex.sandbox)] == [
        ("Beta", marketing, None), ("Alpha", sales, "first")]  # adopted Beta kept its group

    noop = webex.plan()
    assert noop.code == 0, noop.text  # "SALES" stored for "Sales" is no change

    webex.write("purposes/webex.yaml", manifest(alpha="second", beta="      description: b\n"))
    plan_file = webex.root.parent / "update.plan"
    planned = webex.plan("--out", str(plan_file))
    assert planned.code == 2, planned.text
    assert "group" not in planned.out  # undeclared for beta, unchanged for alpha
    saved = webex.cli("apply", str(plan_file))
    assert saved.code == 0, saved.text
    assert [(p["name"], p["group"], p["description"]) for p in stored(webex.sandbox)] == [
        ("Beta", marketing, "b"), ("Alpha", sales, "second")]
    assert webex.plan().code == 0


def test_group_declared_is_sent_as_written_and_a_change_of_case_alone_is_none(
        webex: Project) -> None:
    webex.write("purposes/webex.yaml", manifest())
    assert webex.apply().code == 0
    assert stored(webex.sandbox)[0]["group"] == "Sales"  # not "SALES"
    webex.write("purposes/webex.yaml", manifest().replace("group: Sales", "group: SALES"))
    assert webex.plan().code == 0


@pytest.mark.parametrize("sandbox_settings", [{"token_uses": 2, "token_expiry_announced": False},
                                              {"token_uses": 0}], indirect=True,
                         ids=["expires-after-2-requests", "lasts-the-run"])
def test_client_credentials_tokens_minted_cached_and_renewed(
        webex: Project, sandbox_settings: SandboxSettings) -> None:
    """No static key: a token is minted on the tenant host, shared by both hosts, and minted
    again only when the vendor answers 498; no credential reaches output or state."""
    client_id, secret, auth_key = CLIENT
    env = webex.sandbox.env()
    block = (f"providers:\n  webex_campaign:\n    base_url: {env['WEBEX_CAMPAIGN_BASE_URL']}\n"
             f"    tenant_url: {env['WEBEX_CAMPAIGN_TENANT_URL']}\n"
             "    client_id: ${WX_ID}\n    client_secret: ${WX_SECRET}\n    auth_key: ${WX_KEY}\n"
             "    concurrency: 1\n")  # a token expiring after N calls needs calls in order
    (webex.root / "reconciler.yaml").write_text(
        "state:\n  backend: local\n  path: state/default.json\n" + block)
    creds = {"WX_ID": client_id, "WX_SECRET": secret, "WX_KEY": auth_key}
    webex.write("purposes/webex.yaml", manifest() + "  datastore_records:\n    c:\n"
                "      datastore_id: \"1466\"\n      feed_id: \"1499\"\n"
                "      records: [{msisdn: \"+1\"}]\n")
    applied = webex.apply(env=creds)
    assert applied.code == 0, applied.text
    assert len(stored(webex.sandbox)) == 2 and len(rows(webex.sandbox, 1)) == 1
    assert webex.plan(env=creds).code == 0
    minted = httpx.get(webex.sandbox.url + ADMIN + "/tokens").json()["minted"]
    renewing = sandbox_settings.options["webex_campaign"]["token_uses"] == 2
    assert minted >= 3 if renewing else minted == 2  # one per run when the token lasts
    state = (webex.root / "state" / "default.json").read_text()
    for secret_value in (secret, auth_key):
        assert secret_value not in applied.text + state


@pytest.mark.parametrize("sandbox_settings", [
    {"body_code_status": 200, "deployments": {"D1": 1104}},
    {"body_code_status": 500, "deployments": {"D1": 1104}}], indirect=True,
    ids=["http-200", "http-500"])
def test_notify_rejection_codes_are_definite_whatever_the_status(
        webex: Project, sandbox_settings: SandboxSettings) -> None:
    """1104 (not an async action) is a rejection: sent once, never "may have been recorded"."""
    webex.write("purposes/webex.yaml", manifest())
    before = posts(webex.sandbox)
    result = webex.apply("--notify-webex-deployment", "D1", "--notify-webex-transaction", "T1")
    assert result.code == 0, result.text  # the apply's own outcome stands
    assert "only asynchronous External Actions take notifications" in result.text
    assert "may or may not" not in result.text
    assert posts(webex.sandbox) - before == 2 + 1  # two creates, one notification


def records_manifest(records: list[dict[str, str]]) -> str:
    listed = "".join("        - " + json.dumps(r) + "\n" for r in records)
    return ("webex_campaign:\n  datastore_records:\n    contacts:\n"
            "      datastore_id: \"1466\"\n      feed_id: \"1499\"\n      records:\n" + listed)


RECORDS = [{"msisdn": f"+4420{n}", "firstname": f"P{n}"} for n in range(5)]


@pytest.mark.parametrize("sandbox_settings", [
    {"records": "append", "records_fail_after_write": 1},
    {"records": "upsert", "records_fail_after_write": 1}], indirect=True,
    ids=["append", "upsert"])
def test_records_are_never_resent_after_an_ambiguous_failure(
        webex: Project, sandbox_settings: SandboxSettings) -> None:
    """Batch 1 is written but answered 500: the apply stops, says the records may have been
    written and how to push again, and sends nothing more; the user drops what arrived and
    pushes the rest: the feed then holds each record once."""
    webex.extra_provider_settings["webex_campaign"] = "    batch_size: 2\n"
    webex.configure(vendors=("webex_campaign",))
    webex.write("records.yaml", records_manifest(RECORDS))
    failed = webex.apply()
    assert failed.code == 1, failed.text
    assert "may have been written" in failed.text and "reconciler apply" in failed.text
    assert posts(webex.sandbox) == 1
    assert rows(webex.sandbox, 2) == RECORDS[:2]
    again = webex.plan()
    assert again.code == 2 and "may have been written" in again.out, again.out  # still a push
    webex.write("records.yaml", records_manifest(RECORDS[2:]))
    pushed = webex.apply()
    assert pushed.code == 0, pushed.text
    assert posts(webex.sandbox) == 1 + 2  # three records in batches of two
    assert rows(webex.sandbox, 5) == RECORDS
    assert webex.plan().code == 0


@pytest.mark.parametrize("sandbox_settings", [
    {"datastore_columns": {"1466": {"msisdn": 15, "firstname": 5}}},
    {"datastore_columns": {"1466": {"msisdn": 15, "firstname": 5}}, "datastore_attributes": "list"}],
    indirect=True, ids=["object", "list"])
def test_records_checked_against_the_datastore_columns_before_sending(webex: Project) -> None:
    """The datastore-attributes answer is the reference's object (`datastore-id`,
    `datastore-name`, `columns`), or a list of them (the one asked for is read)."""
    env = webex.sandbox.env()
    metadata = env["WEBEX_CAMPAIGN_TENANT_URL"].replace("/resources/v3", "/metadata/v3/datastore")
    webex.extra_provider_settings["webex_campaign"] = f"    datastore_metadata: {metadata}\n"
    webex.configure(vendors=("webex_campaign",))
    webex.write("records.yaml", records_manifest([{"msisdn": "+1", "emailid": "a@b.c"}]))
    unknown = webex.apply()
    assert unknown.code == 1 and "records[0].emailid is not a column of datastore 1466" \
        in unknown.text, unknown.text
    webex.write("records.yaml", records_manifest([{"msisdn": "+1", "firstname": "Alexandra"}]))
    long = webex.apply()
    assert long.code == 1 and "more than the max-length 5 of column firstname" in long.text
    assert posts(webex.sandbox) == 0
    webex.write("records.yaml", records_manifest([{"msisdn": "+1", "firstname": "Alex"}]))
    assert webex.apply().code == 0
    assert rows(webex.sandbox, 1) == [{"msisdn": "+1", "firstname": "Alex"}]


@pytest.mark.parametrize("sandbox_settings", [{"duplicate_names": "exact"},
                                              {"duplicate_names": "casefold"}], indirect=True,
                         ids=["exact", "casefold"])
def test_duplicate_names_exact_then_ignoring_case(webex: Project,
                                                  sandbox_settings: SandboxSettings) -> None:
    """A remote purpose whose name differs only in case is not adopted (names are matched
    exactly): where the vendor's duplicate check ignores case, the create's 409 becomes a
    clear error naming it; where it does not, a second purpose is made."""
    hub(webex.sandbox, "POST", "/purposes", {"name": "BETA"})
    webex.write("purposes/webex.yaml", manifest())
    applied = webex.apply()
    names = [p["name"] for p in stored(webex.sandbox)]
    if sandbox_settings.options["webex_campaign"]["duplicate_names"] == "casefold":
        assert applied.code == 1, applied.text
        assert "purpose 700 is named 'BETA': declare that exact name to adopt it" in applied.text
        assert names == ["BETA", "Alpha"]
        webex.write("purposes/webex.yaml", manifest().replace("name: Beta", "name: BETA"))
        assert webex.apply().code == 0
        assert [p["name"] for p in stored(webex.sandbox)] == ["BETA", "Alpha"]
    else:
        assert applied.code == 0, applied.text
        assert names == ["BETA", "Alpha", "Beta"]
    assert webex.plan().code == 0


def test_datastore_attributes_are_read_as_the_reference_documents_them() -> None:
    from reconciler.providers.webex_campaign.datastore import columns

    cols = [{"datatype": "STRING", "id": "1", "name": "msisdn", "max-length": 15},
            {"datatype": "STRING", "id": "2", "name": "firstname", "max-length": "5"}]
    found = {"datastore-id": "1466", "datastore-name": "Contacts", "columns": cols}
    assert columns(found, "1466") == {"msisdn": 15, "firstname": 5}
    other = {"datastore-id": 9, "datastore-name": "Other", "columns": [{"name": "x"}]}
    assert columns([other, {**found, "datastore-id": 1466}], "1466") == {"msisdn": 15, "firstname": 5}
    assert columns(cols, "1466") is None  # a bare list is not the columns
    assert columns(other, "1466") is None  # another datastore's
    assert columns([other], "1466") is None
