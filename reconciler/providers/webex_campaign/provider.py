"""Webex Campaign: purposes on the API hub and datastore records on the tenant host
(docs/vendors/webex_campaign.md). Notify Transaction State is in `notify.py`.

Two hosts, one key: purposes live on the API hub (`base_url`, .../v1), datastores and
notifications on the tenant (`tenant_url`, .../campaignapi/resources/v3). Both take the
same Bearer API secret key (`token`), so the provider holds one client per host.

Purposes (`webex_campaign.purpose.<key>`): GET /purposes (a bare array, no paging),
GET /purposes/{id}, POST /purposes, PUT /purposes/{id}. The documents disagree with each
other, so both forms are read and the documented form is written:
- ids are numbers in GETs and strings in POST/PUT answers: always strings here;
- `createdOn` (parameter table) / `createdDate` (GET example), `tenantName` and
  `imageUrl` are read-only: never kept, never diffed;
- `group` is absent from the GET list for the default group, and the vendor treats
  "Default" and "DEFAULT" as one group. A group is managed only when the manifest declares
  it, and then sent exactly as declared; an undeclared group is re-sent as the vendor has
  it (the update page says an omitted group means the default group). Groups compare
  without regard to case: an observed group is spelled as the manifests (or, failing that,
  the state) spell it, so "SALES" stored for a declared "Sales" is no change;
- `description`: a purpose created without one reads back as null. null and "" are the
  same here (both "" after normalise), because PUT leaves a null description unchanged
  while "" clears it. A description left out of the manifest is not managed: its remote
  value is kept (and re-sent on PUT, in case PUT replaces the whole purpose).
- names are compared exactly; after a 409 the name is looked up exactly (and adopted by
  the applier), then without regard to case, which fails with a clear message.
- a read by id may answer an object or a one-element array (the GET page's example);
  any 2xx is success; body codes 1001/1002 and 1101-1108 are definite whatever the status.
There is no delete API (405): removing a purpose from the manifests is refused at plan
time unless it is forgotten (`--forget ADDR`, or `forget_undeletable: true`).

Datastore records: see `datastore.py`. Tokens (static key or client credentials): see
`auth.py`.

Errors are `{"code", "description"}`; the tenant APIs also fail with HTTP 200 and a code
in the body (1010), so every answer's code is checked, whatever the HTTP status. Codes
are parsed leniently (int or string, missing fields, non-JSON bodies).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator

from reconciler.errors import AmbiguousWriteError, AnswerError, ConflictError, VendorError
from reconciler.perf import EMPTY
from reconciler.providers.base import (
    DeleteMode,
    Kind,
    Provider,
    ProviderSettings,
    RemoteObject,
    Schema,
    not_blank,
)
from reconciler.providers.http import VendorClient, json_body
from reconciler.providers.ids import IdShape, shown
from reconciler.providers.paths import under
from reconciler.providers.webex_campaign.client import (
    HINTS,
    VENDOR,
    _where,
    body_code,
    check_body,
    make_body_check,
    make_parser,
    parse_error,
    token_source,
    vendor_client,
)
from reconciler.providers.webex_campaign.datastore import (
    OK,
    DatastoreRecordsKind,
)
from reconciler.providers.webex_campaign.settings import WebexCampaignSettings

PURPOSES = "/purposes"
DEFAULT_GROUP = "DEFAULT"
__all__ = ["HINTS", "DatastoreRecordsKind", "PurposeKind", "WebexCampaignProvider",
           "WebexCampaignSettings", "body_code", "check_body", "make_body_check", "make_parser",
           "parse_error", "vendor_client"]
"""What other modules (notify, outcome, tests) import from here."""


def _json(response: httpx.Response, expect: type[dict[str, Any]] | type[list[Any]]) -> Any:
    return json_body(VENDOR, response, expect, _where(response))


# ---------------------------------------------------------------- purposes ----

class Purpose(Schema):
    """A Webex Campaign purpose: why a contact may be messaged (marketing, updates, ...)."""

    name: str = Field(min_length=1, description=(
        "Purpose name (Webex `name`); unique in the tenant, and the key that finds an "
        "existing purpose to adopt (exactly; a purpose whose name differs only in case is "
        "reported, not adopted)"))
    group: str | None = Field(None, min_length=1, description=(
        "Purpose group (Webex `group`); sent as written, compared without regard to case "
        "(DEFAULT is the vendor's default group). Left out, the purpose keeps its group"))
    description: str | None = Field(None, description=(
        "Purpose description (Webex `description`); left out, the remote one is kept"))

    _names = field_validator("name", "group")(not_blank)


def declared_groups(declared: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Group spellings the manifests use, by casefold: an observed group is spelled the same
    way, so that a vendor storing "SALES" for "Sales" shows no change (groups ignore case).
    Made per run from that run's manifests (Kind.declared), never kept across runs."""
    return {str(a["group"]).casefold(): str(a["group"]) for a in declared if a.get("group")}


