"""SuperOffice WebAPI: consent purposes (`List/ConsentPurpose/Items`, vendor doc 004).

Wire format: plain JSON entities in PascalCase (`ConsentPurposeId`, `Name`, `Key`,
`ConsentText`, `FormText`, `Tooltip`, `Active` (int32), `Deleted`, `Rank`,
`PrivacyStatementDesc`, `PrivacyStatementUrl`, plus server-owned `UpdatedDate`,
`UpdatedBy`, `TableRight`, `FieldProperties`). The list is one unpaged array that
includes soft-deleted items. PUT is a full replace (a field missing from the body is
reset), so every write starts from the item as the server has it now. The error body
is undocumented and parsed leniently.

Choices where the vendor is silent:
- An empty string and an absent optional text are the same thing: both read as None
  (the server stores "" for a missing field, so "" can never be told apart).
- `Active` is any int on the wire and a bool in manifests: non-zero is true. A write
  that keeps a purpose active keeps the vendor's int (5 stays 5) instead of forcing 1.
- The natural key is `Key` when a purpose has one, else `Name`; identities are prefixed
  ("key:#Emarketing", "name:Newsletter") so that a name can never match a key.
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from reconciler.errors import VendorError
from reconciler.providers.base import (
    DeleteMode,
    Kind,
    Provider,
    ProviderSettings,
    RemoteObject,
    RemoteStatus,
    Schema,
)
from reconciler.providers.http import ErrorParser, VendorClient, json_body

VENDOR = "superoffice"
ITEMS = "/List/ConsentPurpose/Items"
MEDIA_TYPE = "application/json"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_ERROR_TEXT = 300
URL_PATTERN = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)

AuthScheme = Literal["bearer", "soticket", "basic"]
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "bearer": ("token",), "soticket": ("ticket", "app_token"), "basic": ("username", "password"),
}
"""The settings each Authorization scheme needs."""

WIRE_NAMES: dict[str, str] = {
    "name": "Name", "key": "Key", "consent_text": "ConsentText", "form_text": "FormText",
    "tooltip": "Tooltip", "active": "Active", "rank": "Rank",
    "privacy_statement_desc": "PrivacyStatementDesc", "privacy_statement_url": "PrivacyStatementUrl",
}
"""Manifest field -> SuperOffice property."""
TEXT_FIELDS = tuple(f for f in WIRE_NAMES if f not in ("active", "rank"))
RESPONSE_ONLY = ("TableRight", "FieldProperties")


class SuperOfficeSettings(ProviderSettings):
    """How to reach one SuperOffice tenant; credentials come from environment variables."""

    base_url: str = Field(description="WebAPI root, https://{env}.superoffice.com/{tenant}/api/v1")
    auth: AuthScheme = Field("bearer", description=(
        "Authorization scheme: bearer (token), soticket (ticket + app_token), basic "
        "(username + password)"))
    token: str | None = Field(None, validate_default=True, description=(
        "auth: bearer: OAuth access token; from an environment variable"))
    ticket: str | None = Field(None, validate_default=True, description=(
        "auth: soticket: the SOTicket credential; from an environment variable"))
    app_token: str | None = Field(None, validate_default=True, description=(
        "auth: soticket: the partner application token sent as SO-AppToken; from an "
        "environment variable"))
    username: str | None = Field(None, validate_default=True, description=(
        "auth: basic: the user name; from an environment variable"))
    password: str | None = Field(None, validate_default=True, description=(
        "auth: basic: the password; from an environment variable"))
    on_delete: Literal["deactivate", "delete"] = Field("deactivate", description=(
        "What removing a purpose from the manifests does: deactivate (PUT Active 0, the "
        "vendor's recommendation) or delete (DELETE: a soft delete, Deleted true); a purpose's "
        "own on_delete wins"))

    @field_validator("token", "ticket", "app_token", "username", "password")
    @classmethod
    def _needed_by_scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A credential the chosen scheme needs must be set, so a typo fails before any call."""
        if "auth" not in info.data:
            return value  # auth itself is invalid; that error is enough
        scheme = info.data["auth"]
        needed = CREDENTIALS.get(scheme, ())
        if info.field_name in needed and not value:
            names = " and ".join(needed)
            raise PydanticCustomError("missing_credential", (
                f"required with auth: {scheme} (which needs {names}); set it from an environment "
                f"variable, e.g. {info.field_name}: ${{SUPEROFFICE_{str(info.field_name).upper()}}}"))
        return value

    def secrets(self) -> list[str]:
        """Every secret value, including the Basic header form of user:password. The user
        name alone is not scrubbed: it is an identifier, and scrubbing a common word from
        every message would garble them."""
        found = [v for v in (self.token, self.ticket, self.app_token, self.password) if v]
        if self.username and self.password:
            found.append(_basic(self.username, self.password))
        return found

    def default_delete_mode(self, kind: type[Kind]) -> DeleteMode | None:
        """Deactivate unless told otherwise: SuperOffice recommends it, and consents already
        given for a purpose keep pointing at a live item."""
        return DeleteMode.SOFT if self.on_delete == "delete" else DeleteMode.DEACTIVATE

    def headers(self) -> dict[str, str]:
        """The request headers for the chosen scheme (the validator made sure they are set)."""
        headers = {"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
        if self.auth == "soticket":
            headers["Authorization"] = f"SOTicket {self.ticket}"
            headers["SO-AppToken"] = self.app_token or ""
        elif self.auth == "basic":
            headers["Authorization"] = f"Basic {_basic(self.username or '', self.password or '')}"
        else:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class ConsentPurpose(Schema):
    """A SuperOffice consent purpose: why a person's consent is asked (e-marketing, ...)."""

    name: str = Field(min_length=1, description="Display name (SuperOffice `Name`)")
    key: str | None = Field(None, description=(
        "Stable key such as #Emarketing or #Process (SuperOffice `Key`); it identifies an "
        "existing purpose to adopt. Without a key, the name does"))
    consent_text: str | None = Field(None, description=(
        "Text of the consent checkbox (SuperOffice `ConsentText`)"))
    form_text: str | None = Field(None, description=(
        "Long text of the consent form shown to the person (SuperOffice `FormText`)"))
    tooltip: str | None = Field(None, description="List item tooltip (SuperOffice `Tooltip`)")
    active: bool = Field(True, description=(
        "Whether the purpose is in use (SuperOffice `Active`, an integer on the wire: "
        "0 is false, anything else true)"))
    rank: int | None = Field(None, ge=INT32_MIN, le=INT32_MAX, description=(
        "Sort order in lists (SuperOffice `Rank`)"))
    privacy_statement_desc: str | None = Field(None, description=(
        "Name or description of the privacy statement (SuperOffice `PrivacyStatementDesc`)"))
    privacy_statement_url: str | None = Field(None, description=(
        "http(s) URL of the privacy statement (SuperOffice `PrivacyStatementUrl`)"))

    @field_validator("privacy_statement_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not URL_PATTERN.match(value):
            raise PydanticCustomError("url", "must be an http(s) URL such as "
                                             "https://example.com/privacy")
        return value


def parse_error(settings: SuperOfficeSettings) -> ErrorParser:
    """An error parser that knows the auth scheme, so a 401 says which settings to check."""

    def parse(response: httpx.Response) -> tuple[str | None, str]:
        code, message = vendor_message(response)
        if response.status_code == 401:
            names = " and ".join(f"providers.{VENDOR}.{n}" for n in CREDENTIALS[settings.auth])
            message += (f" (auth: {settings.auth} was used; check {names}, and the environment "
                        "variables they come from)")
        elif response.status_code == 403:
            message += (f" (the credentials of auth: {settings.auth} were accepted but may not "
                        "do this: the SuperOffice user needs the right to change lists)")
        return code, message

    return parse


def vendor_message(response: httpx.Response) -> tuple[str | None, str]:
    """The vendor's own (code, text) from any body: JSON Error/Message/message/ErrorType, else
    the raw text (cut short), else the HTTP reason. Never raises: the body is undocumented."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        text = next((str(body[k]) for k in ("Error", "Message", "message", "error")
                     if body.get(k)), "")
        code = body.get("ErrorType") or body.get("code")
        if text or code:
            return (str(code) if code else None), text or str(code)
    raw = response.text.strip()
    if len(raw) > MAX_ERROR_TEXT:
        raw = raw[:MAX_ERROR_TEXT] + "..."
    return None, raw or response.reason_phrase or f"HTTP {response.status_code}"


def _body(response: httpx.Response, expect: type[dict[str, Any]] | type[list[Any]]) -> Any:
    return json_body(VENDOR, response, expect,
                     f"{response.request.method} {response.request.url.path}: ")


def _entity(response: httpx.Response) -> dict[str, Any]:
    entity: dict[str, Any] = _body(response, dict)
    if entity.get("ConsentPurposeId") is None:
        raise VendorError(VENDOR, response.status_code, None, (
            f"{response.request.method} {response.request.url.path}: the answer has no "
            "ConsentPurposeId"))
    return entity


def _text(value: Any) -> str | None:
    """"" and None are the same thing (no value); other values are kept as text."""
    return None if value is None or value == "" else str(value)


def _active(value: Any) -> bool:
    """`Active` is an int32 (any non-zero is true); a bool or numeric string is tolerated."""
    if isinstance(value, str):
        value = value.strip().lower() not in ("", "0", "false")
    return bool(value) if value is not None else True


def remote(entity: dict[str, Any]) -> RemoteObject:
    """A wire entity in manifest terms, with its status (deleted wins over inactive)."""
    attributes: dict[str, Any] = {f: _text(entity.get(WIRE_NAMES[f])) for f in TEXT_FIELDS}
    attributes["active"] = _active(entity.get("Active", 1))
    rank = entity.get("Rank")
    attributes["rank"] = rank if isinstance(rank, int) and not isinstance(rank, bool) else None
    if entity.get("Deleted") is True:
        status = RemoteStatus.DELETED
    elif not attributes["active"]:
        status = RemoteStatus.INACTIVE
    else:
        status = RemoteStatus.PRESENT
    ordered = {f: attributes[f] for f in WIRE_NAMES}
    return RemoteObject(str(entity["ConsentPurposeId"]), ordered, status)


def to_wire(attributes: dict[str, Any], fields: frozenset[str] | set[str],
            base: dict[str, Any] | None = None) -> dict[str, Any]:
    """`base` (the entity as the server has it) with `fields` of `attributes` written over it."""
    entity = {k: v for k, v in (base or {}).items() if k not in RESPONSE_ONLY}
    for name in sorted(fields & set(attributes) & set(WIRE_NAMES)):
        value = attributes[name]
        wire = WIRE_NAMES[name]
        if name == "active":
            entity[wire] = _active_wire(bool(value), entity.get(wire))
        elif name in TEXT_FIELDS:
            entity[wire] = "" if value is None else value
        else:
            entity[wire] = 0 if value is None else value
    return entity


def _active_wire(active: bool, kept: Any) -> int:
    """1 or 0, except that an active purpose keeps the vendor's own non-zero int."""
    if active and isinstance(kept, int) and not isinstance(kept, bool) and kept != 0:
        return kept
    return int(active)


class ConsentPurposeKind(Kind):
    vendor = VENDOR
    name = "consent_purpose"
    collection = "consent_purposes"
    schema = ConsentPurpose
    natural_key = "key"
    read_only: ClassVar[tuple[str, ...]] = (
        "ConsentPurposeId", "UpdatedDate", "UpdatedBy", "TableRight", "FieldProperties")
    delete_modes = (DeleteMode.DEACTIVATE, DeleteMode.SOFT)

    @classmethod
    def identity(cls, attributes: dict[str, Any]) -> str | None:
        """`key:<Key>` when the purpose has a key, else `name:<Name>`."""
        if key := _text(attributes.get("key")):
            return f"key:{key}"
        name = _text(attributes.get("name"))
        return None if name is None else f"name:{name}"

    @classmethod
    def desired_status(cls, attributes: dict[str, Any]) -> RemoteStatus:
        """`active: false` asks for an inactive purpose: not something to revive."""
        return RemoteStatus.INACTIVE if attributes.get("active") is False else RemoteStatus.PRESENT

    @classmethod
    def normalise(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        """Declared "" means no value, as it does when read back (see the module docstring).
        An explicit `rank: null` is left unmanaged: the vendor has no empty rank (it stores 0)."""
        return {k: _text(v) if k in TEXT_FIELDS else v for k, v in attributes.items()
                if not (k == "rank" and v is None)}

    async def list(self) -> list[RemoteObject]:
        return await self.client.get_array(ITEMS, lambda item: remote(item) if isinstance(
            item, dict) and item.get("ConsentPurposeId") is not None else None)

    async def lookup(self, identity: str) -> RemoteObject | None:
        """After an ambiguous create: prefer a live match, then the newest one."""
        matches = [o for o in await self.list() if self.identity(o.attributes) == identity]
        matches.sort(key=lambda o: (o.status is RemoteStatus.PRESENT, _numeric(o.remote_id)))
        return matches[-1] if matches else None

    async def read(self, remote_id: str) -> RemoteObject | None:
        entity = await self._get(remote_id)
        return None if entity is None else remote(entity)

    async def _get(self, remote_id: str) -> dict[str, Any] | None:
        response = await self.client.request("GET", f"{ITEMS}/{remote_id}", ok=(200, 404))
        return None if response.status_code == 404 else _entity(response)

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        body = to_wire(attributes, set(WIRE_NAMES))
        response = await self.client.request("POST", ITEMS, json=body)
        return remote(_entity(response))

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        """PUT replaces the whole item, so start from what the server has now (the applier's
        `current` holds only the diffed fields, normalised) and write over it only the changed
        fields: unmanaged and ignore_changes fields keep their remote values. An update means
        the purpose is declared, so it is never left soft-deleted (this is the revive)."""
        entity = await self._get(remote_id)
        if entity is None:
            raise VendorError(VENDOR, 404, None, f"consent purpose {remote_id} no longer exists; "
                                                 "run plan again")
        body = to_wire(attributes, changed, entity)
        body["Deleted"] = False
        response = await self.client.request("PUT", f"{ITEMS}/{remote_id}", json=body)
        return remote(_entity(response))

    async def delete(self, remote_id: str, mode: DeleteMode,
                     current: RemoteObject | None) -> None:
        """DEACTIVATE: PUT the full item with Active 0; SOFT: DELETE (the vendor sets Deleted).
        An item that is already gone is a success."""
        if mode is DeleteMode.DEACTIVATE:
            entity = await self._get(remote_id)
            if entity is not None:
                entity = {k: v for k, v in entity.items() if k not in RESPONSE_ONLY}
                await self.client.request("PUT", f"{ITEMS}/{remote_id}",
                                          json={**entity, "Active": 0})
            return
        await self.client.request("DELETE", f"{ITEMS}/{remote_id}", ok=(204, 200, 404))


def _numeric(remote_id: str) -> int:
    return int(remote_id) if remote_id.isdigit() else -1


class SuperOfficeProvider(Provider):
    name = VENDOR
    settings_model = SuperOfficeSettings
    kinds = (ConsentPurposeKind,)
    builtin_objects = ("#Process", "#Emarketing")  # every tenant ships these two purposes

    def make_client(self, settings: ProviderSettings) -> VendorClient:
        assert isinstance(settings, SuperOfficeSettings)
        return VendorClient(
            VENDOR, settings.base_url, settings.headers(), secrets=settings.secrets(),
            parse_error=parse_error(settings), concurrency=settings.concurrency,
            timeout_s=settings.timeout_s, max_attempts=settings.max_attempts,
            allow_insecure_http=settings.allow_insecure_http)
