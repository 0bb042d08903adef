"""SuperOffice WebAPI: consent purposes (`List/ConsentPurpose/Items`;
docs/vendors/superoffice.md).

Wire format: plain JSON entities in PascalCase (`ConsentPurposeId`, `Name`, `Key`,
`ConsentText`, `FormText`, `Tooltip`, `Active` (int32), `Deleted`, `Rank`,
`PrivacyStatementDesc`, `PrivacyStatementUrl`, plus server-owned `UpdatedDate`,
`UpdatedBy`, `TableRight`, `FieldProperties`, `_Links`). The list is one unpaged array
that may or may not include soft-deleted items ("deleted rows should not be shown in
lists"), so purposes the state records but the list leaves out are read by id. PUT is a
full replace (a field missing from the body is reset), so every write starts from the
item as the server has it now, read without `Accept-Language` so that multi-language
values (`US:"..";GE:".."`) the manifest does not manage are sent back whole; server-owned
fields are not echoed. Name and Key have unique indexes: two purposes of the manifests
may not share either (compared without regard to case), and a create that collides is
adopted (same identity) or refused with a message naming the holder. The tenant's host
moves: see `client.py`. The error body is undocumented and parsed leniently.

Choices where the vendor is silent:
- An empty string and an absent optional text are the same thing: both read as None
  (the server stores "" for a missing field, so "" can never be told apart).
- `Active` is any int on the wire and a bool in manifests: non-zero is true. A write
  that keeps a purpose active keeps the vendor's int (5 stays 5) instead of forcing 1.
- The natural key is `Key` when a purpose has one, else `Name`; identities are prefixed
  ("key:#Emarketing", "name:Newsletter") so that a name can never match a key.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from reconciler.errors import AmbiguousWriteError, AnswerError, ConflictError, VendorError
from reconciler.providers.base import (
    DeleteMode,
    Kind,
    Provider,
    ProviderSettings,
    RemoteObject,
    RemoteStatus,
    Schema,
    not_blank,
)
from reconciler.providers.http import VendorClient, json_body
from reconciler.providers.ids import IdShape, shown
from reconciler.providers.paths import under
from reconciler.providers.superoffice.client import TenantClient
from reconciler.providers.superoffice.settings import (
    VENDOR,
    SuperOfficeSettings,
    parse_error,
    vendor_message,
)

ITEMS = "/List/ConsentPurpose/Items"
MDO_ITEMS = "/List/ConsentPurpose/MDOItems"
ID_SHAPE = IdShape("a SuperOffice id (a positive int32)", high=2**31 - 1)
RANK_MAX = 65_535
"""Rank is an unsigned 16-bit column (database reference)."""
TEXT_MAX, KEY_MAX = 4000, 255
URL_PATTERN = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)

WIRE_NAMES: dict[str, str] = {
    "name": "Name", "key": "Key", "consent_text": "ConsentText", "form_text": "FormText",
    "tooltip": "Tooltip", "active": "Active", "rank": "Rank",
    "privacy_statement_desc": "PrivacyStatementDesc", "privacy_statement_url": "PrivacyStatementUrl",
}
"""Manifest field -> SuperOffice property."""
TEXT_FIELDS = tuple(f for f in WIRE_NAMES if f not in ("active", "rank"))
RESPONSE_ONLY = ("TableRight", "FieldProperties", "_Links", "UpdatedBy", "UpdatedDate")
"""Server-owned fields of an answer, never echoed in a PUT."""
UNIQUE = ("name", "key")
"""Fields with a unique index (database reference)."""
__all__ = ["ConsentPurposeKind", "SuperOfficeProvider", "SuperOfficeSettings", "parse_error",
           "remote", "to_wire", "vendor_message"]
"""What other modules and tests import from here."""


class ConsentPurpose(Schema):
    """A SuperOffice consent purpose: why a person's consent is asked (e-marketing, ...)."""

    name: str = Field(min_length=1, max_length=TEXT_MAX, description=(
        "Display name (SuperOffice `Name`, at most 4000 characters); unique in the tenant"))
    key: str | None = Field(None, max_length=KEY_MAX, description=(
        "Stable key such as #Emarketing or #Process (SuperOffice `Key`, at most 255 "
        "characters, unique in the tenant); it identifies an existing purpose to adopt. "
        "Without a key, the name does"))
    consent_text: str | None = Field(None, max_length=TEXT_MAX, description=(
        "Text of the consent checkbox (SuperOffice `ConsentText`, at most 4000 characters)"))
    form_text: str | None = Field(None, description=(
        "Long text of the consent form shown to the person (SuperOffice `FormText`)"))
    tooltip: str | None = Field(None, max_length=TEXT_MAX, description=(
        "List item tooltip (SuperOffice `Tooltip`, at most 4000 characters)"))
    active: bool = Field(True, description=(
        "Whether the purpose is in use (SuperOffice `Active`, an integer on the wire: "
        "0 is false, anything else true)"))
    rank: int | None = Field(None, ge=0, le=RANK_MAX, description=(
        "Sort order in lists (SuperOffice `Rank`, an unsigned 16-bit number: 0 to 65535)"))
    privacy_statement_desc: str | None = Field(None, max_length=TEXT_MAX, description=(
        "Name or description of the privacy statement (SuperOffice `PrivacyStatementDesc`, "
        "at most 4000 characters)"))
    privacy_statement_url: str | None = Field(None, max_length=TEXT_MAX, description=(
        "http(s) URL of the privacy statement (SuperOffice `PrivacyStatementUrl`, at most "
        "4000 characters)"))

    _name = field_validator("name")(not_blank)

    @field_validator("privacy_statement_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not URL_PATTERN.match(value):
            raise PydanticCustomError("url", "must be an http(s) URL such as "
                                             "https://example.com/privacy")
        return value


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


def remote(entity: dict[str, Any], kind: Kind | None = None) -> RemoteObject:
    """A wire entity in manifest terms, with its status (deleted wins over inactive); given
    the listing `kind`, sharing its record's dict when equal (Kind.remote)."""
    get = entity.get
    active = _active(get("Active", 1))
    rank = get("Rank")
    ordered: dict[str, Any] = {f: _text(get(w)) for f, w in WIRE_NAMES.items()}
    ordered["active"] = active  # (in place: the order stays WIRE_NAMES')
    ordered["rank"] = rank if isinstance(rank, int) and not isinstance(rank, bool) else None
    if get("Deleted") is True:
        status = RemoteStatus.DELETED
    elif not active:
        status = RemoteStatus.INACTIVE
    else:
        status = RemoteStatus.PRESENT
    remote_id = ID_SHAPE.require(VENDOR, get("ConsentPurposeId"), lambda: (
        f"the consent purpose with {_shown(identity_of(ordered))}"))
    if kind is not None:
        return kind.remote(remote_id, ordered, status)
    return RemoteObject(remote_id, ordered, status)


def identity_of(attributes: dict[str, Any]) -> str | None:
    return ConsentPurposeKind.identity(attributes)


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
    id_shape = ID_SHAPE
    unique_ignoring_case = ("name", "key")

    @classmethod
    def identity(cls, attributes: Mapping[str, Any]) -> str | None:
        """`key:<Key>` when the purpose has a key, else `name:<Name>`."""
        if key := _text(attributes.get("key")):
            return f"key:{key}"
        name = _text(attributes.get("name"))
        return None if name is None else f"name:{name}"

    @classmethod
    def check(cls, attributes: dict[str, Any], settings: ProviderSettings) -> list[str]:
        """Name and Key have unique indexes: a second purpose of the manifests with the same
        value (compared without regard to case) would fail at apply."""
        assert isinstance(settings, SuperOfficeSettings)
        identity = cls.identity(attributes)
        problems = []
        for field in UNIQUE:
            value = _text(attributes.get(field))
            if value is not None and (owner := settings.claim(field, value, identity)):
                problems.append(
                    f"{field} {value!r} is also declared by the purpose with {_shown(owner)}; "
                    f"SuperOffice keeps each {field} unique (compared here without regard to "
                    f"case): give each purpose its own {field}")
        return problems

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
        """The list, plus the purposes the state records that it leaves out (a list may
        hide soft-deleted rows), read by id so that they can be revived, not twinned."""
        listed = await self.client.get_array(ITEMS, lambda item: remote(item, self) if isinstance(
            item, dict) and item.get("ConsentPurposeId") is not None else None)
        seen = {o.remote_id for o in listed}
        missing = {rid for rid in self.recorded if rid not in seen}
        if not any(o.status is RemoteStatus.DELETED for o in listed) and self._may_hide_declared(listed):
            missing |= await self._hidden(seen)
        found = await asyncio.gather(*(self.read(rid) for rid in sorted(missing, key=_numeric)))
        return listed + [o for o in found if o is not None]

    def _may_hide_declared(self, listed: Iterable[RemoteObject]) -> bool:
        """Whether a soft-deleted purpose the list hides may be one the manifests declare: some
        declared purpose is neither listed nor recorded in the state (recorded ones are read
        by id). Always, when the caller did not say what is declared (drift, import)."""
        if self.declared is None:
            return True
        wanted = {self.identity(a) for a in self.declared}
        known = {self.identity(o.attributes) for o in listed}
        if not wanted <= known:
            known |= {self.identity(a) for a in self.recorded.values()}
        return not wanted <= known

    async def _hidden(self, seen: set[str]) -> set[str]:
        """Ids of soft-deleted purposes a list without deleted rows hides: the MDO list
        (`MDOItems?flat=true`) carries a `Deleted` flag for each item. Streamed item by item,
        as the list is: a tenant's whole MDO list is never held in memory."""
        def deleted(item: Any) -> str | None:
            ok = isinstance(item, dict) and item.get("Deleted") is True and item.get("Id") is not None
            if not ok:
                return None
            found = ID_SHAPE.require(VENDOR, item["Id"], "a deleted consent purpose of the MDO list")
            return found if found not in seen else None

        try:
            return set(await self.client.get_array(f"{MDO_ITEMS}?flat=true", deleted))
        except VendorError as exc:
            if exc.status == 404:  # a tenant without the MDO list: nothing more to find
                return set()
            raise

    async def lookup(self, identity: str) -> RemoteObject | None:
        """After an ambiguous create: prefer a live match, then the newest one."""
        matches = [o for o in await self.list() if self.identity(o.attributes) == identity]
        matches.sort(key=lambda o: (o.status is RemoteStatus.PRESENT, _numeric(o.remote_id)))
        return matches[-1] if matches else None

    async def read(self, remote_id: str) -> RemoteObject | None:
        entity = await self._get(remote_id)
        return None if entity is None else remote(entity)

    async def _get(self, remote_id: str, raw: bool = False) -> dict[str, Any] | None:
        """The item; `raw` reads it without Accept-Language, as a PUT must send it back."""
        client = self.raw if raw and self.raw is not None else self.client
        response = await client.request("GET", under(ITEMS, remote_id), ok=(200, 404))
        return None if response.status_code == 404 else _entity(response)

    raw: VendorClient | None = None
    """A client without Accept-Language (set by the provider), for the reads PUTs start from."""

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        """POST; a refusal (or a server error) while a purpose holds the name or key is
        adopted when it is the same purpose, and otherwise names the holder."""
        body = to_wire(attributes, set(WIRE_NAMES))
        try:
            response = await self.client.request("POST", ITEMS, json=body)
        except VendorError as exc:
            if exc.status is not None and exc.status not in (401, 403, 421, 429):
                await self._collision(attributes, exc)
            raise
        return remote(_entity(response))

    async def _collision(self, attributes: dict[str, Any], exc: VendorError) -> None:
        identity = self.identity(attributes)
        try:
            listed = await self.list()
        except VendorError:
            return  # the create's own error says more
        for other in listed:
            clash = next((f for f in UNIQUE if (value := _text(attributes.get(f))) and (
                _text(other.attributes.get(f)) or "").casefold() == value.casefold()), None)
            if clash is None:
                continue
            if self.identity(other.attributes) == identity:
                raise ConflictError(exc.vendor, exc.status, exc.code, exc.detail) from None
            raise VendorError(exc.vendor, exc.status, exc.code, (
                f"{exc.detail}; consent purpose {other.remote_id} ({other.status}, "
                f"{_shown(self.identity(other.attributes))}) already has {clash} "
                f"{other.attributes.get(clash)!r}, and SuperOffice keeps each {clash} unique: "
                f"declare that purpose to adopt it, or choose another {clash}")) from None
        if not isinstance(exc, AmbiguousWriteError):
            raise VendorError(exc.vendor, exc.status, exc.code, (
                f"{exc.detail} (no listed purpose holds this name or key; if a soft-deleted "
                "one does, which lists may not show, restore it in SuperOffice and run "
                "apply again, or choose another name and key)")) from None

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        """PUT replaces the whole item, so start from what the server has now (the applier's
        `current` holds only the diffed fields, normalised) and write over it only the changed
        fields: unmanaged and ignore_changes fields keep their remote values. An update means
        the purpose is declared, so it is never left soft-deleted (this is the revive)."""
        entity = await self._get(remote_id, raw=True)
        if entity is None:
            raise VendorError(VENDOR, 404, None, f"consent purpose {remote_id} no longer exists; "
                                                 "run plan again")
        body = to_wire(attributes, changed, entity)
        body["Deleted"] = False
        response = await self.client.request("PUT", under(ITEMS, remote_id), json=body)
        return remote(_entity(response))

    async def delete(self, remote_id: str, mode: DeleteMode,
                     current: RemoteObject | None) -> None:
        """DEACTIVATE: PUT the full item with Active 0; SOFT: DELETE (the vendor sets Deleted).
        An item that is already gone is a success."""
        if mode is DeleteMode.DEACTIVATE:
            entity = await self._get(remote_id, raw=True)
            if entity is not None:
                entity = {k: v for k, v in entity.items() if k not in RESPONSE_ONLY}
                answer = await self.client.request("PUT", under(ITEMS, remote_id),
                                                   json={**entity, "Active": 0})
                about(answer, remote_id)
            return
        about(await self.client.request("DELETE", under(ITEMS, remote_id), ok=(204, 200, 404)),
              remote_id)


def about(response: httpx.Response, remote_id: str) -> None:
    """A write answer carrying an entity must be about the purpose addressed."""
    if response.status_code != 200 or not response.content.strip():
        return
    try:
        entity = response.json()
    except ValueError:
        return
    if isinstance(entity, dict) and entity.get("ConsentPurposeId") is not None \
            and ID_SHAPE.read(entity["ConsentPurposeId"]) != remote_id:
        raise AnswerError(VENDOR, 200, None, (
            f"{response.request.method} {response.request.url.path}: the answer is about "
            f"consent purpose {shown(entity['ConsentPurposeId'])}, not {remote_id}; the "
            "vendor's answer is not believed"))


def _shown(identity: str | None) -> str:
    """`key:#A` -> "key '#A'"."""
    field, _, value = (identity or "name:?").partition(":")
    return f"{field} {value!r}"


def _numeric(remote_id: str) -> int:
    return int(remote_id) if remote_id.isdigit() else -1


class SuperOfficeProvider(Provider):
    name = VENDOR
    settings_model = SuperOfficeSettings
    kinds = (ConsentPurposeKind,)
    builtin_objects = ("#Process", "#Emarketing")  # every tenant ships these two purposes

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        assert isinstance(settings, SuperOfficeSettings)
        headers = {k: v for k, v in settings.headers().items() if k != "Accept-Language"}
        self.raw = tenant_client(settings, headers)
        kind = self.kind_objects[ConsentPurposeKind.name]
        assert isinstance(kind, ConsentPurposeKind)
        kind.raw = self.raw

    def make_client(self, settings: ProviderSettings) -> VendorClient:
        assert isinstance(settings, SuperOfficeSettings)
        return tenant_client(settings, settings.headers())

    async def aclose(self) -> None:
        await asyncio.gather(self.client.aclose(), self.raw.aclose())


def tenant_client(settings: SuperOfficeSettings, headers: dict[str, str]) -> TenantClient:
    return TenantClient(
        VENDOR, settings.base_url, headers, secrets=settings.secrets(),
        parse_error=parse_error(settings), concurrency=settings.concurrency,
        timeout_s=settings.timeout_s, max_attempts=settings.max_attempts,
        allow_insecure_http=settings.allow_insecure_http, state_api=settings.state_url())
