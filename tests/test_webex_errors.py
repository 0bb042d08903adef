"""Every documented Webex Campaign error code reaches the user as a clear message: through
the CLI where a user can meet it, at the provider/client level against the real sandbox
for the codes a correct client never provokes, and from hand-built responses for parsing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from reconciler.errors import AmbiguousWriteError, ConfigError, ConflictError, VendorError
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from reconciler.providers.webex_campaign.provider import (
    DatastoreRecordsKind,
    PurposeKind,
    WebexCampaignProvider,
    WebexCampaignSettings,
    check_body,
    parse_error,
    vendor_client,
)
from reconciler.providers.webex_campaign.sandbox import EXPIRED_KEY as WEBEX_EXPIRED_KEY
from reconciler.providers.webex_campaign.sandbox import KEYS as WEBEX_KEYS
from reconciler.providers.webex_campaign.sandbox import WebexSandboxConfig, create_apps
from reconciler.sandbox.common import Faults, RequestLog, Table
from tests.conftest import Project, Sandbox

T = TypeVar("T")
ONE = """\
webex_campaign:
  purposes:
    marketing: {name: Marketing_Purpose, description: Marketing purpose}
"""
KEY_HINT = ("check the API key in providers.webex_campaign.token (e.g. WEBEX_CAMPAIGN_TOKEN) and "
            "that it is enabled for this API")


def settings_for(sandbox: Sandbox, **extra: Any) -> WebexCampaignSettings:
    return WebexCampaignSettings(**{**sandbox.overrides["webex_campaign"], **extra})


def with_provider(settings: WebexCampaignSettings,
                  use: Callable[[WebexCampaignProvider], Awaitable[T]]) -> T:
    async def run() -> T:
        provider = WebexCampaignProvider(settings)
        try:
            return await use(provider)
        finally:
            await provider.aclose()

    return asyncio.run(run())


def failure(settings: WebexCampaignSettings,
            use: Callable[[WebexCampaignProvider], Awaitable[Any]]) -> VendorError:
    async def expect(provider: WebexCampaignProvider) -> VendorError:
        try:
            await use(provider)
        except VendorError as exc:
            return exc
        raise AssertionError("no error")

    return with_provider(settings, expect)


@pytest.fixture
def webex(project: Project) -> Project:
    project.configure(vendors=("webex_campaign",))
    project.write("purposes/webex.yaml", ONE)
    return project


# ------------------------------------------------------------ through the CLI ----

def test_wrong_token_is_430_naming_the_setting(webex: Project) -> None:
    result = webex.plan(env={"WEBEX_CAMPAIGN_TOKEN": "not-the-right-key"})
    assert result.code == 1, result.text
    assert "webex_campaign refused the request (HTTP 401 [430]): GET /webex/v1/purposes: " \
           "Authorization failed." in result.err
    assert KEY_HINT in result.err
    assert "not-the-right-key" not in result.text and "Traceback" not in result.text


def test_expired_key_is_498_saying_to_renew(webex: Project) -> None:
    result = webex.plan(env={"WEBEX_CAMPAIGN_TOKEN": WEBEX_EXPIRED_KEY})
    assert result.code == 1, result.text
    assert "(HTTP 401 [498])" in result.err and "Invalid token or Access token expired" in result.err
    assert "renew the API key (or access token) in Webex Campaign and update " \
           "providers.webex_campaign.token (e.g. WEBEX_CAMPAIGN_TOKEN)" in result.err
    assert WEBEX_EXPIRED_KEY not in result.text


@contextmanager
def project_on(tmp_path: Path, settings: SandboxSettings, provider_extra: str) -> Iterator[Project]:
    with RunningSandbox(settings) as running:
        root = tmp_path / "m"
        root.mkdir()
        project = Project(root, Sandbox(running))
        project.extra_provider_settings["webex_campaign"] = provider_extra
        project.configure(vendors=("webex_campaign",))
        project.write("purposes/webex.yaml", ONE)
        yield project


def test_throttled_429_gives_up_with_a_clear_message(tmp_path: Path) -> None:
    settings = SandboxSettings(data_dir=tmp_path / "d", webex_campaign_rate_limit=1, webex_campaign_rate_window_s=60)
    with project_on(tmp_path, settings, "    max_attempts: 1\n") as project:
        assert httpx.get(project.sandbox.url + "/webex/v1/purposes").json()["code"] == 430  # uses the quota
        result = project.plan()
        assert result.code == 1, result.text
        assert "(HTTP 429 [429]): GET /webex/v1/purposes: Too many requests. Throttle limit " \
               "reached for the time window." in result.err
        assert "reconciler retried with backoff and gave up" in result.err


def test_server_error_500_is_reported_after_retries(tmp_path: Path) -> None:
    settings = SandboxSettings(data_dir=tmp_path / "d", faults=Faults(rate_500=1.0))
    with project_on(tmp_path, settings, "    max_attempts: 2\n") as project:
        result = project.plan()
        assert result.code == 1, result.text
        assert "(HTTP 500 [500]): GET /webex/v1/purposes: Internal server error — Webex Campaign " \
               "failed internally; try again later" in result.err
        assert project.sandbox.requests()["webex_campaign GET"] == 2  # retried once


def test_bad_records_are_refused_before_any_request(webex: Project) -> None:
    webex.write("purposes/records.yaml", """\
        webex_campaign:
          datastore_records:
            contacts:
              datastore_id: 1466
              feed_id: "1499"
              records:
                - {msisdn: +442332223424, firstname: John}
                - {"": x}
        """)
    result = webex.cli("validate", str(webex.root))
    assert result.code == 1, result.text
    assert 'records.yaml:4:21: datastore_records.contacts.datastore_id: expected a string, got ' \
           '1466 (quote it: "1466")' in result.err
    assert 'records.yaml:7:20: datastore_records.contacts.records.0.msisdn: expected a string, got ' \
           '442332223424 (quote it: "+442332223424")' in result.err
    assert "records.yaml:8:16: datastore_records.contacts.records.1..[key]: must not be empty" in result.err
    assert webex.sandbox.requests() == {}


# ------------------------------------------------ provider/client level, real HTTP ----

def test_missing_name_is_400(sandbox: Sandbox) -> None:
    error = failure(settings_for(sandbox),
                    lambda p: p.client.request("POST", "/purposes", json={"group": "DEFAULT"}))
    assert (error.status, error.code) == (400, "400")
    assert error.detail == ("POST /webex/v1/purposes: Please enter the Purpose Name — a purpose "
                            "needs a non-empty name")


def test_unknown_purpose_is_404_and_reads_as_none(sandbox: Sandbox) -> None:
    async def use(provider: WebexCampaignProvider) -> VendorError:
        kind = provider.kind_objects["purpose"]
        assert await kind.read("999") is None
        try:
            await kind.update("999", {"name": "X", "group": "DEFAULT", "description": "d"},
                              frozenset({"name"}), None)
        except VendorError as exc:
            return exc
        raise AssertionError("no error")

    error = with_provider(settings_for(sandbox), use)
    assert (error.status, error.code) == (404, "404")
    assert "PUT /webex/v1/purposes/999: Not found — check providers.webex_campaign.base_url" in error.detail


def test_delete_is_405_method_not_supported(sandbox: Sandbox) -> None:
    made = httpx.post(sandbox.overrides["webex_campaign"]["base_url"] + "/purposes", json={"name": "P"},
                      headers={"Authorization": f"Bearer {WEBEX_KEYS[0]}"}).json()
    error = failure(settings_for(sandbox), lambda p: p.client.request("DELETE", f"/purposes/{made['id']}"))
    assert (error.status, error.code) == (405, "405")
    assert "Method not supported — Webex Campaign has no such operation (purposes cannot be deleted)" \
        in error.detail


def test_duplicate_name_on_create_is_a_conflict(sandbox: Sandbox) -> None:
    async def use(provider: WebexCampaignProvider) -> VendorError:
        kind = provider.kind_objects["purpose"]
        first = await kind.create({"name": "Dup", "group": "DEFAULT"})
        assert first.remote_id.isdigit()
        assert first.attributes == {"name": "Dup", "group": "DEFAULT", "description": ""}
        try:
            await kind.create({"name": "Dup", "group": "OTHER"})
        except ConflictError as exc:
            assert await kind.lookup("Dup") == await kind.read(first.remote_id)
            return exc
        raise AssertionError("no conflict")

    error = with_provider(settings_for(sandbox), use)
    assert (error.status, error.code) == (409, "409")
    assert "This Purpose already exists." in error.detail


def test_invalid_json_1001_says_it_is_a_bug_and_hides_the_token(sandbox: Sandbox) -> None:
    settings = settings_for(sandbox, max_attempts=1)
    assert httpx.post(settings.base_url + "/purposes", json={"name": "P"},
                      headers={"Authorization": f"Bearer {WEBEX_KEYS[0]}"}).json()["id"] == "700"
    post = failure(settings, lambda p: p.client.request("POST", "/purposes", json={"name": "x", "group": 5}))
    assert not isinstance(post, AmbiguousWriteError)  # body code 1001: definite, whatever the status
    put = failure(settings, lambda p: p.client.request("PUT", "/purposes/700", json=["not", "an", "object"]))
    for error, method in ((post, "POST /webex/v1/purposes"), (put, "PUT /webex/v1/purposes/700")):
        assert (error.status, error.code) == (500, "1001")
        assert f"{method}: Invalid input JSON — Webex Campaign could not read the JSON reconciler " \
               "sent: this is a bug in reconciler — please report it" in error.detail
        assert WEBEX_KEYS[0] not in str(error)


def test_datastore_499_and_1002(sandbox: Sandbox) -> None:
    settings = settings_for(sandbox, max_attempts=1)
    nested = failure(settings, lambda p: p.tenant_client.request(
        "POST", "/datastore/records", json={"datastore-id": "1", "feed-id": "2", "records": [{"a": {"b": 1}}]}))
    assert (nested.status, nested.code) == (499, "499")
    assert "Request failed." in nested.detail and "check that their fields match" in nested.detail
    missing = failure(settings, lambda p: p.tenant_client.request(
        "POST", "/datastore/records", json={"datastore-id": "1", "records": []}, idempotent=True))
    assert (missing.status, missing.code) == (500, "1002")
    assert "Mandatory field missing — reconciler sent no datastore-id, feed-id or records: this is " \
           "a bug in reconciler" in missing.detail


def test_unknown_feed_is_1010_in_an_http_200_body() -> None:
    """The shared sandbox accepts any datastore; this one (same code, in-process) knows one feed."""
    apps = create_apps(Table(None), WebexSandboxConfig(
        api_keys={"k"}, expired_keys=set(), known_datastores={"1466": {"1499"}}), Faults(), RequestLog())
    settings = WebexCampaignSettings(base_url="http://127.0.0.1:9/v1", tenant_url="http://tenant.test",
                                     token="k", allow_insecure_http=True)

    async def run() -> VendorError:
        client = vendor_client(settings, settings.tenant_url, transport=httpx.ASGITransport(app=apps.tenant))
        kind = DatastoreRecordsKind(client, settings)
        try:
            pushed = await kind.push({"datastore_id": "1466", "feed_id": "1499", "records": [{"msisdn": "1"}]})
            assert pushed.meta["trans_id"]
            await kind.push({"datastore_id": "1466", "feed_id": "9999", "records": [{"msisdn": "1"}]})
        except VendorError as exc:
            return exc
        finally:
            await client.aclose()
        raise AssertionError("no error")

    error = asyncio.run(run())
    assert (error.status, error.code) == (200, "1010")
    assert error.detail == ("POST /datastore/records: The request was not processed. — check that "
                            "datastore_id and feed_id exist in this tenant and that the API key may "
                            "write to them")


def test_record_limits_are_checked_before_sending(sandbox: Sandbox) -> None:
    records = [{"msisdn": str(i), "note": "x" * 40} for i in range(3)]

    async def push(provider: WebexCampaignProvider, limits: dict[str, int]) -> str:
        kind = provider.kind_objects["datastore_records"]
        kind.settings = settings_for(sandbox, **limits)
        try:
            await kind.push({"datastore_id": "1466", "feed_id": "1499", "records": records})
        except ConfigError as exc:
            return str(exc)
        raise AssertionError("no error")

    settings = settings_for(sandbox)
    too_many = with_provider(settings, lambda p: push(p, {"max_records": 2}))
    too_big = with_provider(settings, lambda p: push(p, {"max_record_bytes": 40}))
    assert too_many == ("datastore_records for datastore 1466, feed 1499: 3 records, more than "
                        "providers.webex_campaign.max_records (2); split them into several entries "
                        "or raise the limit")
    assert too_big == ("datastore_records for datastore 1466, feed 1499: records[0] is 64 bytes as "
                       "JSON, more than providers.webex_campaign.max_record_bytes (40)")
    assert sandbox.requests() == {}


def test_throttling_without_retry_after_is_retried_with_backoff(tmp_path: Path) -> None:
    settings = SandboxSettings(data_dir=tmp_path / "d", webex_campaign_rate_limit=2, webex_campaign_rate_window_s=0.2)
    with RunningSandbox(settings) as running:
        sandbox = Sandbox(running)

        async def use(provider: WebexCampaignProvider) -> list[int]:
            kind = provider.kind_objects["purpose"]
            return [len(found) for found in await asyncio.gather(*(kind.list() for _ in range(6)))]

        assert with_provider(settings_for(sandbox), use) == [0] * 6
        assert sandbox.requests()["webex_campaign GET"] > 6  # some were throttled, then retried


# ------------------------------------------------------ hand-built responses ----

REQUEST = httpx.Request("POST", "https://tenant.example/campaignapi/resources/v3/datastore/records")


@pytest.mark.parametrize(("status", "body", "code", "message"), [
    (401, {"code": "430", "description": "Authorization failed."}, "430",
     f"POST /campaignapi/resources/v3/datastore/records: Authorization failed. — {KEY_HINT}"),
    (401, {}, None, "POST /campaignapi/resources/v3/datastore/records: Unauthorized — check the API "
     "key in providers.webex_campaign.token (e.g. WEBEX_CAMPAIGN_TOKEN), that it is enabled for "
     "this API, and renew it if it has expired"),
    (502, "<html>Bad gateway</html>", None,
     "POST /campaignapi/resources/v3/datastore/records: <html>Bad gateway</html>"),
    (500, {"code": 1001}, "1001", "POST /campaignapi/resources/v3/datastore/records: Internal Server "
     "Error — Webex Campaign could not read the JSON reconciler sent: this is a bug in reconciler — "
     "please report it (with the method and path above)"),
    (400, {"code": 7777, "description": "Odd"}, "7777", "POST /campaignapi/resources/v3/datastore/"
     "records: Odd — Webex Campaign code 7777 is not documented; its description says why"),
    (429, {"code": True, "description": "Too many requests."}, None,
     "POST /campaignapi/resources/v3/datastore/records: Too many requests. — throttled: reconciler "
     "retried with backoff and gave up; try again later, or lower providers.webex_campaign."
     "concurrency or raise max_attempts"),
])
def test_parse_error_is_lenient(status: int, body: Any, code: str | None, message: str) -> None:
    response = (httpx.Response(status, text=body, request=REQUEST) if isinstance(body, str)
                else httpx.Response(status, json=body, request=REQUEST))
    assert parse_error(response) == (code, message)


def test_parse_error_without_a_request() -> None:
    assert parse_error(httpx.Response(405, json={"code": 405, "description": "Method not supported"})) == (
        "405", "Method not supported — Webex Campaign has no such operation (purposes cannot be deleted); "
        "check providers.webex_campaign.base_url, tenant_url, datastore_path and notify_path")


@pytest.mark.parametrize(("body", "failed"), [
    ({"statuscode": 1010, "description": "The request was not processed.",
      "result": {"status": 1010, "description": "The request was not processed."}}, "1010"),
    ({"statuscode": 0, "result": {"status": "1010"}}, "1010"),
    ({"code": "499", "description": "Request failed."}, "499"),
    ({"statuscode": 0, "description": "", "trans_id": "abc", "result": {"status": 0}}, None),
    ({"code": 1100, "description": "The Response has been notified successfully"}, None),
    ({"id": "738", "name": "Marketing_Purpose", "message": "Purpose added/updated successfully."}, None),
    ([{"id": 738, "name": "Marketing_Purpose"}], None),
])
def test_check_body_reads_the_code_whatever_the_status(body: Any, failed: str | None) -> None:
    result = check_body(httpx.Response(200, json=body, request=REQUEST))
    assert (result[0] if result else None) == failed


def test_list_and_read_agree_on_every_form(sandbox: Sandbox) -> None:
    """GET /purposes (numeric id, createdDate, no default group) and GET /purposes/{id}
    (createdOn, group "Default") normalise to the same object, so fingerprints match."""
    base, key = sandbox.overrides["webex_campaign"]["base_url"], WEBEX_KEYS[0]
    for body in ({"name": "A", "group": "Default"}, {"name": "B", "group": "sales", "description": "d"},
                 {"name": "C"}):
        assert httpx.post(base + "/purposes", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 200

    async def use(provider: WebexCampaignProvider) -> None:
        kind = provider.kind_objects["purpose"]
        assert isinstance(kind, PurposeKind)
        listed = await kind.list()
        assert [(o.remote_id, o.attributes) for o in listed] == [
            ("700", {"name": "A", "group": "DEFAULT", "description": ""}),
            ("701", {"name": "B", "group": "sales", "description": "d"}),
            ("702", {"name": "C", "group": "DEFAULT", "description": ""})]
        assert [await kind.read(o.remote_id) for o in listed] == listed

    with_provider(settings_for(sandbox), use)


def test_push_is_never_resent_after_an_ambiguous_failure(tmp_path: Path) -> None:
    """Nothing documents an upsert, so a 500 after sending is reported, never resent."""
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "d", faults=Faults(rate_500=1.0))) as running:
        sandbox = Sandbox(running)
        settings = settings_for(sandbox, max_attempts=3)

        async def push(provider: WebexCampaignProvider, records: list[dict[str, str]]) -> None:
            await provider.kind_objects["datastore_records"].push(
                {"datastore_id": "1466", "feed_id": "1499", "records": records})

        keyed = failure(settings, lambda p: push(p, [{"msisdn": "+1", "firstname": "A"}]))
        assert isinstance(keyed, AmbiguousWriteError) and keyed.code == "500"
        assert "may have been written" in keyed.detail
        assert sandbox.requests()["webex_campaign POST"] == 1
        unkeyed = failure(settings, lambda p: push(p, [{"emailid": "a@example.com"}]))
        assert isinstance(unkeyed, AmbiguousWriteError) and unkeyed.code == "500"
        assert sandbox.requests()["webex_campaign POST"] == 2


def test_record_limit_is_found_while_loading_the_manifests(webex: Project) -> None:
    """The configured limits are checked with the manifests: nothing is sent."""
    webex.extra_provider_settings["webex_campaign"] = "    max_records: 1\n"
    webex.configure(vendors=("webex_campaign",))
    webex.write("purposes/webex.yaml", """\
        webex_campaign:
          datastore_records:
            contacts:
              datastore_id: "1466"
              feed_id: "1499"
              records: [{msisdn: "+1"}, {msisdn: "+2"}]
        """)
    result = webex.apply()
    assert result.code == 1, result.text
    assert "purposes/webex.yaml:4:7: datastore_records.contacts: datastore_records for datastore 1466, " \
           "feed 1499: 2 records, more than providers.webex_campaign.max_records (1)" in result.err
    assert webex.sandbox.requests() == {}