def spelled(group: Any, recorded: Any = None, declared: Mapping[str, str] = EMPTY) -> str:
    """The observed group as the manifests spell it, else as the state does, else as read
    (a missing group is the default group)."""
    found = str(group or DEFAULT_GROUP)
    folded = found.casefold()
    if folded == DEFAULT_GROUP.casefold():
        found = DEFAULT_GROUP  # the list leaves the default group out; a read by id names it
    if folded in declared:
        return declared[folded]
    if isinstance(recorded, str) and recorded.casefold() == folded:
        return recorded
    return found


ID_SHAPE = IdShape("a Webex Campaign purpose id (a positive integer: a number in lists, a "
                   "string of digits in write answers)")


def _remote_purpose(item: dict[str, Any], known: Mapping[str, dict[str, Any]] = EMPTY,
                    groups: Mapping[str, str] = EMPTY, kind: Kind | None = None) -> RemoteObject:
    """`known`: what the state records (while listing), whose spelling of a group is kept;
    `groups`: the spellings the manifests declare (declared_groups); `kind`: the listing
    kind, whose record's dict an equal object shares (Kind.remote)."""
    remote_id = ID_SHAPE.require(VENDOR, item["id"], lambda: (
        f"the purpose named {shown(item.get('name'))}"))
    recorded = known.get(remote_id) or EMPTY
    description = item.get("description")
    attributes = {
        "name": item.get("name"),
        "group": spelled(item.get("group"), recorded.get("group"), groups),
        "description": "" if description is None else description}
    return kind.remote(remote_id, attributes) if kind is not None else RemoteObject(remote_id, attributes)


def _purpose_wire(attributes: dict[str, Any], remote: RemoteObject | None) -> dict[str, Any]:
    """The documented request body: name; group and description as declared, or as the
    vendor has them when the manifest leaves them out (PUT resets what it is not given)."""
    body = {"name": attributes["name"]}
    kept = remote.attributes if remote is not None else {}
    group = attributes.get("group") or kept.get("group")
    if group:
        body["group"] = group
    description = attributes.get("description")
    if description is None:
        description = kept.get("description") or None
    if description is not None:
        body["description"] = description
    return body


def _single(response: httpx.Response) -> dict[str, Any]:
    """A read by id: an object, or (as the GET page's example shows) a one-element array."""
    item: Any = _json(response, list if response.content.lstrip()[:1] == b"[" else dict)
    if isinstance(item, list):
        if len(item) != 1 or not isinstance(item[0], dict):
            raise VendorError(VENDOR, response.status_code, None, (
                f"{_where(response)}expected one purpose, got an array of {len(item)}"))
        item = item[0]
    return item  # type: ignore[no-any-return]


