"""The SuperOffice provider's own rules, without a subprocess: wire <-> manifest mapping,
lenient error parsing, settings per auth scheme, and odd answers from the vendor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from reconciler.errors import AmbiguousWriteError, VendorError
from reconciler.providers.base import DeleteMode, RemoteStatus
from reconciler.providers.http import VendorClient
from reconciler.providers.superoffice.provider import (
    ConsentPurposeKind,
    SuperOfficeSettings,
    parse_error,
    remote,
    to_wire,
    vendor_message,
)

BASE = "https://online.superoffice.com/Cust1/api/v1"
ENTITY: dict[str, Any] = {
    "ConsentPurposeId": 7, "Name": "E-marketing", "ConsentText": "", "FormText": "Long text",
    "Key": "#Emarketing", "Tooltip": "", "Active": 5, "UpdatedDate": "2024-01-01T00:00:00Z",
    "UpdatedBy": {"AssociateId": 5}, "Deleted": False, "Rank": 2, "PrivacyStatementDesc": "",
    "PrivacyStatementUrl": "", "TableRight": {"Mask": "FULL"}, "FieldProperties": {"Name": {}},
}


def response(status: int, body: Any = None, text: str | None = None) -> httpx.Response:
    request = httpx.Request("GET", BASE + "/List/ConsentPurpose/Items")
    if text is not None:
        return httpx.Response(status, text=text, request=request)
    return httpx.Response(status, json=body, request=request)


@pytest.mark.parametrize(("answer", "expected"), [
    (response(401, {"Error": "Bad ticket", "ErrorType": "Unauthorized"}), ("Unauthorized", "Bad ticket")),
    (response(400, {"Message": "Entity to save is not in request body"}),
     (None, "Entity to save is not in request body")),
    (response(404, {"message": "Not here"}), (None, "Not here")),
    (response(500, {"ErrorType": "SoException"}), ("SoException", "SoException")),
    (response(502, text="<html>" + "x" * 500 + "</html>"), (None, "<html>" + "x" * 294 + "...")),
    (response(503, text=""), (None, "Service Unavailable")),
    (response(400, ["not", "an", "object"]), (None, '["not","an","object"]')),
    (response(400, "just a string"), (None, '"just a string"')),
    (response(418, {"unexpected": True}), (None, '{"unexpected":true}')),
])
def test_vendor_message_is_lenient(answer: httpx.Response, expected: tuple[str | None, str]) -> None:
    assert vendor_message(answer) == expected


def test_401_names_the_scheme_and_its_settings_and_403_says_what_is_missing() -> None:
    settings = SuperOfficeSettings(base_url=BASE, auth="soticket", ticket="t-1234", app_token="a-1234")
    code, message = parse_error(settings)(response(401, {"Error": "No", "ErrorType": "Unauthorized"}))
    assert code == "Unauthorized"
    assert message == ("No (auth: soticket was used; check providers.superoffice.ticket and "
                       "providers.superoffice.app_token, and the environment variables they come from)")
    _, forbidden = parse_error(settings)(response(403, {"Error": "Read only"}))
    assert forbidden.startswith("Read only (the credentials of auth: soticket were accepted")


def test_remote_normalises_empty_strings_int_active_and_status() -> None:
    obj = remote(ENTITY)
    assert obj.remote_id == "7" and obj.status is RemoteStatus.PRESENT
    assert obj.attributes == {
        "name": "E-marketing", "key": "#Emarketing", "consent_text": None, "form_text": "Long text",
        "tooltip": None, "active": True, "rank": 2, "privacy_statement_desc": None,
        "privacy_statement_url": None}
    inactive = remote({**ENTITY, "Active": 0})
    assert inactive.status is RemoteStatus.INACTIVE and inactive.attributes["active"] is False
    assert remote({**ENTITY, "Active": 0, "Deleted": True}).status is RemoteStatus.DELETED
    sparse = remote({"ConsentPurposeId": 8, "Name": "Only a name"})
    assert sparse.attributes["active"] is True and sparse.attributes["key"] is None


def test_identity_prefers_the_key_and_never_confuses_a_name_with_a_key() -> None:
    assert ConsentPurposeKind.identity({"name": "E-marketing", "key": "#Emarketing"}) == "key:#Emarketing"
    assert ConsentPurposeKind.identity({"name": "Newsletter", "key": None}) == "name:Newsletter"
    assert ConsentPurposeKind.identity({"name": "Newsletter", "key": ""}) == "name:Newsletter"
    assert ConsentPurposeKind.identity({"name": "#X"}) != ConsentPurposeKind.identity({"name": "Y", "key": "#X"})
    assert ConsentPurposeKind.normalise({"name": "N", "tooltip": "", "rank": None}) == {"name": "N", "tooltip": None}


def test_to_wire_overlays_only_changed_fields_on_the_server_entity() -> None:
    desired = {"name": "E-marketing", "tooltip": "Ignored here", "rank": 4, "active": True,
               "form_text": None}
    body = to_wire(desired, frozenset({"rank", "active", "form_text"}), ENTITY)
    assert not {"TableRight", "FieldProperties", "_Links", "UpdatedBy", "UpdatedDate"} & set(body)
    assert body["Rank"] == 4 and body["FormText"] == ""
    assert body["Active"] == 5  # still active: the vendor's own int is kept
    assert body["Tooltip"] == "" and body["ConsentText"] == ""
    assert to_wire({"active": False}, frozenset({"active"}), ENTITY)["Active"] == 0
    assert to_wire({"active": True}, frozenset({"active"}), {**ENTITY, "Active": 0})["Active"] == 1


def test_settings_check_each_scheme_and_list_every_secret() -> None:
    bearer = SuperOfficeSettings(base_url=BASE, token="tok-1234")
    assert bearer.headers()["Authorization"] == "Bearer tok-1234"
    assert bearer.headers()["Accept"] == "application/json"
    assert bearer.default_delete_mode(ConsentPurposeKind) is DeleteMode.DEACTIVATE
    ticket = SuperOfficeSettings(base_url=BASE, auth="soticket", ticket="tic-1234", app_token="app-1234",
                                 on_delete="delete")
    assert ticket.headers()["Authorization"] == "SOTicket tic-1234"
    assert ticket.headers()["SO-AppToken"] == "app-1234"
    assert set(ticket.secrets()) == {"tic-1234", "app-1234"}
    assert ticket.default_delete_mode(ConsentPurposeKind) is DeleteMode.SOFT
    basic = SuperOfficeSettings(base_url=BASE, auth="basic", username="me", password="pw-1234")
    assert basic.headers()["Authorization"] == "Basic bWU6cHctMTIzNA=="
    assert basic.secrets() == ["pw-1234", "bWU6cHctMTIzNA=="]
    with pytest.raises(ValidationError) as caught:
        SuperOfficeSettings(base_url=BASE, auth="basic", username="me", token="unused")
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("password",), "missing_credential")]


Handler = Callable[[httpx.Request], httpx.Response]


def kind_with(handler: Handler) -> ConsentPurposeKind:
    """The kind over a scripted transport, wired as the provider wires it, with retries cut short."""
    settings = SuperOfficeSettings(base_url=BASE, token="tok-1234", max_attempts=2)
    client = VendorClient("superoffice", settings.base_url, settings.headers(),
                          secrets=settings.secrets(), parse_error=parse_error(settings),
                          max_attempts=2, transport=httpx.MockTransport(handler))
    return ConsentPurposeKind(client, settings)


def test_an_unexpected_success_body_is_a_clear_error_not_a_crash() -> None:
    async def scenario() -> None:
        html = kind_with(lambda r: httpx.Response(200, text="<html>login page</html>"))
        with pytest.raises(VendorError, match="expected a JSON array, got '<html>login page</html>'"):
            await html.list()
        no_id = kind_with(lambda r: httpx.Response(200, json={"Name": "no id"}))
        with pytest.raises(VendorError, match="the answer has no ConsentPurposeId"):
            await no_id.create({"name": "X"})

    asyncio.run(scenario())


def test_read_404_is_none_delete_of_a_gone_item_succeeds_and_a_lost_post_is_ambiguous() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path.rsplit('/', 1)[-1]}")
        if request.method == "POST":
            return httpx.Response(500, json={"Error": "Boom", "ErrorType": "SoException"})
        return httpx.Response(404, json={"Error": "Not found", "ErrorType": "NotFound"})

    async def scenario() -> None:
        kind = kind_with(handler)
        assert await kind.read("9") is None
        await kind.delete("9", DeleteMode.SOFT, None)
        await kind.delete("9", DeleteMode.DEACTIVATE, None)
        with pytest.raises(VendorError, match="no longer exists"):
            await kind.update("9", {"name": "X"}, frozenset({"name"}), None)
        with pytest.raises(AmbiguousWriteError, match=r"HTTP 500 \[SoException\]\): Boom"):
            await kind.create({"name": "X"})

    asyncio.run(scenario())
    # after the failed POST, the list is read to find a purpose holding the name or key
    assert seen == ["GET 9", "DELETE 9", "GET 9", "GET 9", "POST Items", "GET Items"]


def test_update_puts_the_full_entity_and_revives() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            sent.append(json.loads(request.content))
            return httpx.Response(200, json={**ENTITY, **sent[-1]})
        return httpx.Response(200, json={**ENTITY, "Deleted": True, "Active": 0})

    result = asyncio.run(kind_with(handler).update("7", {"name": "E-marketing", "active": True, "rank": 3},
                                     frozenset({"active", "rank"}), None))
    assert sent[0]["Deleted"] is False and sent[0]["Active"] == 1 and sent[0]["Rank"] == 3
    assert sent[0]["FormText"] == "Long text" and "TableRight" not in sent[0]
    assert result.status is RemoteStatus.PRESENT and result.attributes["rank"] == 3
