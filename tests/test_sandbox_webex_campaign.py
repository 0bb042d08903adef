"""The Webex Campaign sandbox answers as docs/vendors/webex_campaign.md says the vendor does."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from reconciler.providers.webex_campaign.sandbox import WebexSandboxConfig, create_apps
from reconciler.sandbox.common import Faults, RequestLog, Table

HUB = "/webex/v1"
TENANT = "/webex-tenant/campaignapi/resources/v3"
ADMIN = "/_sandbox/webex_campaign"
KEY, ROTATED, EXPIRED = "key-1", "key-2", "key-old"
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")

Factory = Callable[..., TestClient]


@pytest.fixture
def make_client() -> Iterator[Factory]:
    """Builds a client for a sandbox with the given config overrides, mounted as server.py will."""
    clients: list[TestClient] = []

    def make(table: Table | None = None, faults: Faults | None = None,
             **overrides: Any) -> TestClient:
        settings: dict[str, Any] = {"api_keys": {KEY, ROTATED}, "expired_keys": {EXPIRED},
                                    "apply_delay_s": 0.3, **overrides}
        apps = create_apps(table or Table(None), WebexSandboxConfig(**settings),
                           faults or Faults(), RequestLog())
        app = Starlette(routes=[Mount(HUB, apps.hub), Mount(TENANT, apps.tenant),
                                Mount(ADMIN, routes=apps.admin)])
        client = TestClient(app, headers={"Authorization": f"Bearer {KEY}"})
        clients.append(client.__enter__())  # keeps one event loop alive for delayed writes
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Factory) -> TestClient:
    return make_client()


def create(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post(f"{HUB}/purposes", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def records_body(**overrides: Any) -> dict[str, Any]:
    body = {"datastore-id": "1466", "feed-id": "1499",
            "records": [{"msisdn": "+442332223424", "firstname": "John Smith"},
                        {"msisdn": "+442332223425", "firstname": "Jane Doe"}]}
    return {**body, **overrides}


def notify_body(**overrides: Any) -> dict[str, Any]:
    body = {"responseState": "532", "refTransId": "CC02_1605176995001254571",
            "deploymentId": "API_1605176965390000881",
            "additionalInfo": json.dumps({"responseCode": "403", "responseDesc": "bad token"})}
    return {**body, **overrides}


def test_create_answers_string_ids_from_700(client: TestClient) -> None:
    first = create(client, name="Marketing_Purpose")
    second = create(client, name="Sales", group="Sales", description="for sales")
    assert first == {"id": "700", "name": "Marketing_Purpose",
                     "message": "Purpose added/updated successfully."}
    assert second["id"] == "701"


def test_list_uses_numeric_ids_created_date_and_omits_the_default_group(client: TestClient) -> None:
    create(client, name="A")
    create(client, name="B", group="DEFAULT", description="upper-case default")
    create(client, name="C", group="Sales")
    items = client.get(f"{HUB}/purposes").json()
    assert [item["id"] for item in items] == [700, 701, 702]
    assert "group" not in items[0] and "group" not in items[1]
    assert items[2]["group"] == "Sales"
    assert items[0]["tenantName"] == "sandbox" and items[0]["imageUrl"] is None
    assert items[0]["description"] is None and items[1]["description"] == "upper-case default"
    assert STAMP.match(items[0]["createdDate"]) and "createdOn" not in items[0]


def test_get_uses_the_table_form_with_group_and_created_on(client: TestClient) -> None:
    create(client, name="A", description="d")
    [item] = client.get(f"{HUB}/purposes/700").json()  # by default, the page's one-element array
    assert item["id"] == 700 and item["group"] == "Default" and item["description"] == "d"
    assert STAMP.match(item["createdOn"]) and "createdDate" not in item
    stored = client.get(f"{ADMIN}/purposes").json()
    assert stored["700"]["group"] == "Default"


def test_put_renames_and_an_absent_group_is_the_default(client: TestClient) -> None:
    """The update page: an omitted group means the default group."""
    create(client, name="A", group="Sales")
    create(client, name="B")
    response = client.put(f"{HUB}/purposes/700", json={"name": "B"})  # no 409 on update
    assert response.status_code == 200
    assert response.json() == {"id": "700", "name": "B",
                               "message": "Purpose added/updated successfully."}
    [item] = client.get(f"{HUB}/purposes/700").json()
    assert item["name"] == "B" and item["group"] == "Default"


def test_put_on_a_missing_purpose_is_404_and_without_name_400(client: TestClient) -> None:
    missing = client.put(f"{HUB}/purposes/999", json={"name": "X"})
    assert (missing.status_code, missing.json()) == (404, {"code": 404, "description": "Not found"})
    create(client, name="A")
    nameless = client.put(f"{HUB}/purposes/700", json={"group": "Sales"})
    assert nameless.status_code == 400
    assert nameless.json() == {"code": 400, "description": "Please enter the Purpose Name"}


def test_duplicate_name_on_create_is_409(client: TestClient) -> None:
    create(client, name="A")
    response = client.post(f"{HUB}/purposes", json={"name": "A", "group": "Other"})
    assert response.status_code == 409
    assert response.json()["code"] == 409
    assert response.json()["description"].startswith("This Purpose already exists.")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"group": "Sales"}, 400, 400),
    ({"name": "  "}, 400, 400),
    ({"name": "A", "group": 5}, 500, 1001),
])
def test_invalid_purpose_bodies(client: TestClient, body: dict[str, Any], status: int,
                                code: int) -> None:
    response = client.post(f"{HUB}/purposes", json=body)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert client.get(f"{HUB}/purposes").json() == []


def test_body_that_is_not_json_is_1001(client: TestClient) -> None:
    response = client.post(f"{HUB}/purposes", content=b"{name:",
                           headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (
        500, {"code": 1001, "description": "Invalid input JSON"})


def test_delete_is_405_and_unknown_paths_404(client: TestClient) -> None:
    create(client, name="A")
    deleted = client.delete(f"{HUB}/purposes/700")
    assert (deleted.status_code, deleted.json()) == (
        405, {"code": 405, "description": "Method not supported"})
    assert client.get(f"{HUB}/purposes/700").status_code == 200
    assert client.get(f"{TENANT}/datastore/records").json()["code"] == 405
    unknown = client.get(f"{HUB}/campaigns")
    assert (unknown.status_code, unknown.json()["code"]) == (404, 404)


@pytest.mark.parametrize("path", [f"{HUB}/purposes", f"{TENANT}/notifytransactionstate"])
def test_authorization(client: TestClient, path: str) -> None:
    for headers, code in (({"Authorization": "Bearer nope"}, 430), ({"Authorization": ""}, 430),
                          ({"Authorization": f"Bearer {EXPIRED}"}, 498)):
        response = client.post(path, json={}, headers=headers)
        assert (response.status_code, response.json()["code"]) == (401, code)
    rotated = {"Authorization": f"Bearer {ROTATED}"}
    assert client.get(f"{HUB}/purposes", headers=rotated).json() == []


def test_throttle_is_429_without_retry_after(make_client: Factory) -> None:
    client = make_client(rate_limit=2, rate_window_s=60)
    assert [client.get(f"{HUB}/purposes").status_code for _ in range(2)] == [200, 200]
    throttled = client.get(f"{HUB}/purposes")
    assert throttled.status_code == 429 and "retry-after" not in throttled.headers
    assert throttled.json() == {"code": 429, "description": "Too many requests. "
                                "Throttle limit reached for the time window."}
    # the tenant host has its own window
    assert client.post(f"{TENANT}/notifytransactionstate", json=notify_body()).status_code == 200


def test_records_are_acknowledged_then_applied_later(make_client: Factory) -> None:
    client = make_client(records="upsert")  # the upsert reading; "append" is the default
    response = client.post(f"{TENANT}/datastore/records", json=records_body())
    ack = response.json()
    assert response.status_code == 200 and ack["statuscode"] == 0 and ack["description"] == ""
    assert ack["result"]["status"] == 0 and ack["result"]["correlation_id"] and ack["trans_id"]
    assert client.get(f"{ADMIN}/datastores").json() == {}
    update = [{"msisdn": "+442332223424", "emailid": "john@example.com"}, {"firstname": "No Key"}]
    second = client.post(f"{TENANT}/datastore/records", json=records_body(records=update))
    assert second.json()["trans_id"] != ack["trans_id"]
    deadline = time.monotonic() + 2
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(rows) < 3:
        rows = client.get(f"{ADMIN}/datastores").json().get("1466", {}).get("1499", [])
        time.sleep(0.02)
    assert rows == [
        {"msisdn": "+442332223424", "firstname": "John Smith", "emailid": "john@example.com"},
        {"msisdn": "+442332223425", "firstname": "Jane Doe"},
        {"firstname": "No Key"},
    ]


@pytest.mark.parametrize("body", [
    records_body(**{"feed-id": None}),
    {"feed-id": "1499"},
])
def test_missing_mandatory_fields_is_1002(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post(f"{TENANT}/datastore/records", json=body)
    assert (response.status_code, response.json()) == (
        500, {"code": 1002, "description": "Mandatory field missing"})


@pytest.mark.parametrize("records", [{"msisdn": "+44"}, [{"msisdn": {"nested": "x"}}], ["x"]])
def test_records_that_are_not_flat_objects_are_499(client: TestClient, records: Any) -> None:
    response = client.post(f"{TENANT}/datastore/records", json=records_body(records=records))
    assert (response.status_code, response.json()["code"]) == (499, 499)


def test_unknown_datastore_is_1010_with_http_200(make_client: Factory) -> None:
    client = make_client(known_datastores={"1466": {"1499"}}, apply_delay_s=0.0)
    response = client.post(f"{TENANT}/datastore/records", json=records_body(**{"feed-id": "7"}))
    assert response.status_code == 200
    assert response.json() == {
        "statuscode": 1010, "description": "The request was not processed.",
        "result": {"status": 1010, "description": "The request was not processed.",
                   "correlation_id": None}}
    # without datastore-id the feed names its datastore
    body = records_body()
    del body["datastore-id"]
    assert client.post(f"{TENANT}/datastore/records", json=body).json()["statuscode"] == 0
    time.sleep(0.05)
    assert len(client.get(f"{ADMIN}/datastores").json()["1466"]["1499"]) == 2


def test_notification_is_recorded(client: TestClient) -> None:
    body = notify_body(responseTime="2023-01-05 08:51:06")
    response = client.post(f"{TENANT}/notifytransactionstate", json=body)
    answer = response.json()
    assert response.status_code == 200 and answer["code"] == 1100
    assert answer["description"] == "The Response has been notified successfully"
    [stored] = client.get(f"{ADMIN}/notifications").json()
    assert stored["refTransId"] == body["refTransId"] and stored["responseState"] == "532"
    assert stored["transaction-id"] == answer["transaction-id"]
    assert STAMP.match(stored["receivedAt"])


@pytest.mark.parametrize(("body", "code"), [
    (notify_body(refTransId=""), 1101),
    (notify_body(deploymentId=None), 1101),
    (notify_body(responseTime="2023-01-05T08:51:06Z"), 1101),
    (notify_body(additionalInfo={"responseCode": "403"}), 1101),
    (notify_body(responseState="200"), 1108),
    (notify_body(deploymentId="DEP_UNMAPPED"), 1102),
])
def test_notification_errors_are_body_coded(make_client: Factory, body: dict[str, Any],
                                            code: int) -> None:
    client = make_client(deployments={"DEP_UNMAPPED": 1102})
    response = client.post(f"{TENANT}/notifytransactionstate", json=body)
    assert (response.status_code, response.json()["code"]) == (200, code)
    assert "transaction-id" not in response.json()
    assert client.get(f"{ADMIN}/notifications").json() == []


def test_forced_code_text_and_config_validation(make_client: Factory) -> None:
    client = make_client(deployments={"D": 1105, "OK": 0})
    forced = client.post(f"{TENANT}/notifytransactionstate", json=notify_body(deploymentId="D"))
    assert forced.json()["description"] == "Only onetime and recurring deployments are allowed"
    ok = client.post(f"{TENANT}/notifytransactionstate", json=notify_body(deploymentId="OK"))
    assert ok.json()["code"] == 1100
    with pytest.raises(ValueError, match="1106"):
        make_client(deployments={"D": 1106})


def test_custom_tenant_paths(make_client: Factory) -> None:
    client = make_client(datastore_path="/ds/add", notify_path="/notify")
    assert client.post(f"{TENANT}/notify", json=notify_body()).json()["code"] == 1100
    assert client.post(f"{TENANT}/ds/add", json=records_body()).json()["statuscode"] == 0
    assert client.post(f"{TENANT}/datastore/records", json=records_body()).status_code == 404


def test_injected_faults_carry_no_retry_after(make_client: Factory) -> None:
    client = make_client(faults=Faults(rate_503=1.0))
    response = client.get(f"{HUB}/purposes")
    assert response.status_code == 503 and "retry-after" not in response.headers
    assert response.json()["code"] == 503


def test_records_are_applied_by_the_timer_without_an_admin_read(make_client: Factory) -> None:
    table = Table(None)
    client = make_client(table=table, apply_delay_s=0.02)
    client.post(f"{TENANT}/datastore/records", json=records_body())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not table.data["datastores"]:
        time.sleep(0.01)
    assert len(table.data["datastores"]["1466"]["1499"]) == 2
