"""The SuperOffice sandbox behaves like docs/vendors/superoffice.md says the consent-purpose API does."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from reconciler.providers.superoffice.sandbox import (
    FIELD_PROPERTIES,
    SANDBOX_ASSOCIATE,
    SuperOfficeSandboxConfig,
    create_app,
    seed_builtins,
)
from reconciler.sandbox.common import Faults, RequestLog, Table

PREFIX = "/superoffice/Cust12345/api/v1"
ITEMS = PREFIX + "/List/ConsentPurpose/Items"
TOKEN = "so-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def table() -> Table:
    return Table(None)


@pytest.fixture
def client(table: Table) -> TestClient:
    config = SuperOfficeSandboxConfig(
        bearer_tokens={TOKEN}, tickets={"7T:ticket"}, app_tokens={"app-1"},
        basic_users={"tje0": "Tje0"}, read_only_bearer_tokens={"ro-token"})
    app = create_app(table, config, Faults(), RequestLog())
    return TestClient(Starlette(routes=[Mount(PREFIX, app)]))


def _create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post(ITEMS, json={"Name": "Newsletter", **fields}, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_sets_server_fields_and_ignores_client_ones(client: TestClient) -> None:
    sent = {"ConsentPurposeId": 661, "UpdatedDate": "2020-06-03T02:30:53+02:00",
            "UpdatedBy": None, "TableRight": None, "FieldProperties": {}, "Key": "#News"}
    first = _create(client, **sent)
    second = _create(client, Name="Events")
    assert (first["ConsentPurposeId"], second["ConsentPurposeId"]) == (1, 2)
    assert first["Key"] == "#News" and first["Name"] == "Newsletter"
    assert first["Active"] == 1 and type(first["Active"]) is int
    assert first["Deleted"] is False and first["Rank"] == 0 and first["Tooltip"] == ""
    assert datetime.fromisoformat(first["UpdatedDate"]).tzinfo is not None
    assert first["UpdatedDate"] != sent["UpdatedDate"]
    assert first["UpdatedBy"] == SANDBOX_ASSOCIATE
    assert first["TableRight"] == {"Mask": "Select, Insert, Update, Delete", "Reason": ""}
    assert first["FieldProperties"] == FIELD_PROPERTIES
    assert first["FieldProperties"]["Active"]["FieldType"] == "System.Int32"
    assert first["FieldProperties"]["Name"]["FieldRight"] == {"Mask": "FULL", "Reason": ""}


def test_delete_is_soft_and_the_list_hides_deleted_items(client: TestClient, table: Table) -> None:
    """"Deleted rows should not be shown in lists" (switch list_deleted shows them)."""
    kept, gone = _create(client, Name="Kept"), _create(client, Name="Gone")
    response = client.delete(f"{ITEMS}/{gone['ConsentPurposeId']}", headers=AUTH)
    assert response.status_code == 204 and response.content == b""
    fetched = client.get(f"{ITEMS}/{gone['ConsentPurposeId']}", headers=AUTH).json()
    assert fetched["Deleted"] is True and fetched["Name"] == "Gone"
    listed = client.get(ITEMS, headers=AUTH).json()
    assert [(p["Name"], p["Deleted"]) for p in listed] == [("Kept", False)]
    assert kept["ConsentPurposeId"] == 1
    assert table.data["consent_purposes"]["2"]["Deleted"] is True


def test_put_replaces_whole_entity_and_revives(client: TestClient) -> None:
    created = _create(client, Tooltip="tip", Rank=5, Active=0)
    url = f"{ITEMS}/{created['ConsentPurposeId']}"
    assert client.delete(url, headers=AUTH).status_code == 204
    response = client.put(url, json={"Name": "Renamed", "Deleted": False, "ConsentPurposeId": 99},
                          headers=AUTH)
    assert response.status_code == 200
    saved = response.json()
    assert saved["ConsentPurposeId"] == 1 and saved["Name"] == "Renamed"
    assert saved["Deleted"] is False
    assert (saved["Tooltip"], saved["Rank"], saved["Active"]) == ("", 0, 1)
    assert client.get(url, headers=AUTH).json() == saved


def test_missing_ids_are_404(client: TestClient) -> None:
    response = client.get(f"{ITEMS}/42", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["ErrorType"] == "NotFound" and "42" in response.json()["Error"]
    assert client.put(f"{ITEMS}/42", json={"Name": "x"}, headers=AUTH).status_code == 404
    assert client.delete(f"{ITEMS}/42", headers=AUTH).status_code == 404
    assert client.get(f"{ITEMS}/abc", headers=AUTH).status_code == 404


def test_missing_or_malformed_body_is_400(client: TestClient) -> None:
    for response in (client.post(ITEMS, headers=AUTH),
                     client.put(f"{ITEMS}/{_create(client)['ConsentPurposeId']}", headers=AUTH)):
        assert response.status_code == 400
        assert response.json() == {"Error": "Entity to save is not in request body",
                                   "ErrorType": "SoException", "ErrorSource": "SandboxWebApi"}
    not_json = client.post(ITEMS, content=b"<ConsentPurpose/>", headers=AUTH)
    assert not_json.status_code == 400 and "JSON" in not_json.json()["Error"]
    assert client.post(ITEMS, json=["Name"], headers=AUTH).status_code == 400


@pytest.mark.parametrize(("field", "value"), [("Active", "yes"), ("Active", True),
                                              ("Rank", "x"), ("Deleted", 1), ("Name", 5)])
def test_wrong_types_are_400_naming_the_field(client: TestClient, field: str, value: Any) -> None:
    response = client.post(ITEMS, json={"Name": "n", field: value}, headers=AUTH)
    assert response.status_code == 400 and field in response.json()["Error"]
    assert client.get(ITEMS, headers=AUTH).json() == []


def test_patch_is_not_allowed(client: TestClient) -> None:
    created = _create(client)
    response = client.patch(f"{ITEMS}/{created['ConsentPurposeId']}", json=[], headers=AUTH)
    assert response.status_code == 405
    assert response.json()["ErrorType"] == "MethodNotAllowed"
    assert "PUT" in response.headers["allow"]


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {TOKEN}"},
    {"Authorization": "SOTicket 7T:ticket", "SO-AppToken": "app-1"},
    _basic("tje0", "Tje0"),
    {"Authorization": "Bearer ro-token"},
])
def test_each_auth_scheme_is_accepted(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(ITEMS, headers={**headers, "Accept": "application/xml"})
    assert response.status_code == 200 and response.json() == []


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "SOTicket 7T:ticket"},
    {"Authorization": "SOTicket 7T:ticket", "SO-AppToken": "wrong"},
    _basic("tje0", "wrong"),
    {"Authorization": "Basic !!notbase64"},
    {"Authorization": "Bearer nope"},
])
def test_bad_credentials_are_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(ITEMS, headers=headers)
    assert response.status_code == 401 and response.json()["ErrorType"] == "Unauthorized"


def test_read_only_token_cannot_write(client: TestClient) -> None:
    created = _create(client)
    read_only = {"Authorization": "Bearer ro-token"}
    url = f"{ITEMS}/{created['ConsentPurposeId']}"
    for response in (client.post(ITEMS, json={"Name": "x"}, headers=read_only),
                     client.put(url, json={"Name": "x"}, headers=read_only),
                     client.delete(url, headers=read_only)):
        assert response.status_code == 403 and response.json()["ErrorType"] == "Forbidden"
    assert client.get(url, headers=read_only).json() == created


def test_seed_builtins_only_fills_an_empty_table(client: TestClient, table: Table) -> None:
    seed_builtins(table)
    seed_builtins(table)
    listed = client.get(ITEMS, headers=AUTH).json()
    assert [(p["ConsentPurposeId"], p["Key"], p["Name"]) for p in listed] == [
        (1, "#Process", "Process"), (2, "#Emarketing", "E-marketing")]
    assert listed[0]["ConsentText"] == "Storing and processing"
    assert _create(client)["ConsentPurposeId"] == 3