class PurposeKind(Kind):
    """Purposes: listed whole (no paging, no filter), adopted by exact name, never deleted."""

    vendor = VENDOR
    name = "purpose"
    collection = "purposes"
    schema = Purpose
    natural_key = "name"
    read_only: ClassVar[tuple[str, ...]] = (
        "id", "tenantName", "createdOn", "createdDate", "imageUrl")
    delete_modes = (DeleteMode.UNSUPPORTED,)
    unique_natural_key = True
    id_shape = ID_SHAPE

    @classmethod
    def same_value(cls, field: str, recorded: Any, observed: Any) -> bool:
        """Groups ignore case (see the module): "Sales" recorded for "SALES" is no difference."""
        if field == "group" and isinstance(recorded, str) and isinstance(observed, str):
            return recorded.casefold() == observed.casefold()
        return bool(recorded == observed)

    @classmethod
    def normalise(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        """A null description is "" (see the module)."""
        out = dict(attributes)
        if "description" in out and out["description"] is None:
            out["description"] = ""
        return out

    @functools.cached_property
    def groups(self) -> Mapping[str, str]:
        """Once per run: `declared` is set when the providers connect, before any call."""
        return declared_groups(self.declared or ())

    async def list(self) -> list[RemoteObject]:
        groups = self.groups
        return await self.client.get_array(PURPOSES, lambda item: _remote_purpose(
            item, self.recorded, groups, self)
            if isinstance(item, dict) and item.get("id") is not None else None)

    async def read(self, remote_id: str) -> RemoteObject | None:
        response = await self.client.request("GET", under(PURPOSES, remote_id), ok=(*OK, 404))
        if response.status_code == 404:
            return None
        return _remote_purpose({**_single(response), "id": remote_id}, groups=self.groups)

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        """POST; a 409 (the name is taken) is a ConflictError, so the applier adopts by exact
        name; a name taken in another case is a clear error instead."""
        body = _purpose_wire(attributes, None)
        try:
            response = await self.client.request("POST", PURPOSES, json=body, ok=OK)
        except VendorError as exc:
            if exc.status == 409 or exc.code == "409":
                await self._conflict(body["name"], exc)
            raise
        saved: dict[str, Any] = _json(response, dict)
        if saved.get("id") is None:
            # Created or not, we cannot tell which id: the applier looks it up by name.
            raise AmbiguousWriteError(VENDOR, response.status_code, None, (
                f"{_where(response)}the answer has no id"))
        return _remote_purpose({**body, "name": saved.get("name") or body["name"],
                                "id": saved["id"]}, groups=self.groups)

    async def _conflict(self, name: str, exc: VendorError) -> None:
        """Exact match: the applier adopts it. A match in another case: say which."""
        purposes = await self.list()
        if any(p.attributes.get("name") == name for p in purposes):
            raise ConflictError(exc.vendor, exc.status, exc.code, exc.detail) from None
        twin = next((p for p in purposes
                     if str(p.attributes.get("name") or "").casefold() == name.casefold()), None)
        if twin is not None:
            raise VendorError(exc.vendor, exc.status, exc.code, (
                f"{exc.detail}; Webex Campaign compares purpose names without regard to case, "
                f"and purpose {twin.remote_id} is named {twin.attributes.get('name')!r}: "
                f"declare that exact name to adopt it, or choose another name")) from None

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        """PUT the whole purpose: name is mandatory; a group or description the manifest
        leaves out is re-sent as the server has it (an omitted group means the default)."""
        now = None
        if attributes.get("group") is None or attributes.get("description") is None:
            now = await self.read(remote_id)
            if now is None:
                raise VendorError(VENDOR, 404, "404", f"purpose {remote_id} no longer exists in "
                                                      "Webex Campaign; run plan again")
        body = _purpose_wire(attributes, now)
        response = await self.client.request("PUT", under(PURPOSES, remote_id), json=body, ok=OK)
        saved: dict[str, Any] = _json(response, dict)
        if saved.get("id") is not None and ID_SHAPE.read(saved["id"]) != remote_id:
            raise AnswerError(VENDOR, response.status_code, None, (
                f"{_where(response)}the answer is about purpose {shown(saved['id'])}, not "
                f"{remote_id}; the vendor's answer is not believed"))
        return _remote_purpose({**body, "id": remote_id}, groups=self.groups)


class WebexCampaignProvider(Provider):
    """Purposes go through the hub client, datastore records through the tenant client."""

    name = VENDOR
    settings_model = WebexCampaignSettings
    kinds = (PurposeKind, DatastoreRecordsKind)

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        assert isinstance(settings, WebexCampaignSettings)
        self.tenant_client = vendor_client(settings, settings.tenant_url, tokens=self.tokens)
        self.tenant_client.bound(settings.request_deadline_s, settings.max_retry_wait_s,
                                 settings.max_response_mb, settings.max_list_items)
        metadata = None if settings.datastore_metadata is None else vendor_client(
            settings, settings.datastore_metadata, tokens=self.tokens)
        self.metadata_client = metadata
        self.kind_objects[DatastoreRecordsKind.name] = DatastoreRecordsKind(
            self.tenant_client, settings, metadata)

    def make_client(self, settings: ProviderSettings) -> VendorClient:
        """The hub client; one token source serves the hub and the tenant (minted once)."""
        assert isinstance(settings, WebexCampaignSettings)
        self.tokens = token_source(settings)
        return vendor_client(settings, settings.base_url, tokens=self.tokens)

    async def aclose(self) -> None:
        await asyncio.gather(self.client.aclose(), self.tenant_client.aclose(),
                             *([self.metadata_client.aclose()] if self.metadata_client else []))
